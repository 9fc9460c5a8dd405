"""Learning-rate schedules with Keras 3's names, arguments and formulas.

A schedule maps the optimizer's step count ``step`` (``optimizer.step_count`` before the update,
the batches seen, from 0: Keras's ``_iterations``) to a learning rate, in double precision on the host; the optimizer writes the value into
its device array of per-step values before each update, so a captured step sees it change.

- ``ExponentialDecay``: ``lr0 * decay_rate ** (step / decay_steps)`` (``floor`` of the ratio
  with ``staircase``).
- ``PiecewiseConstantDecay``: ``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` while
  ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last boundary.
- ``InverseTimeDecay``: ``lr0 / (1 + decay_rate * step / decay_steps)`` (floored ratio with
  ``staircase``).
- ``PolynomialDecay``: ``(lr0 - end) * (1 - s / d) ** power + end`` with ``s = min(step, d)``;
  with ``cycle`` ``d = decay_steps * ceil(step / decay_steps)`` (1 multiple at step 0).
- ``CosineDecay``: optional linear warmup from ``lr0`` to ``warmup_target`` over
  ``warmup_steps``, then ``peak * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)``
  with ``s = min(step - warmup_steps, decay_steps)`` and ``peak`` = warmup_target (or lr0).
"""

import math

from ..errors import InvalidInputError
from ..utils.inputs import finite_number, nonnegative_number, positive_number




class LearningRateSchedule:
    """Base class: ``schedule(step) -> float``; subclasses define ``__call__`` and
    ``get_config`` (the constructor's arguments)."""

    def __call__(self, step):
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _TimeDecay(LearningRateSchedule):
    """Shared by the decays of ``p = step / decay_steps`` (floored with ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        self.initial_learning_rate = finite_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = positive_number(decay_steps, "decay_steps")
        # >= 0: a negative decay rate or power has no decay meaning (a negative base to a
        # fractional power is complex, a negative power divides by zero at the end)
        self.decay_rate = nonnegative_number(decay_rate, "decay_rate")
        self.staircase = bool(staircase)
        self.name = type(self).__name__ if name is None else name

    def _progress(self, step):
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_TimeDecay):
    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise InvalidInputError(
                f"PiecewiseConstantDecay needs one more value than boundaries; got "
                f"{len(boundaries)} boundaries and {len(values)} values")
        boundaries = [finite_number(b, "a boundary") for b in boundaries]
        values = [finite_number(v, "a value") for v in values]
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise InvalidInputError(f"boundaries must increase strictly, not {boundaries!r}")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(_TimeDecay):
    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PolynomialDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        self.initial_learning_rate = finite_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = positive_number(decay_steps, "decay_steps")
        self.end_learning_rate = finite_number(end_learning_rate, "end_learning_rate")
        self.power = nonnegative_number(power, "power")
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step):
        decay_steps = self.decay_steps
        if self.cycle:
            decay_steps *= 1 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return ((self.initial_learning_rate - self.end_learning_rate) * (1 - p) ** self.power
                + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(LearningRateSchedule):
    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        self.initial_learning_rate = finite_number(initial_learning_rate, "initial_learning_rate")
        self.decay_steps = positive_number(decay_steps, "decay_steps")
        self.alpha = finite_number(alpha, "alpha")
        self.name = name
        self.warmup_target = None if warmup_target is None else finite_number(warmup_target,
                                                                         "warmup_target")
        self.warmup_steps = nonnegative_number(warmup_steps, "warmup_steps")

    def _decayed(self, step, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * (step / self.decay_steps)))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._decayed(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decayed(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay,
                                           InverseTimeDecay, PolynomialDecay, CosineDecay)}


def serialize(schedule):
    """``{"class_name": ..., "config": ...}`` of a built-in schedule (JSON-able)."""
    if type(schedule).__name__ not in _CLASSES:
        raise InvalidInputError(
            f"only gpudnn's built-in schedules can be saved ({', '.join(_CLASSES)}), not "
            f"{type(schedule).__name__}")
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config):
    """The schedule described by ``serialize``'s dict."""
    if not isinstance(config, dict) or config.get("class_name") not in _CLASSES \
            or not isinstance(config.get("config"), dict):
        raise InvalidInputError(
            f"not a learning-rate schedule description: {config!r}; expected "
            f"{{'class_name': one of {', '.join(_CLASSES)}, 'config': {{...}}}}")
    try:
        return _CLASSES[config["class_name"]].from_config(config["config"])
    except TypeError as exc:
        raise InvalidInputError(f"bad {config['class_name']} config: {exc}") from None
