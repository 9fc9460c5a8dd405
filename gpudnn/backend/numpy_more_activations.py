"""The NumPy reference of Keras's further activations (kernels/activations.cu's ``*_fwd`` and
``*_bwd`` of these kinds, operation for operation), a mixin of NumpyBackend:

- softsign ``x / (1 + |x|)``, derivative ``(1 - |y|)^2``;
- hard_sigmoid ``clip(x + 3, 0, 6) / 6`` (Keras 3's ``relu6(x + 3) / 6``), derivative 1/6
  where ``0 < y < 1``;
- relu6 ``min(max(x, 0), 6)``, derivative 1 where ``0 < y < 6``;
- exponential ``e^x``, derivative ``y``;
- silu (swish) ``x sigmoid(x)``, derivative ``s (1 + x (1 - s))`` with ``s = sigmoid(x)`` (from
  ``e = exp(-|x|)``: ``1 / (1 + e)`` for x >= 0, ``e / (1 + e)`` below);
- gelu ``0.5 x (1 + erf(x / sqrt 2))`` (Keras's default, approximate=False), derivative
  ``Phi(x) + x phi(x)``.

silu's and gelu's derivatives are functions of the input x, which the backward pass is given in
place of y (backend.base.FROM_INPUT); the others' are functions of the output y.
"""

import math

import numpy as np

#: The kinds of this module.
MORE_ACTIVATIONS = ("softsign", "hard_sigmoid", "relu6", "exponential", "silu", "gelu")
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_erf = np.vectorize(math.erf, otypes=[np.float64])  # NumPy has no erf; float64, then rounded


class MoreActivations:
    """Mixin of NumpyBackend: forward (in place) and backward of MORE_ACTIVATIONS."""

    def _more_forward(self, kind, x):
        one = x.dtype.type
        if kind == "softsign":
            a = self._scratch(x.shape, x.dtype, slot="more-activation")
            np.abs(x, out=a)
            a += one(1)
            x /= a
        elif kind == "hard_sigmoid":
            x += one(3)
            np.clip(x, one(0), one(6), out=x)
            x /= one(6)
        elif kind == "relu6":
            np.clip(x, one(0), one(6), out=x)
        elif kind == "exponential":
            np.exp(x, out=x)
        elif kind == "silu":
            s = self._sigmoid(x)
            x *= s
        else:  # gelu
            e = self._erf(x)
            e += one(1)
            x *= one(0.5)
            x *= e

    def _more_backward(self, kind, y, dy, out):
        one = y.dtype.type
        slope = self._scratch(y.shape, y.dtype, slot="more-activation")
        if kind == "softsign":
            np.abs(y, out=slope)
            np.subtract(one(1), slope, out=slope)
            slope *= slope
        elif kind in ("hard_sigmoid", "relu6"):
            top = one(1) if kind == "hard_sigmoid" else one(6)
            inside = (y > 0) & (y < top)
            slope.fill(0)
            np.copyto(slope, one(1) / one(6) if kind == "hard_sigmoid" else one(1),
                      where=inside)
        elif kind == "exponential":
            np.copyto(slope, y)
        elif kind == "silu":  # y is the input x
            s = self._sigmoid(y)
            np.subtract(one(1), s, out=slope)
            slope *= y
            slope += one(1)
            slope *= s
        else:  # gelu, y is the input x: Phi(x) + x phi(x)
            cdf = self._erf(y)
            cdf += one(1)
            cdf *= one(0.5)
            np.multiply(y, y, out=slope)
            slope *= one(-0.5)
            np.exp(slope, out=slope)
            slope *= one(_INV_SQRT_2PI)
            slope *= y
            slope += cdf
        np.multiply(dy, slope, out=out)

    def _sigmoid(self, x):
        """sigmoid(x) in a work array as silu's kernels compute it: with e = exp(-|x|),
        ``1 / (1 + e)`` for x >= 0 and ``e / (1 + e)`` below (no cancellation)."""
        one = x.dtype.type(1)
        e = self._scratch(x.shape, x.dtype, slot="more-sigmoid-e")
        np.abs(x, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)
        s = self._scratch(x.shape, x.dtype, slot="more-sigmoid")
        np.add(e, one, out=s)
        below = self._scratch(x.shape, np.bool_, slot="more-sigmoid-below")
        np.less(x, 0, out=below)
        np.divide(e, s, out=e, where=below)  # e / (1 + e) below 0, in place of e
        np.divide(one, s, out=s)  # 1 / (1 + e): kept from 0 up
        np.copyto(s, e, where=below)
        return s

    def _erf(self, x):
        """``erf(x / sqrt 2)`` in a work array of x's dtype."""
        e = self._scratch(x.shape, x.dtype, slot="more-erf")
        np.multiply(x, x.dtype.type(_SQRT_HALF), out=e)
        e[...] = _erf(e)
        return e
