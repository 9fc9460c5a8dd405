"""The CuPy backend's metric accumulators: one launch of a ``kernels/metrics.cu`` kernel each
(see :class:`~gpudnn.backend.metrics_ops.MetricOps` for the math and shapes), adding into the
float64 device accumulators with atomics. Unweighted launches pass y_pred where the weights go
(never read). The thresholds and label weights are device arrays made once per value set and
dtype and kept by the backend, so a recorded step or a captured graph reads the same array at
every replay. A mixin of :class:`~gpudnn.backend.cupy_backend.CupyBackend`."""

from .base import check_weights
from .metrics_ops import flag, metric_threads


class CupyMetrics:
    """Mixin of CupyBackend: the metric ops, each one kernel launch."""

    def _metric_weights(self, weights, y_pred):
        """The weights seen flat, or y_pred flat (never read) when unweighted."""
        if weights is None:
            return y_pred.reshape(-1)
        return check_weights(weights, y_pred).reshape(-1)

    def _metric_launch_args(self, y_pred, weights):
        """``(n, k, threads, w)`` of a metric kernel over y_pred (n, k): its rows, columns,
        thread count and flat weights (``_metric_weights``)."""
        n, k = y_pred.shape
        return n, k, metric_threads(n), self._metric_weights(weights, y_pred)

    def accumulate_matches(self, y_pred, y_true, total, threshold=None, weights=None):
        n, k, threads, w = self._metric_launch_args(y_pred, weights)
        with self._device:
            self._launch("add_matches", y_pred.reshape(-1), y_true.reshape(-1), w,
                         0.5 if threshold is None else float(threshold), k, n, threads,
                         flag(threshold is not None), flag(weights is not None),
                         total.reshape(1), size=threads)

    def accumulate_top_k(self, y_pred, y_true, k, total, weights=None):
        n, cols, threads, w = self._metric_launch_args(y_pred, weights)
        with self._device:
            self._launch("add_top_k_hits", y_pred.reshape(-1), y_true.reshape(-1), w, cols,
                         int(k), n, threads, flag(weights is not None), total.reshape(1),
                         size=threads)

    def accumulate_errors(self, y_pred, y_true, squared, total, weights=None):
        n, k, threads, w = self._metric_launch_args(y_pred, weights)
        with self._device:
            self._launch("add_error_sums", y_pred.reshape(-1), y_true.reshape(-1), w, k, n,
                         threads, flag(squared), flag(weights is not None), total.reshape(1),
                         size=threads)

    def accumulate_confusion(self, y_pred, y_true, thresholds, counts, weights=None,
                             class_id=None, top_k=None, label_weights=None, from_logits=False):
        n, k, threads, w = self._metric_launch_args(y_pred, weights)
        first, width = (0, k) if class_id is None else (int(class_id), 1)
        with self._device:
            thr = self._metric_constants(thresholds, y_pred.dtype)
            lw = y_pred.reshape(-1) if label_weights is None else \
                self._metric_constants(label_weights, y_pred.dtype)
            self._launch("add_confusion", y_pred.reshape(-1), y_true.reshape(-1), w, lw, thr, k,
                         len(thresholds), first, width, int(top_k or 0), n, threads,
                         flag(weights is not None), flag(label_weights is not None),
                         flag(from_logits), counts.reshape(-1), size=threads)

    def accumulate_class_counts(self, y_pred, y_true, threshold, counts, weights=None):
        n, k, threads, w = self._metric_launch_args(y_pred, weights)
        with self._device:
            self._launch("add_class_counts", y_pred.reshape(-1), y_true.reshape(-1), w,
                         0.0 if threshold is None else float(threshold), k, n, threads,
                         flag(weights is not None), flag(threshold is None),
                         counts.reshape(-1), size=threads)

    def accumulate_buckets(self, y_pred, y_true, counts, weights=None, multi_label=False,
                           label_weights=None, from_logits=False):
        n, k = y_pred.shape
        w = self._metric_weights(weights, y_pred)
        with self._device:
            lw = y_pred.reshape(-1) if label_weights is None else \
                self._metric_constants(label_weights, y_pred.dtype)
            self._launch("add_buckets", y_pred.reshape(-1), y_true.reshape(-1), w, lw, k,
                         counts.shape[2] - 1, counts.shape[1], flag(weights is not None),
                         flag(label_weights is not None), flag(from_logits),
                         counts.reshape(-1))
