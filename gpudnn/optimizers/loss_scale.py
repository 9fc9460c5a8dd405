"""``LossScaleOptimizer``: dynamic loss scaling for float16 (Keras 3's rule), around any optimizer.

float16 holds magnitudes from 6e-8 (subnormal) to 65504: the small gradients of a float16
network underflow to 0. So the loss gradient is multiplied by a scale ``S`` (the model scales its
output gradient, ``dL/dy * S``), every gradient of the step is ``S`` times too large, and before
the update they are divided by ``S`` again. A step whose scaled gradients hold an inf or a NaN
(``S`` was too large) is skipped and ``S`` halves; after ``dynamic_growth_steps`` finite steps in a
row ``S`` doubles (Keras: the counter resets to 0 at either event).

Everything is decided on the device, from the optimizer's state array ``[scale, finite steps in a
row, skipped steps, last step finite]`` (its slot ``loss_scale``, saved with the model): the
check, the skip and the new scale are backend calls that read it when they run, so a recorded
step replays them without a host read. The host reads the state only when asked:
``dynamic_scale`` and ``skipped_steps``.

Differences from Keras 3:

- Both because the host does not know a step was skipped until it reads the state:
  ``iterations`` counts every batch, skipped ones included (Keras counts the applied updates),
  and so does the step ``t`` of Adam's bias correction and of a learning-rate schedule; and
  ``gradient_accumulation_steps`` is refused (a skipped batch would leave its window unaligned).
- ``apply_gradients`` takes the true gradients (what ``model.gradients`` returns: gpudnn has no
  tape to differentiate a scaled loss), checks them and applies or skips them by the same rule;
  Keras's takes the gradients of ``scale_loss(loss)`` and divides them by the scale.
"""

import numpy as np

from ..errors import InvalidInputError
from ..utils.inputs import positive_number
from .base import Optimizer

#: the state array's elements
SCALE, GOOD_STEPS, SKIPPED, FINITE = range(4)
#: public attributes the wrapper keeps itself (properties or its own settings)
_OWN = frozenset({"initial_scale", "dynamic_growth_steps", "name"})


class LossScaleOptimizer(Optimizer):
    """``LossScaleOptimizer(inner_optimizer, initial_scale=2**15, dynamic_growth_steps=2000)``.

    ``compile`` wraps the optimizer in one when a layer computes in float16
    (``mixed_float16``), as Keras does; wrap it yourself to choose the arguments.
    """

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000,
                 name=None, **kwargs):
        from . import get

        if kwargs:
            raise InvalidInputError(
                f"LossScaleOptimizer got unknown arguments {sorted(kwargs)}; it takes "
                f"inner_optimizer, initial_scale, dynamic_growth_steps and name (give the "
                f"learning rate and the rest to the inner optimizer)")
        inner = get(inner_optimizer)
        if isinstance(inner, LossScaleOptimizer):
            raise InvalidInputError("a LossScaleOptimizer cannot wrap another LossScaleOptimizer")
        if inner.gradient_accumulation_steps:
            raise InvalidInputError(
                "a LossScaleOptimizer cannot wrap an optimizer with gradient_accumulation_steps "
                "(a skipped batch would misalign its window); accumulate without loss scaling "
                "(mixed_bfloat16, or compile(..., auto_scale_loss=False))")
        scale = float(positive_number(initial_scale, "initial_scale"))
        steps = dynamic_growth_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise InvalidInputError(f"dynamic_growth_steps must be a positive integer, not "
                                    f"{dynamic_growth_steps!r}")
        self._inner = inner
        self.initial_scale = scale
        self.dynamic_growth_steps = int(steps)
        self.name = name or "loss_scale_optimizer"
        self._state = None
        self._owner = None

    # ------------------------------------------------------------------ what it wraps
    @property
    def inner_optimizer(self):
        return self._inner

    @property
    def loss_scaled(self):
        """True: the model scales its output gradient by ``dynamic_scale`` (scale_gradient)."""
        return True

    # read through here, where Optimizer's own properties would shadow __getattr__; written
    # through by __setattr__
    iterations = property(lambda self: self._inner.iterations)
    step_count = property(lambda self: self._inner.step_count)
    learning_rate = property(lambda self: self._inner.learning_rate)

    @property
    def schedule(self):
        return self._inner.schedule

    @property
    def step_form(self):
        return self._inner.step_form

    def __getattr__(self, name):
        """The inner optimizer's settings (``beta_1``, ``use_ema``, ...) read through."""
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        """The wrapper's own settings stay here; any other public setting (``weight_decay``,
        ``clipnorm``, ``beta_1``...) is the inner optimizer's."""
        if name.startswith("_") or name in _OWN or "_inner" not in self.__dict__:
            super().__setattr__(name, value)
        else:
            setattr(self._inner, name, value)

    @property
    def slot_names(self):
        return self._inner.slot_names

    @property
    def hyper_size(self):
        return self._inner.hyper_size

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        self._inner.exclude_from_weight_decay(var_list=var_list, var_names=var_names)

    # ------------------------------------------------------------------ state
    @property
    def slots(self):
        if self._inner.slots is None or self._state is None:
            return None
        return {**self._inner.slots, "loss_scale": self._state}

    @property
    def hyper(self):
        return self._inner.hyper

    def build(self, backend, size, dtype, owner=None, segments=None, variables=None):
        fresh = self._state is None or self._inner.slots is None
        self._inner.build(backend, size, dtype, owner=owner, segments=segments,
                          variables=variables)
        if fresh or self._owner is None or self._owner() is not owner:
            self._state = backend.from_host(
                np.array([self.initial_scale, 0.0, 0.0, 1.0], np.float32))
            self._owner = self._inner._owner
        self._state_backend = backend

    @property
    def dynamic_scale(self):
        """The current loss scale (a host read of the device state)."""
        return float(self._read()[SCALE]) if self._state is not None else self.initial_scale

    @property
    def skipped_steps(self):
        """How many steps were skipped for non-finite gradients since the model was built."""
        return int(self._read()[SKIPPED]) if self._state is not None else 0

    def _read(self):
        return self._state_backend.to_host(self._state)

    def scale_loss(self, loss):
        """Keras's ``scale_loss``: ``loss * dynamic_scale`` (for a custom loop)."""
        return loss * self.dynamic_scale

    # ------------------------------------------------------------------ one step
    def scale_gradient(self, backend, gradient):
        """Device: the model's output gradient times the scale, in place."""
        backend.scale_by_loss_scale(gradient, self._state)

    def unscale(self, backend, grads):
        """Device: ``grads / scale`` in place, and whether they are all finite (the state)."""
        backend.unscale_gradients(grads, self._state)

    def begin_step(self, backend):
        self._inner.begin_step(backend)

    def update(self, backend, params, grads, ranges=None):
        """The inner update, run only when the state says the gradients are finite, then the
        scale's update: both decided on the device."""
        backend.run_if_finite(self._state, self._inner.update, params, grads, ranges)
        backend.update_loss_scale(self._state, self.dynamic_growth_steps)

    def end_step(self):
        self._inner.end_step()

    def apply(self, backend, params, grads):
        """A step from the true gradients (``apply_gradients``, a custom loop): checked like the
        model's own (scaled then unscaled again: exact, the scale is a power of 2), then
        applied or skipped by the dynamic rule."""
        self.begin_step(backend)
        self.scale_gradient(backend, grads)
        self.unscale(backend, grads)
        self.update(backend, params, grads)
        self.end_step()

    def finalize_variable_values(self, var_list):
        self._inner.finalize_variable_values(var_list)

    # ------------------------------------------------------------------ config
    def get_config(self):
        from . import serialize

        return {"name": self.name, "inner_optimizer": serialize(self._inner),
                "initial_scale": self.initial_scale,
                "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        inner = config.pop("inner_optimizer", None)
        if not isinstance(inner, dict):
            raise InvalidInputError(f"a LossScaleOptimizer config needs its inner_optimizer's "
                                    f"serialized dict, not {inner!r}")
        return cls(deserialize(inner), **config)

    def __repr__(self):
        return (f"LossScaleOptimizer({self._inner!r}, initial_scale={self.initial_scale!r}, "
                f"dynamic_growth_steps={self.dynamic_growth_steps})")
