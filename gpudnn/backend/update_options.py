"""The backend ops of Keras 3's optimizer options that run in the recorded step besides the
update itself: the moving average of the weights (``use_ema``) and gradient accumulation
(``gradient_accumulation_steps``). A mixin of :class:`~gpudnn.backend.base.Backend`.

Each is one in-place pass over flat (P,) buffers of one float dtype T (a trainable range of the
model's flat parameters or gradients and the matching part of an optimizer slot), writes only
its out-buffers and returns nothing, so it can be recorded and replayed (captured in a CUDA
graph). The kernels are in ``kernels/optimizers.cu``; the NumPy reference is
:class:`~gpudnn.backend.numpy_updates.NumpyUpdates`.
"""

from abc import abstractmethod


class UpdateOptionOps:
    """Mixin of Backend: the EMA and gradient-accumulation passes (see the module docstring)."""

    @abstractmethod
    def ema_update(self, param, average, rate):
        """Keras ``use_ema``: ``average = m * average + (1 - m) * param`` with ``m = rate[0]``
        read when the op runs (``rate`` a (1,) device array of T: the optimizer writes 0 before
        its first step, then ``ema_momentum``); ``1 - m`` is computed in T, as Keras does."""

    @abstractmethod
    def accumulate_gradients(self, grad, accumulator, steps, apply):
        """Keras ``gradient_accumulation_steps = steps``: without ``apply`` (a batch that does
        not update) ``accumulator += grad``; with ``apply``, ``grad = (grad + accumulator) /
        steps`` (the mean the update then uses) and ``accumulator = 0``. ``steps`` and
        ``apply`` are host values fixed for the life of a recorded step (an optimizer records
        one step of each form); kernels ``accumulate_gradients`` and ``average_gradients``."""
