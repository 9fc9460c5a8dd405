"""The NumPy backend's metric accumulators: the reference of ``kernels/metrics.cu`` (see
:class:`~gpudnn.backend.metrics_ops.MetricOps` for the math and shapes). A mixin of
:class:`~gpudnn.backend.numpy_backend.NumpyBackend`, and what the standalone metric objects of
gpudnn.metrics run on host arrays.

Comparisons are the kernels', in T; the sums are float64 in NumPy's order, so counts agree with
the kernels exactly and weighted sums to rounding."""

import numpy as np

from .base import check_weights


def _row_weights(weights, y_pred):
    """The n weights as float64 (n,), or None."""
    if weights is None:
        return None
    return check_weights(weights, y_pred)[:, 0].astype(np.float64)


def _add_rows(total, per_row, w):
    """``total += sum_i w_i per_row_i`` (per_row (n,) of any number type), in float64."""
    per_row = per_row.astype(np.float64, copy=False)
    total += per_row.sum() if w is None else np.dot(per_row, w)


def _sigmoid(p):
    """``0.5 tanh(p / 2) + 0.5`` in p's dtype, as the kernels compute it."""
    half = p.dtype.type(0.5)
    return half * np.tanh(half * p) + half


def top_k_mask(p, top_k):
    """(n, k) bool: entry (i, j) is among the top_k of row i, ties to the lower column (the
    rank of p_ij is the number of greater entries plus equal entries at lower columns)."""
    k = p.shape[1]
    greater = p[:, None, :] > p[:, :, None]  # [i, j, l]: p_il > p_ij
    equal_before = (p[:, None, :] == p[:, :, None]) & np.tri(k, k, -1, dtype=bool)[None]
    return (greater.sum(axis=2) + equal_before.sum(axis=2)) < top_k


class NumpyMetrics:
    """Mixin of NumpyBackend: the metric accumulators."""

    def accumulate_matches(self, y_pred, y_true, total, threshold=None, weights=None):
        w = _row_weights(weights, y_pred)
        if threshold is None:
            q = y_pred
        else:
            q = self._scratch(y_pred.shape, y_pred.dtype, slot="metric-q")
            np.greater(y_pred, y_pred.dtype.type(threshold), out=q)  # 1 or 0 in T
        hits = self._scratch(y_pred.shape, np.bool_, slot="metric-hits")
        np.equal(y_true, q, out=hits)
        _add_rows(total, np.count_nonzero(hits, axis=1), w)

    def accumulate_top_k(self, y_pred, y_true, k, total, weights=None):
        w = _row_weights(weights, y_pred)
        n = y_pred.shape[0]
        target = y_pred[np.arange(n), np.argmax(y_true, axis=1)]
        greater = np.count_nonzero(y_pred > target[:, None], axis=1)
        _add_rows(total, (greater < k) & (target == target), w)

    def accumulate_errors(self, y_pred, y_true, squared, total, weights=None):
        w = _row_weights(weights, y_pred)
        d = self._scratch(y_pred.shape, y_pred.dtype, slot="metric-d")
        np.subtract(y_pred, y_true, out=d)
        if squared:
            np.multiply(d, d, out=d)
        else:
            np.abs(d, out=d)
        _add_rows(total, np.sum(d, axis=1, dtype=np.float64), w)

    def accumulate_confusion(self, y_pred, y_true, thresholds, counts, weights=None,
                             class_id=None, top_k=None, label_weights=None, from_logits=False):
        w = _row_weights(weights, y_pred)
        dtype = y_pred.dtype
        v = _sigmoid(y_pred) if from_logits else y_pred
        inside = top_k_mask(y_pred, top_k) if top_k else None
        cell = np.ones(y_pred.shape) if w is None else np.repeat(w[:, None], y_pred.shape[1], 1)
        if label_weights is not None:
            cell = cell * np.asarray(label_weights, np.float64)[None, :]
        label = y_true != 0
        if class_id is not None:
            cols = slice(class_id, class_id + 1)
            v, cell, label = v[:, cols], cell[:, cols], label[:, cols]
            inside = None if inside is None else inside[:, cols]
        for t, threshold in enumerate(thresholds):
            positive = v > dtype.type(threshold)
            if inside is not None:
                positive &= inside
            counts[0, t] += cell[label & positive].sum()
            counts[1, t] += cell[~label & positive].sum()
            counts[2, t] += cell[~label & ~positive].sum()
            counts[3, t] += cell[label & ~positive].sum()

    def accumulate_class_counts(self, y_pred, y_true, threshold, counts, weights=None):
        w = _row_weights(weights, y_pred)
        dtype = y_pred.dtype.type
        if threshold is None:
            with np.errstate(invalid="ignore"):
                top = np.max(y_pred, axis=1, keepdims=True)  # NaN when the row holds one
                decided = (y_pred >= top) & (np.abs(y_pred) > dtype(1e-9))
        else:
            decided = y_pred > dtype(threshold)
        d = decided.astype(np.float64)
        positive = y_true.astype(np.float64)
        negative = (dtype(1) - y_true).astype(np.float64)
        rows = np.ones((y_pred.shape[0], 1)) if w is None else w[:, None]
        counts[0] += (rows * (d * positive)).sum(axis=0)
        counts[1] += (rows * (d * negative)).sum(axis=0)
        counts[2] += (rows * ((1.0 - d) * positive)).sum(axis=0)
        counts[3] += (rows * positive).sum(axis=0)

    def accumulate_buckets(self, y_pred, y_true, counts, weights=None, multi_label=False,
                           label_weights=None, from_logits=False):
        w = _row_weights(weights, y_pred)
        n, k = y_pred.shape
        buckets = counts.shape[2] - 1
        dtype = y_pred.dtype
        q = _sigmoid(y_pred) if from_logits else y_pred
        q = np.clip(q, dtype.type(0), dtype.type(1))  # NaN stays NaN
        with np.errstate(invalid="ignore"):
            up = np.ceil(q * dtype.type(buckets - 1))
        nan = np.isnan(q)
        b = np.maximum(np.where(nan, 1, up).astype(np.int64) - 1, 0)
        b[nan] = buckets
        cell = np.ones((n, k)) if w is None else np.repeat(w[:, None], k, 1)
        if label_weights is not None:
            cell = cell * np.asarray(label_weights, np.float64)[None, :]
        negative = (y_true == 0).astype(np.int64)
        label = np.broadcast_to(np.arange(k) if multi_label else np.zeros(k, np.int64), (n, k))
        np.add.at(counts, (negative, label, b), cell)
