"""The backend ops of Keras 3's compiled metrics (gpudnn.metrics): sums and confusion counts
added on the device into float64 accumulators, which the host reads at progress updates and
epoch ends only. A mixin of :class:`~gpudnn.backend.base.Backend`.

Shared conventions: y_pred p and y_true y are (n, k) C-contiguous arrays of one float dtype T;
``weights`` is None (every row counts 1) or the (n, 1) per-sample weights w of dtype T (Keras's
``sample_weight``, for ``weighted_metrics``); a weighted row adds w_i where an unweighted one
adds 1. Comparisons run in T (as Keras runs them in the metric's float32); sums in float64.
Every op only adds to its accumulator, writes nothing else and returns nothing, so it can be
recorded and replayed (captured in a CUDA graph). Host values (thresholds, k, flags) are fixed
for the life of a recorded step. The kernels are in ``kernels/metrics.cu``; the NumPy reference
in :mod:`~gpudnn.backend.numpy_metrics`.
"""

from abc import abstractmethod

import numpy as np

#: Most threads a row kernel of kernels/metrics.cu runs: each walks rows i, i + threads, ...
#: and adds its share with one atomic per value (as softmax_cce_step).
METRIC_THREADS = 512


def metric_threads(n):
    """The thread count of a row kernel over n rows (at least 1)."""
    return max(1, min(int(n), METRIC_THREADS))


def flag(value):
    """A kernel's int32 switch: 1 when ``value`` is true, else 0."""
    return 1 if value else 0


class MetricOps:
    """Mixin of Backend: the metric accumulators (see the module docstring)."""

    def _metric_constants(self, values, dtype):
        """The backend array of the floats ``values`` in ``dtype`` (thresholds, label weights)
        that a kernel reads: made once per value set and dtype and kept, so that a recorded
        step (or a captured graph) reads the same array at every replay."""
        cache = self.__dict__.setdefault("_metric_constant_cache", {})
        key = (tuple(float(v) for v in values), np.dtype(dtype))
        array = cache.get(key)
        if array is None:
            array = cache[key] = self.from_host(np.asarray(key[0], dtype=dtype))
        return array

    @abstractmethod
    def accumulate_matches(self, y_pred, y_true, total, threshold=None, weights=None):
        """Keras's ``Accuracy`` (``threshold=None``: an element matches when ``y == p``) and
        ``BinaryAccuracy`` (an element matches when ``y == (p > threshold ? 1 : 0)``, threshold
        cast to T): ``total += sum_i w_i * (matching elements of row i)``; total 0-d float64.
        The metric is ``total / (k * sum_i w_i)``: each sample's mean over its k outputs,
        averaged over the samples with their weights."""

    @abstractmethod
    def accumulate_top_k(self, y_pred, y_true, k, total, weights=None):
        """Keras's ``TopKCategoricalAccuracy(k)`` (``ops.in_top_k`` of ``argmax y_i``): row i,
        whose target c is the first argmax of y_i, is a hit when fewer than k entries of p_i are
        strictly greater than p_ic (ties are in the top k); a NaN p_ic is never a hit.
        ``total += sum_i w_i [hit_i]``; total 0-d float64."""

    @abstractmethod
    def accumulate_errors(self, y_pred, y_true, squared, total, weights=None):
        """Keras's ``MeanSquaredError`` (``squared``) / ``MeanAbsoluteError`` metrics: with
        ``d = p - y`` in T, ``total += sum_i w_i sum_j (d_ij^2 or |d_ij|)`` (row sums in
        float64); the metric is ``total / (k * sum_i w_i)``."""

    @abstractmethod
    def accumulate_confusion(self, y_pred, y_true, thresholds, counts, weights=None,
                             class_id=None, top_k=None, label_weights=None, from_logits=False):
        """Keras's confusion counts (``metrics_utils.update_confusion_matrix_variables``) at
        the m host floats ``thresholds`` (cast to T): ``counts`` (4, m) float64 += true
        positives, false positives, true negatives and false negatives.

        Element (i, j) has a positive label when ``y_ij != 0`` and is predicted positive at
        threshold t when ``v_ij > thresholds[t]``, where v = p, or ``sigmoid(p) = 0.5 tanh(p /
        2) + 0.5`` with ``from_logits``; with ``top_k`` only when p_ij is among the top_k of
        row i (rank = entries greater, plus equal ones at lower columns: Keras's top-k filter,
        ties to the lower index). ``class_id``: only column class_id counts. Each element adds
        ``w_i`` (times ``label_weights[j]`` when given, a host sequence of k floats) to its
        cell at every threshold."""

    @abstractmethod
    def accumulate_class_counts(self, y_pred, y_true, threshold, counts, weights=None):
        """Keras's ``FBetaScore`` counts of each class (column) j: ``counts`` (4, k) float64
        += ``TP_j = sum_i w_i d_ij y_ij``, ``FP_j = sum_i w_i d_ij (1 - y_ij)``, ``FN_j =
        sum_i w_i (1 - d_ij) y_ij`` and the support ``S_j = sum_i w_i y_ij`` (labels as
        numbers, ``1 - y`` in T), where the decision ``d_ij`` is ``p_ij > threshold`` (a host
        float cast to T), or with ``threshold`` None ``p_ij >= max_l p_il and |p_ij| > 1e-9``
        (every tied column counts, an all-zero or NaN-holding row none)."""

    @abstractmethod
    def accumulate_buckets(self, y_pred, y_true, counts, weights=None, multi_label=False,
                           label_weights=None, from_logits=False):
        """Keras's bucketed confusion counts for N evenly spaced thresholds ``[-eps, 1/(N-1),
        ..., (N-2)/(N-1), 1 + eps]`` (AUC; ``_update_confusion_matrix_variables_optimized``):
        ``counts`` is (2, L, N + 1) float64, L = k with ``multi_label`` (one curve per column)
        else 1. With ``q = clip(p, 0, 1)`` (p = sigmoid(p) first with ``from_logits``), element
        (i, j) falls in bucket ``b = max(ceil(q (N - 1)) - 1, 0)`` (computed in T), or N when q
        is NaN, and adds ``w_i`` (times ``label_weights[j]``) to ``counts[0, l, b]`` when
        ``y_ij != 0``, else to ``counts[1, l, b]``, l = j with multi_label else 0.

        Then ``TP[t] = sum_{t <= b < N} counts[0, l, b]``, FP likewise from counts[1], and FN,
        TN are the totals minus those (see gpudnn.metrics.AUC)."""
