"""The CuPy backend's losses and metrics: loss values, sums and gradients, the one-launch
softmax + cross-entropy step, weight penalties and correct counts, each a kernel of
``kernels/losses.cu`` (see :class:`~gpudnn.backend.base.Backend` for the math and shapes).
With per-sample weights (``weights=`` (n, 1)) each op launches its kernel's weighted twin
``NAME_w`` instead (the weights, flat, after y; the row length k last among the in-params):
as many launches as unweighted. A mixin of :class:`~gpudnn.backend.cupy_backend.CupyBackend`."""

import cupy
import numpy as np

from ..errors import InvalidInputError
from .base import EPSILON, check_weights, smoothing_terms

#: Elements one thread of add_chunk_sums adds up (a loss of n x k terms: n k / 256 threads).
SUM_CHUNK = 256

#: Most threads softmax_cce_step runs. Each adds its rows' loss and hit count with one atomic
#: per total: a batch of up to this many rows takes a row per thread, a larger one several rows
#: per thread, so that no total queues thousands of atomics.
CCE_STEP_THREADS = 512


def _flat_weights(weights, y_pred):
    """None, or the checked weights seen flat (n,): a raw kernel argument."""
    return None if weights is None else check_weights(weights, y_pred).reshape(-1)


class CupyLosses:
    """Mixin of CupyBackend: the loss and metric ops."""

    # ----------------------------------------------------------------- losses and metrics
    def _loss_terms(self, kind, y_pred, y_true, smoothing, w=None):
        """``(terms, scale)``: the batch's mean loss is ``scale * sum(terms)``; terms (n, k).
        With ``w`` (the n weights, flat): the weighted terms, ``scale * n * sum(terms) =
        sum_i w_i L_i``."""
        n, k = y_pred.shape
        keep, shift = smoothing_terms(kind, smoothing, k)
        clip = (EPSILON, 1 - EPSILON)
        terms = self._scratch(y_pred.shape, y_pred.dtype)
        suffix, w_, k_ = ("_terms", (), ()) if w is None else ("_terms_w", (w,), (k,))
        if kind in ("mse", "mae", "log_cosh"):
            self._launch(kind + suffix, y_pred, y_true, *w_, *k_, terms)
            return terms, 1.0 / y_pred.size
        if kind == "huber":  # smoothing is its delta
            self._launch("huber" + suffix, y_pred, y_true, *w_, float(smoothing), *k_, terms)
            return terms, 1.0 / y_pred.size
        if kind in ("kld", "poisson", "mape", "msle"):
            self._launch(kind + suffix, y_pred, y_true, *w_, EPSILON, *k_, terms)
            return terms, 1.0 / (n if kind == "kld" else y_pred.size)
        if kind in ("hinge", "squared_hinge"):
            self._launch(kind + suffix, y_pred, y_true, *w_, *k_, terms)
            return terms, 1.0 / y_pred.size
        if kind == "cce":
            self._launch("cce" + suffix, y_pred, y_true, *w_, keep, shift, *clip, *k_, terms)
            return terms, -1.0 / n
        if kind == "bce":
            self._launch("bce" + suffix, y_pred, y_true, *w_, keep, shift, *clip, *k_, terms)
            return terms, -1.0 / y_pred.size
        if kind == "bce_logits":
            self._launch("bce_logits" + suffix, y_pred, y_true, *w_, keep, shift, *k_, terms)
            return terms, 1.0 / y_pred.size
        if kind == "cce_logits":
            self._launch("cce_logits" + suffix, y_pred.reshape(-1), y_true.reshape(-1), *w_,
                         keep, shift, k, terms.reshape(-1), size=n)
            return terms, 1.0 / n
        raise InvalidInputError(f"unknown loss kind {kind!r}")

    def loss_value(self, kind, y_pred, y_true, smoothing=0.0):
        with self._device:
            terms, scale = self._loss_terms(kind, y_pred, y_true, smoothing)
            return self._reduce_sum(terms, scale)

    def _add_sum(self, terms, scale, total):
        """``total += scale * sum(terms)`` in one launch (see add_chunk_sums)."""
        threads = -(-terms.size // SUM_CHUNK)
        self._launch("add_chunk_sums", terms.reshape(-1), terms.size, threads, float(scale),
                     total.reshape(1), size=threads)

    def accumulate_sum(self, a, total):
        with self._device:
            self._add_sum(a, 1.0, total)

    def accumulate_loss(self, kind, y_pred, y_true, total, smoothing=0.0, weights=None):
        w = _flat_weights(weights, y_pred)
        with self._device:
            terms, scale = self._loss_terms(kind, y_pred, y_true, smoothing, w)
            self._add_sum(terms, scale * y_pred.shape[0], total)

    def accumulate_penalty(self, param, l1, l2, n, total):
        with self._device:
            terms = self._scratch(param.shape, param.dtype, slot="penalty")
            self._launch("penalty_terms", param, l1, l2, terms)
            self._add_sum(terms, n, total)

    def accumulate_correct(self, y_pred, y_true, mode, total, weights=None):
        if mode not in ("categorical", "binary"):
            raise InvalidInputError(f"unknown accuracy mode {mode!r}")
        w = _flat_weights(weights, y_pred)
        n, k = y_pred.shape
        kernel = "add_argmax_hits" if mode == "categorical" else "add_threshold_hits"
        with self._device:
            if w is None:
                self._launch(kernel, y_pred.reshape(-1), y_true.reshape(-1), k,
                             total.reshape(1), size=n)
            else:
                self._launch(kernel + "_w", y_pred.reshape(-1), y_true.reshape(-1), w, k,
                             total.reshape(1), size=n)

    def loss_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        n, k = y_pred.shape
        keep, shift = smoothing_terms(kind, smoothing, k)
        clip = (EPSILON, 1 - EPSILON)
        w = _flat_weights(weights, y_pred)
        suffix, w_, k_ = ("", (), ()) if w is None else ("_w", (w,), (k,))
        with self._device:
            if kind == "mse":
                self._launch("scaled_diff" + suffix, y_pred, y_true, *w_, 2.0 / y_pred.size,
                             *k_, out)
            elif kind in ("mae", "log_cosh", "hinge", "squared_hinge"):
                self._launch(kind + "_grad" + suffix, y_pred, y_true, *w_, 1.0 / y_pred.size,
                             *k_, out)
            elif kind == "huber":
                self._launch("huber_grad" + suffix, y_pred, y_true, *w_, float(smoothing),
                             1.0 / y_pred.size, *k_, out)
            elif kind in ("kld", "poisson", "mape", "msle"):
                self._launch(kind + "_grad" + suffix, y_pred, y_true, *w_, EPSILON,
                             -1.0 / n if kind == "kld" else 1.0 / y_pred.size, *k_, out)
            elif kind == "cce":
                self._launch("cce_grad" + suffix, y_pred, y_true, *w_, keep, shift, *clip,
                             -1.0 / n, *k_, out)
            elif kind == "bce":
                self._launch("bce_grad" + suffix, y_pred, y_true, *w_, keep, shift, *clip,
                             1.0 / y_pred.size, *k_, out)
            elif kind == "bce_logits":
                self._launch("bce_logits_grad" + suffix, y_pred, y_true, *w_, keep, shift,
                             1.0 / y_pred.size, *k_, out)
            elif kind == "cce_logits":
                self._launch("cce_logits_grad" + suffix, y_pred.reshape(-1), y_true.reshape(-1),
                             *w_, keep, shift, 1.0 / n, k, out.reshape(-1), size=n)
            else:
                raise InvalidInputError(f"unknown loss kind {kind!r}")

    def logit_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        if kind not in ("bce", "cce"):
            raise InvalidInputError(f"no fused gradient for loss kind {kind!r}")
        n, k = y_pred.shape
        keep, shift = smoothing_terms(kind, smoothing, k)
        scale = 1.0 / (n if kind == "cce" else y_pred.size)
        w = _flat_weights(weights, y_pred)
        with self._device:
            if w is None:
                self._launch("smoothed_diff", y_pred, y_true, keep, shift, scale, out)
            else:
                self._launch("smoothed_diff_w", y_pred, y_true, w, keep, shift, scale, k, out)

    def softmax_cce_step(self, y_pred, y_true, grad, loss_total, hits_total=None,
                         smoothing=0.0, weights=None):
        """One launch of softmax_cce_step: the loss terms of accumulate_loss("cce"), the hits
        of accumulate_correct("categorical") and the gradient of logit_grad("cce"), with their
        arithmetic (the gradient bit for bit); with ``weights``, of softmax_cce_step_w (the
        loss and the gradient weighted, the hits not)."""
        n, k = y_pred.shape
        keep, shift = smoothing_terms("cce", smoothing, k)
        threads = min(n, CCE_STEP_THREADS)
        w = _flat_weights(weights, y_pred)
        name, w_ = ("softmax_cce_step", ()) if w is None else ("softmax_cce_step_w", (w,))
        with self._device:
            hits = hits_total if hits_total is not None else \
                self._scratch((1,), np.float64, slot="unused-hits")
            self._launch(name, y_pred.reshape(-1), y_true.reshape(-1), *w_, keep, shift,
                         EPSILON, 1 - EPSILON, 1.0 / n, -1.0 / n * n, k, n, threads,
                         int(hits_total is not None), grad.reshape(-1), loss_total.reshape(1),
                         hits.reshape(1), size=threads)

    def penalty_value(self, param, l1, l2):
        with self._device:
            terms = self._scratch(param.shape, param.dtype, slot="penalty")
            self._launch("penalty_terms", param, l1, l2, terms)
            return self._reduce_sum(terms, 1.0)

    def add_penalty_grad(self, param, grad, l1, l2):
        with self._device:
            self._launch("penalty_grad", param, l1, 2.0 * l2, grad)

    def count_correct(self, y_pred, y_true, mode):
        with self._device:
            if mode == "categorical":
                n = y_pred.shape[0]
                predicted = self._scratch((n,), np.int64, slot=0)
                expected = self._scratch((n,), np.int64, slot=1)
                cupy.argmax(y_pred, axis=1, out=predicted)
                cupy.argmax(y_true, axis=1, out=expected)
                return cupy.sum(predicted == expected, dtype=np.float64)
            if mode == "binary":
                return cupy.sum((y_pred > 0.5) == (y_true > 0.5), dtype=np.float64)
        raise InvalidInputError(f"unknown accuracy mode {mode!r}")
