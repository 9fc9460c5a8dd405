"""The NumPy backend's losses and metrics: loss values and gradients, the fused logit
gradients, weight penalties and correct counts (see :class:`~gpudnn.backend.base.Backend` for
the math and shapes). A mixin of :class:`~gpudnn.backend.numpy_backend.NumpyBackend`.

Per-sample weights (``weights=`` (n, 1)) take the operations of the weighted kernels of
``kernels/losses.cu`` in their order: the unweighted gradient, then times w; the per-element
loss terms of the ``*_terms`` kernels, times w, summed in float64 and scaled."""

import numpy as np

from .base import EPSILON, check_weights, smoothing_terms
from .numpy_percent_log_hinge import PERCENT_LOG_HINGE_KINDS, PercentLogHingeLosses


class NumpyLosses(PercentLogHingeLosses):
    """Mixin of NumpyBackend: the loss and metric ops."""

    # ----------------------------------------------------------------- losses and metrics
    def _clipped(self, p):
        c = self._scratch(p.shape, p.dtype, slot=1)
        np.clip(p, EPSILON, 1 - EPSILON, out=c)
        return c

    def _smoothed(self, kind, y, smoothing):
        """The target the cross-entropy sees: y itself without smoothing, else ``y keep + shift``
        (see :func:`~gpudnn.backend.base.smoothing_terms`) in a work array."""
        keep, shift = smoothing_terms(kind, smoothing, y.shape[1])
        if keep == 1.0 and shift == 0.0:
            return y
        t = self._scratch(y.shape, y.dtype, slot=2)
        np.multiply(y, keep, out=t)
        t += shift
        return t

    def _row_softmax(self, x, out):
        """``out = exp(x - max x) / sum exp(x - max x)`` row by row (out may be x)."""
        row = self._scratch((x.shape[0], 1), x.dtype, slot="row")
        np.max(x, axis=1, keepdims=True, out=row)
        np.subtract(x, row, out=out)
        np.exp(out, out=out)
        np.sum(out, axis=1, keepdims=True, out=row)
        out /= row

    def loss_value(self, kind, y_pred, y_true, smoothing=0.0):
        n = y_pred.shape[0]
        if kind in ("mse", "mae"):
            d = self._scratch(y_pred.shape, y_pred.dtype)
            np.subtract(y_pred, y_true, out=d)
            if kind == "mse":
                return np.vdot(d, d) / d.size
            np.abs(d, out=d)
            return np.sum(d) / d.size
        if kind in ("bce_logits", "cce_logits", "huber", "log_cosh", "kld", "poisson",
                    *PERCENT_LOG_HINGE_KINDS):
            l = self._scratch(y_pred.shape, y_pred.dtype)  # the sum of the *_terms kernels'
            self._loss_terms(kind, y_pred, y_true, smoothing, l)
            return np.sum(l) / (n if kind in ("cce_logits", "kld") else l.size)
        t = self._smoothed(kind, y_true, smoothing)
        p = self._clipped(y_pred)
        if kind == "cce":
            np.log(p, out=p)
            return -np.vdot(t, p) / n
        if kind == "bce":
            u = self._scratch(p.shape, p.dtype)
            np.subtract(1, p, out=u)
            np.log(u, out=u)
            np.log(p, out=p)
            # t log p + (1 - t) log(1 - p) = t (log p - log(1 - p)) + log(1 - p)
            total = np.sum(u)
            p -= u
            total += np.vdot(t, p)
            return -total / p.size
        raise ValueError(f"unknown loss kind {kind!r}")

    def loss_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        if weights is None:
            return self._loss_grad(kind, y_pred, y_true, out, smoothing)
        w = check_weights(weights, y_pred)
        self._loss_grad(kind, y_pred, y_true, out, smoothing)
        out *= w

    def _loss_grad(self, kind, y_pred, y_true, out, smoothing):
        n = y_pred.shape[0]
        if kind in ("mse", "mae"):
            np.subtract(y_pred, y_true, out=out)
            if kind == "mae":
                np.sign(out, out=out)
                out *= 1.0 / y_pred.size
            else:
                out *= 2.0 / y_pred.size
            return
        if kind == "kld":  # t / c * (-1 / n) where the clip is inactive
            c, t = self._kld_clipped(y_pred, y_true)
            np.divide(t, c, out=out)
            out *= -1.0 / n
            inside = self._scratch(c.shape, np.bool_)
            np.equal(c, y_pred, out=inside)
            out *= inside
            return
        if kind == "poisson":  # (1 - y / (p + eps)) / (n k)
            np.add(y_pred, y_pred.dtype.type(EPSILON), out=out)
            np.divide(y_true, out, out=out)
            np.subtract(1, out, out=out)
            out *= 1.0 / y_pred.size
            return
        if kind in PERCENT_LOG_HINGE_KINDS:
            return self._percent_log_hinge_grad(kind, y_pred, y_true, out)
        if kind in ("huber", "log_cosh"):  # clip(d, -delta, delta), tanh(d); over n k
            np.subtract(y_pred, y_true, out=out)
            if kind == "huber":
                np.clip(out, -smoothing, smoothing, out=out)
            else:
                np.tanh(out, out=out)
            out *= 1.0 / y_pred.size
            return
        t = self._smoothed(kind, y_true, smoothing)
        if kind == "bce_logits":  # sigmoid(x) - t, sigmoid as 0.5 tanh(x / 2) + 0.5
            np.multiply(y_pred, 0.5, out=out)
            np.tanh(out, out=out)
            out *= 0.5
            out += 0.5
            out -= t
            out *= 1.0 / y_pred.size
            return
        if kind == "cce_logits":  # softmax(x) S - t, S = sum_j t_j per row
            self._row_softmax(y_pred, out)
            total = self._scratch((n, 1), y_pred.dtype, slot="row-total")
            np.sum(t, axis=1, keepdims=True, out=total)
            out *= total
            out -= t
            out *= 1.0 / n
            return
        p = self._clipped(y_pred)
        inside = self._scratch(p.shape, np.bool_)
        np.equal(p, y_pred, out=inside)  # the clip is inactive: the gradient flows
        if kind == "cce":
            np.divide(t, p, out=out)
            out *= -1.0 / n
        elif kind == "bce":
            u = self._scratch(p.shape, p.dtype)
            np.subtract(1, p, out=u)
            u *= p
            np.subtract(p, t, out=out)
            out /= u
            out *= 1.0 / p.size
        else:
            raise ValueError(f"unknown loss kind {kind!r}")
        out *= inside

    def logit_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        if kind not in ("bce", "cce"):
            raise ValueError(f"no fused gradient for loss kind {kind!r}")
        w = None if weights is None else check_weights(weights, y_pred)
        scale = 1.0 / (y_pred.shape[0] if kind == "cce" else y_pred.size)
        t = self._smoothed(kind, y_true, smoothing)
        np.subtract(y_pred, t, out=out)
        out *= scale
        if w is not None:
            out *= w

    # ----------------------------------------------------------------- weighted sums
    def accumulate_loss(self, kind, y_pred, y_true, total, smoothing=0.0, weights=None):
        if weights is None:
            return super().accumulate_loss(kind, y_pred, y_true, total, smoothing)
        w = check_weights(weights, y_pred)
        terms = self._scratch(y_pred.shape, y_pred.dtype, slot="terms")
        scale = self._loss_terms(kind, y_pred, y_true, smoothing, terms)
        terms *= w
        total += np.sum(terms, dtype=np.float64) * (scale * y_pred.shape[0])

    def _loss_terms(self, kind, p, y, smoothing, out):
        """``out`` = the per-element terms of the ``*_terms`` kernels, in their operations;
        returns the scale s of ``loss_value = s * sum(out)``."""
        n = p.shape[0]
        if kind in ("mse", "mae"):
            np.subtract(p, y, out=out)
            if kind == "mse":
                out *= out
            else:
                np.abs(out, out=out)
            return 1.0 / p.size
        if kind == "huber":  # 0.5 d^2 where |d| <= delta, else delta |d| - 0.5 delta^2
            return self._huber_terms(p, y, p.dtype.type(smoothing), out)
        if kind == "log_cosh":  # d + softplus(-2 d) - log 2
            return self._log_cosh_terms(p, y, out)
        if kind == "kld":  # t log(t / c)
            c, t = self._kld_clipped(p, y)
            np.divide(t, c, out=out)
            np.log(out, out=out)
            out *= t
            return 1.0 / n
        if kind == "poisson":  # p - y log(p + eps)
            u = self._scratch(p.shape, p.dtype, slot=3)
            np.add(p, p.dtype.type(EPSILON), out=u)
            np.log(u, out=u)
            u *= y
            np.subtract(p, u, out=out)
            return 1.0 / p.size
        if kind in PERCENT_LOG_HINGE_KINDS:
            return self._percent_log_hinge_terms(kind, p, y, out)
        if kind not in ("cce", "bce", "bce_logits", "cce_logits"):
            raise ValueError(f"unknown loss kind {kind!r}")
        t = self._smoothed(kind, y, smoothing)
        u = self._scratch(p.shape, p.dtype, slot=3)
        if kind == "bce_logits":  # max(x, 0) - x t + log1p(exp(-|x|))
            np.maximum(p, 0, out=out)
            np.multiply(p, t, out=u)
            out -= u
            np.abs(p, out=u)
            np.negative(u, out=u)
            np.exp(u, out=u)
            np.log1p(u, out=u)
            out += u
            return 1.0 / p.size
        if kind == "cce_logits":  # t (logsumexp(x) - x), logsumexp(x) = m + log sum exp(x - m)
            m = self._scratch((n, 1), p.dtype, slot="row")
            lse = self._scratch((n, 1), p.dtype, slot="row-lse")
            np.max(p, axis=1, keepdims=True, out=m)
            np.subtract(p, m, out=out)
            np.exp(out, out=out)
            np.sum(out, axis=1, keepdims=True, out=lse)
            np.log(lse, out=lse)
            lse += m
            np.subtract(lse, p, out=out)
            out *= t
            return 1.0 / n
        c = self._clipped(p)
        if kind == "cce":  # t log c
            np.log(c, out=c)
            np.multiply(t, c, out=out)
            return -1.0 / n
        # bce: t (log c - log(1 - c)) + log(1 - c)
        np.subtract(1, c, out=u)
        np.log(u, out=u)
        np.log(c, out=c)
        c -= u
        np.multiply(t, c, out=out)
        out += u
        return -1.0 / p.size

    def _kld_clipped(self, p, y):
        """``(clip(p, lo, 1), clip(y, lo, 1))``, lo = EPSILON in p's dtype, as Keras clips."""
        lo = p.dtype.type(EPSILON)
        c = self._scratch(p.shape, p.dtype, slot="kld-c")
        np.clip(p, lo, p.dtype.type(1), out=c)
        t = self._scratch(p.shape, p.dtype, slot="kld-t")
        np.clip(y, lo, p.dtype.type(1), out=t)
        return c, t

    def _huber_terms(self, p, y, delta, out):
        d = self._scratch(p.shape, p.dtype, slot=3)
        np.subtract(p, y, out=d)
        a = self._scratch(p.shape, p.dtype, slot=4)
        np.abs(d, out=a)
        beyond = self._scratch(p.shape, np.bool_, slot="huber-beyond")
        np.greater(a, delta, out=beyond)  # NaN stays NaN either way
        np.multiply(d, d, out=out)
        out *= p.dtype.type(0.5)
        a *= delta
        a -= p.dtype.type(0.5) * (delta * delta)
        np.copyto(out, a, where=beyond)
        return 1.0 / p.size

    def _log_cosh_terms(self, p, y, out):
        np.subtract(p, y, out=out)
        z = self._scratch(p.shape, p.dtype, slot=3)
        np.multiply(out, p.dtype.type(-2), out=z)
        u = self._scratch(p.shape, p.dtype, slot=4)
        np.abs(z, out=u)
        np.negative(u, out=u)
        np.exp(u, out=u)
        np.log1p(u, out=u)
        np.maximum(z, 0, out=z)
        z += u  # softplus(-2 d)
        out += z
        out -= p.dtype.type(0.6931471805599453)
        return 1.0 / p.size

    def accumulate_correct(self, y_pred, y_true, mode, total, weights=None):
        if weights is None:
            return super().accumulate_correct(y_pred, y_true, mode, total)
        w = check_weights(weights, y_pred)
        hits = self._hits(y_pred, y_true, mode)
        n = y_pred.shape[0]
        per_row = self._scratch((n,), np.float64, slot="weighted-hits")  # kept: no allocation
        if hits.ndim == 1:
            np.copyto(per_row, hits)
        else:  # each row's count, exact in float64 (summed from a float copy: no cast buffer)
            flags = self._scratch(hits.shape, np.float64, slot="weighted-flags")
            np.copyto(flags, hits)
            np.sum(flags, axis=1, out=per_row)
        row_weight = self._scratch((n,), np.float64, slot="weighted-w")
        np.copyto(row_weight, w[:, 0])
        total += np.dot(per_row, row_weight)

    def penalty_value(self, param, l1, l2):
        a = self._scratch(param.shape, param.dtype)
        np.abs(param, out=a)
        return l1 * np.sum(a) + l2 * np.vdot(param, param)

    def add_penalty_grad(self, param, grad, l1, l2):
        # (g + l1 sign(w)) + 2 l2 w, in the kernel's order
        a = self._scratch(param.shape, param.dtype)
        np.sign(param, out=a)
        a *= l1
        grad += a
        np.multiply(param, 2.0 * l2, out=a)
        grad += a

    def count_correct(self, y_pred, y_true, mode):
        return np.asarray(np.count_nonzero(self._hits(y_pred, y_true, mode)), dtype=np.float64)

    def _hits(self, y_pred, y_true, mode):
        """The correct predictions: (n,) rows (categorical) or (n, k) elements (binary)."""
        if mode == "categorical":
            n = y_pred.shape[0]
            predicted = self._scratch((n,), np.intp, slot=0)
            expected = self._scratch((n,), np.intp, slot=1)
            np.argmax(y_pred, axis=1, out=predicted)
            np.argmax(y_true, axis=1, out=expected)
            hits = self._scratch((n,), np.bool_)
            np.equal(predicted, expected, out=hits)
        elif mode == "binary":
            predicted = self._scratch(y_pred.shape, np.bool_, slot=0)
            expected = self._scratch(y_pred.shape, np.bool_, slot=1)
            np.greater(y_pred, 0.5, out=predicted)
            np.greater(y_true, 0.5, out=expected)
            hits = self._scratch(y_pred.shape, np.bool_, slot=2)
            np.equal(predicted, expected, out=hits)
        else:
            raise ValueError(f"unknown accuracy mode {mode!r}")
        return hits
