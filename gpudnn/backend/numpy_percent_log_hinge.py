"""The NumPy reference of four more of Keras's losses, each the mean over the n k elements of
one element's formula (kernels/losses.cu, ``*_grad`` and ``*_terms``, in their operations and
order), a mixin of :class:`~gpudnn.backend.numpy_losses.NumpyLosses`:

- ``mape``: ``100 |(y - p) / m|``, m = max(|y|, EPSILON); gradient ``sign(p - y) 100 / m``;
- ``msle``: ``(log(c + 1) - log(u + 1))^2``, c = max(p, EPSILON), u = max(y, EPSILON);
  gradient ``2 (log(c + 1) - log(u + 1)) / (c + 1)`` where c == p (0 where the floor acts);
- ``hinge``: ``max(1 - t p, 0)``; gradient ``-t`` where ``1 - t p > 0``, else 0;
- ``squared_hinge``: ``max(1 - t p, 0)^2``; gradient ``-2 t max(1 - t p, 0)``;

with t = -1 where y == 0 and y elsewhere: Keras turns a batch of {0, 1} labels into -1 and 1
(and leaves -1 / 1 labels as they are); element by element this gives the same for both.
"""

import numpy as np

from .base import EPSILON

#: The loss kinds of this module.
PERCENT_LOG_HINGE_KINDS = ("mape", "msle", "hinge", "squared_hinge")


class PercentLogHingeLosses:
    """Mixin of NumpyLosses: gradients and terms of PERCENT_LOG_HINGE_KINDS."""

    def _percent_log_hinge_grad(self, kind, p, y, out):
        """``out`` = d mean(terms) / d p, all (n, k)."""
        scale = 1.0 / p.size
        if kind == "mape":
            m = self._floored_abs(y)
            np.subtract(p, y, out=out)
            np.sign(out, out=out)
            np.divide(p.dtype.type(100), m, out=m)
            out *= m
        elif kind == "msle":
            c, d = self._log_gap(p, y)
            inside = self._scratch(p.shape, np.bool_, slot="msle-inside")
            np.equal(c, p, out=inside)
            np.multiply(d, p.dtype.type(2), out=out)
            c += p.dtype.type(1)
            out /= c
            out *= scale
            out *= inside
            return
        else:
            t, m = self._hinge_margin(p, y)
            if kind == "hinge":
                np.multiply(m, p.dtype.type(0), out=out)
                positive = self._scratch(p.shape, np.bool_, slot="hinge-positive")
                np.greater(m, 0, out=positive)
                np.negative(t, out=t)
                np.copyto(out, t, where=positive)
            else:
                np.maximum(m, 0, out=m)
                np.multiply(t, p.dtype.type(-2), out=out)
                out *= m
        out *= scale

    def _percent_log_hinge_terms(self, kind, p, y, out):
        """``out`` = the per-element terms; returns the scale 1 / (n k)."""
        if kind == "mape":
            m = self._floored_abs(y)
            np.subtract(y, p, out=out)
            out /= m
            np.abs(out, out=out)
            out *= p.dtype.type(100)
        elif kind == "msle":
            _, d = self._log_gap(p, y)
            np.multiply(d, d, out=out)
        else:
            _, m = self._hinge_margin(p, y)
            np.maximum(m, 0, out=out)
            if kind == "squared_hinge":
                out *= out
        return 1.0 / p.size

    def _floored_abs(self, y):
        """max(|y|, EPSILON) in y's dtype (NaN stays NaN)."""
        m = self._scratch(y.shape, y.dtype, slot="mape-m")
        np.abs(y, out=m)
        np.maximum(m, y.dtype.type(EPSILON), out=m)
        return m

    def _log_gap(self, p, y):
        """``(c, d)``: c = max(p, EPSILON) and d = log(c + 1) - log(max(y, EPSILON) + 1)."""
        one, eps = p.dtype.type(1), p.dtype.type(EPSILON)
        c = self._scratch(p.shape, p.dtype, slot="msle-c")
        np.maximum(p, eps, out=c)
        d = self._scratch(p.shape, p.dtype, slot="msle-d")
        np.add(c, one, out=d)
        np.log(d, out=d)
        u = self._scratch(p.shape, p.dtype, slot="msle-u")
        np.maximum(y, eps, out=u)
        u += one
        np.log(u, out=u)
        d -= u
        return c, d

    def _hinge_margin(self, p, y):
        """``(t, m)``: t = -1 where y == 0 else y, and m = 1 - t p."""
        t = self._scratch(p.shape, p.dtype, slot="hinge-t")
        np.copyto(t, y)
        zero = self._scratch(p.shape, np.bool_, slot="hinge-zero")
        np.equal(y, 0, out=zero)
        np.copyto(t, p.dtype.type(-1), where=zero)
        m = self._scratch(p.shape, p.dtype, slot="hinge-m")
        np.multiply(t, p, out=m)
        np.subtract(p.dtype.type(1), m, out=m)
        return t, m
