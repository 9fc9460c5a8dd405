"""The backend ops of mixed precision: dynamic loss scaling. A mixin of
:class:`~gpudnn.backend.base.Backend`.

16-bit arrays themselves need no op of their own: ``matmul``, ``activation_forward``,
``activation_backward``, ``sum_rows`` and ``copy_into`` take float16 or bfloat16 operands and
outputs (any mix with float32), compute in float32 and round once, on the store, to the output's
dtype; a GEMM's float32 operand is first rounded to the other operand's 16-bit dtype (Keras's
autocast of a layer's inputs), so that every GEMM multiplies 16-bit values and accumulates in
float32.

The loss-scaling state is a (4,) float32 device array ``[scale, finite steps in a row, skipped
steps, last step finite]`` (see :mod:`gpudnn.optimizers.loss_scale`); every op reads it when it
runs, so a recorded step replays with the current scale and decision.
"""

from abc import abstractmethod

import numpy as np

from ..dtype_policies import is_half

_F32 = np.dtype(np.float32)


def mixed(*arrays):
    """True when ``arrays`` (None skipped) hold a 16-bit float or more than one dtype: the op
    takes its 16-bit path."""
    first = arrays[0].dtype
    if first.itemsize != 2 and all(a is None or a.dtype == first for a in arrays):
        return False  # one float32 / float64 dtype: every op of a float model, at once
    dtypes = {a.dtype for a in arrays if a is not None}
    return len(dtypes) > 1 or any(is_half(d) for d in dtypes)


def is_half_cast(dst_dtype, src_dtype):
    """True for a copy between float32 and a 16-bit dtype (a cast kernel's job)."""
    return _F32 in (dst_dtype, src_dtype) and (is_half(dst_dtype) or is_half(src_dtype))


class HalfCasts:
    """Mixin of the NumPy and CuPy backends' 16-bit ops: an operand in the dtype an op wants,
    through the backend's ``_cast_into(dst, src)``."""

    def _in_dtype(self, a, dtype, slot):
        """``a`` in ``dtype``: itself, or a cast work array; a transposed view (``x.T``) is cast
        through its C-contiguous base and transposed back (the cast streams memory, and a GEMM
        takes the result with a transpose flag)."""
        if a.dtype == dtype:
            return a
        flipped = not a.flags.c_contiguous and a.T.flags.c_contiguous
        source = a.T if flipped else a
        work = self._scratch(source.shape, dtype, slot=("cast", slot))
        self._cast_into(work, source)
        return work.T if flipped else work


class LossScaleOps:
    """Mixin of Backend: the dynamic loss-scaling ops (see the module docstring)."""

    @abstractmethod
    def scale_by_loss_scale(self, a, state):
        """``a *= state[0]`` in place: the model's output gradient, times the loss scale."""

    @abstractmethod
    def unscale_gradients(self, grads, state):
        """``grads /= state[0]`` in place, and ``state[3] = 1`` when every element of the
        scaled gradients is finite, else ``0``."""

    @abstractmethod
    def run_if_finite(self, state, update, *args):
        """Run ``update(self, *args)`` (an optimizer's update: backend calls only) when
        ``state[3]`` says the step's gradients are finite; otherwise nothing."""

    @abstractmethod
    def update_loss_scale(self, state, growth_steps):
        """Keras's dynamic rule, after the step: finite gradients count one more good step, and
        the ``growth_steps``-th in a row doubles the scale (the count restarts); non-finite ones
        halve the scale, restart the count and add one skipped step."""
