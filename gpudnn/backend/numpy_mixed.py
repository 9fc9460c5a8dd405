"""The NumPy backend's 16-bit arithmetic and loss scaling (see
:mod:`gpudnn.backend.mixed_precision`). A mixin of
:class:`~gpudnn.backend.numpy_backend.NumpyBackend`.

An op whose arrays mix dtypes or hold 16-bit floats (float16, ``ml_dtypes.bfloat16``) widens its
inputs to float32 work arrays, runs the op's float32 form (on the compiled CPU backend: its
float32 kernels) and rounds the result once into the output, round-to-nearest-even: the
rounding points of a GPU kernel that loads 16 bits, computes in float32 and stores 16 bits.
This is a correctness path, the reference the 16-bit kernels are checked against; it is not
fast (NumPy has no 16-bit BLAS: every GEMM widens its operands).
"""

import functools

import numpy as np

from ..dtype_policies import is_half
from .mixed_precision import HalfCasts, mixed  # noqa: F401 (the NumPy backend reads mixed here)

_F32 = np.dtype(np.float32)


def quiet_overflow(op):
    """Run ``op`` without NumPy's overflow and invalid-value warnings: under loss scaling a
    16-bit overflow is an expected event (the step is skipped and the scale halves), not news
    for every array it reaches."""
    @functools.wraps(op)
    def quiet(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return op(*args, **kwargs)
    return quiet


class NumpyMixedPrecision(HalfCasts):
    """Mixin of NumpyBackend: ops on 16-bit and mixed-dtype arrays, and the loss scaling."""

    def _cast_into(self, dst, src):
        """``dst[...] = src`` between float32 and 16 bits (round to nearest even, or exact
        widening); the compiled CPU backend does it with its cast kernels."""
        np.copyto(dst, src, casting="unsafe")

    def _widened(self, a, slot, round_to=None):
        """``a`` as a float32 work array (``round_to``: rounded to that 16-bit dtype first)."""
        if round_to is not None:
            a = self._in_dtype(a, round_to, slot)
        return self._in_dtype(a, _F32, slot)

    def _store(self, out, work):
        """The float32 result ``work`` rounded into ``out`` (in place when out is float32)."""
        if work is not out:
            self._cast_into(out, work)

    def _work_for(self, out, slot="result"):
        return out if out.dtype == _F32 else self._scratch(out.shape, _F32, slot=("work", slot))

    @quiet_overflow
    def _half_matmul(self, a, b, out):
        """16-bit operands (a float32 one rounded to the other's dtype), float32 accumulation,
        one rounding into out."""
        half = next((x.dtype for x in (a, b) if is_half(x.dtype)), None)
        work = self._work_for(out)
        np.matmul(self._widened(a, "a", half), self._widened(b, "b", half), out=work)
        self._store(out, work)

    # ``reference``: NumpyBackend's float32 form of the op (the same on the compiled backend)
    @quiet_overflow
    def _half_activation_forward(self, reference, kind, z, bias, out, alpha):
        work = self._scratch(out.shape, _F32, slot=("work", "act"))
        self._cast_into(work, z)
        bias32 = None if bias is None else self._widened(bias, "bias")
        reference(self, kind, work, bias32, work, alpha=alpha)
        self._store(out, work)

    @quiet_overflow
    def _half_activation_backward(self, reference, kind, y, dy, out, alpha):
        work = self._scratch(out.shape, _F32, slot=("work", "act"))
        reference(self, kind, self._widened(y, "y"), self._widened(dy, "dy"), work, alpha=alpha)
        self._store(out, work)

    @quiet_overflow
    def _half_sum_rows(self, a, out):
        work = self._work_for(out, "sum")
        np.sum(self._widened(a, "a"), axis=0, out=work)
        self._store(out, work)

    # ----------------------------------------------------------------- loss scaling
    def scale_by_loss_scale(self, a, state):
        a *= a.dtype.type(state[0])

    @quiet_overflow
    def unscale_gradients(self, grads, state):
        state[3] = 1.0 if np.isfinite(grads).all() else 0.0
        grads /= grads.dtype.type(state[0])

    def run_if_finite(self, state, update, *args):
        if state[3]:
            update(self, *args)

    def update_loss_scale(self, state, growth_steps):
        if state[3]:
            if state[1] == growth_steps - 1:
                state[0] *= 2
                state[1] = 0
            else:
                state[1] += 1
        else:
            state[0] /= 2
            state[1] = 0
            state[2] += 1
