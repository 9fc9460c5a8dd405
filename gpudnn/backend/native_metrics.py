"""The compiled CPU backend's metric accumulators: the kernels of ``kernels/metrics.cu``
compiled for the host (:mod:`~gpudnn.backend.host_kernels`), called as the CuPy backend launches
them (the row kernels with ``threads = min(n, METRIC_THREADS)``). A mixin of
:class:`~gpudnn.backend.native_backend.CompiledCpuBackend`; a call the kernels cannot take
(arrays not C-contiguous, dtypes that differ, float16) is done by the NumPy reference,
:class:`~gpudnn.backend.numpy_metrics.NumpyMetrics`.
"""

import numpy as np

from .base import check_weights
from .metrics_ops import flag, metric_threads

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class NativeMetrics:
    """Mixin of CompiledCpuBackend: the metric ops through the compiled kernels."""

    def _metric_site(self, kernel, y_pred, y_true, weights, out, constants=()):
        """``(fn, p, y, w, constants..., out)`` pointers of ``kernel`` for the T arrays y_pred,
        y_true, the (n, 1) weights (checked; y_pred, never read, when unweighted) and the
        host ``constants``, and the float64 accumulator ``out``, cached under their ids; None
        when NumPy must do the op."""
        w = y_pred if weights is None else check_weights(weights, y_pred)
        inputs = (y_pred, y_true, w) + constants
        key = ("metric", kernel) + tuple(map(id, inputs)) + (id(out),)
        return self._cached(key, inputs + (out,), self._bind_metric, kernel, inputs, out)

    def _bind_metric(self, kernel, inputs, out):
        p = inputs[0]
        if not isinstance(p, np.ndarray) or p.ndim != 2 or \
                getattr(inputs[1], "shape", None) != p.shape:
            return None
        site = self._site(kernel, inputs, 0)  # T arrays, C-contiguous, none partly overlapping
        if site is None or not (isinstance(out, np.ndarray) and out.dtype == np.float64
                                and out.flags.c_contiguous and out.flags.writeable):
            return None
        start, end = out.ctypes.data, out.ctypes.data + out.nbytes
        if any(a.ctypes.data < end and start < a.ctypes.data + a.nbytes for a in inputs):
            return None
        return (site[0],) + site[2:] + (start,)

    def accumulate_matches(self, y_pred, y_true, total, threshold=None, weights=None):
        site = self._metric_site("add_matches", y_pred, y_true, weights, total)
        if site is None:
            return super().accumulate_matches(y_pred, y_true, total, threshold, weights)
        fn, pp, py, pw, po = site[:5]
        n, k = y_pred.shape
        threads = metric_threads(n)
        fn(threads, pp, py, pw, 0.5 if threshold is None else threshold, k, n, threads,
           flag(threshold is not None), flag(weights is not None), po)

    def accumulate_top_k(self, y_pred, y_true, k, total, weights=None):
        site = self._metric_site("add_top_k_hits", y_pred, y_true, weights, total)
        if site is None:
            return super().accumulate_top_k(y_pred, y_true, k, total, weights)
        fn, pp, py, pw, po = site[:5]
        n, cols = y_pred.shape
        threads = metric_threads(n)
        fn(threads, pp, py, pw, cols, int(k), n, threads, flag(weights is not None), po)

    def accumulate_errors(self, y_pred, y_true, squared, total, weights=None):
        site = self._metric_site("add_error_sums", y_pred, y_true, weights, total)
        if site is None:
            return super().accumulate_errors(y_pred, y_true, squared, total, weights)
        fn, pp, py, pw, po = site[:5]
        n, k = y_pred.shape
        threads = metric_threads(n)
        fn(threads, pp, py, pw, k, n, threads, flag(squared), flag(weights is not None), po)

    def accumulate_confusion(self, y_pred, y_true, thresholds, counts, weights=None,
                             class_id=None, top_k=None, label_weights=None, from_logits=False):
        dtype = getattr(y_pred, "dtype", None)
        site = None
        if dtype in _FLOATS:
            thr = self._metric_constants(thresholds, dtype)
            lw = y_pred if label_weights is None else self._metric_constants(label_weights, dtype)
            site = self._metric_site("add_confusion", y_pred, y_true, weights, counts, (lw, thr))
        if site is None:
            return super().accumulate_confusion(y_pred, y_true, thresholds, counts, weights,
                                                class_id, top_k, label_weights, from_logits)
        fn, pp, py, pw, plw, pthr, po = site[:7]
        n, k = y_pred.shape
        threads = metric_threads(n)
        first, width = (0, k) if class_id is None else (int(class_id), 1)
        fn(threads, pp, py, pw, plw, pthr, k, len(thresholds), first, width, int(top_k or 0), n,
           threads, flag(weights is not None), flag(label_weights is not None),
           flag(from_logits), po)

    def accumulate_class_counts(self, y_pred, y_true, threshold, counts, weights=None):
        dtype = getattr(y_pred, "dtype", None)
        site = None
        if dtype in _FLOATS:
            site = self._metric_site("add_class_counts", y_pred, y_true, weights, counts, ())
        if site is None:
            return super().accumulate_class_counts(y_pred, y_true, threshold, counts, weights)
        fn, pp, py, pw, po = site[:5]
        n, k = y_pred.shape
        threads = metric_threads(n)
        fn(threads, pp, py, pw, 0.0 if threshold is None else float(threshold), k, n, threads,
           flag(weights is not None), flag(threshold is None), po)

    def accumulate_buckets(self, y_pred, y_true, counts, weights=None, multi_label=False,
                           label_weights=None, from_logits=False):
        dtype = getattr(y_pred, "dtype", None)
        site = None
        if dtype in _FLOATS:
            lw = y_pred if label_weights is None else self._metric_constants(label_weights, dtype)
            site = self._metric_site("add_buckets", y_pred, y_true, weights, counts, (lw,))
        if site is None:
            return super().accumulate_buckets(y_pred, y_true, counts, weights, multi_label,
                                              label_weights, from_logits)
        fn, pp, py, pw, plw, po = site[:6]
        n, k = y_pred.shape
        fn(n * k, pp, py, pw, plw, k, counts.shape[2] - 1, counts.shape[1],
           flag(weights is not None), flag(label_weights is not None), flag(from_logits), po)
