"""The optimizer base class: learning rate (a float or a schedule), step count, weight decay,
gradient clipping, and the device array of per-step values that the update kernels read.

One step (``apply``), as Keras 3 does it, with ``t = iterations + 1`` (``step_count``, the
batches seen, counts every batch; ``iterations`` is Keras's property, the updates done):

1. clip the gradients: ``clipnorm`` (each variable's gradient ``g clipnorm / max(||g||,
   clipnorm)``), or ``global_clipnorm`` (all of them by their joint norm), or ``clipvalue``
   (``clip(g, -v, v)``); at most one of the three;
2. compute on the host, in double precision, the values that change from step to step: the
   learning rate ``lr`` (the schedule at ``step_count``), the optimizer's step size (Adam's
   bias-corrected alpha...) and ``decay = lr * weight_decay``, and write them into the small
   device array ``hyper`` (``hyper[0]`` step size, ``hyper[1]`` decay, ``hyper[2:]`` extras);
3. one in-place update pass over the flat buffers (weight decay ``p -= p * decay`` first);
4. ``step_count += 1``.

The update kernels read ``hyper`` when they run, never a host scalar that changes per step, so a
recorded or captured step replays with the current values. Keras 3's ``use_ema``,
``gradient_accumulation_steps`` (which changes t and when steps 2-4 happen) and
``exclude_from_weight_decay`` are in :mod:`~gpudnn.optimizers.options`.
"""

import math
import weakref

import numpy as np

from ..errors import InvalidInputError
from ..utils.inputs import nonnegative_number, positive_number, real_number
from ..utils.watched import Watched
from . import schedules
from .options import OptimizerOptions


def positive(value, what):
    return float(positive_number(value, what))


def fraction(value, what):
    number = real_number(value)
    if number is None or not 0 <= number < 1:
        raise InvalidInputError(f"{what} must be in [0, 1), not {value!r}")
    return float(number)


def _optional_nonnegative(value, what):
    if value is None:
        return None
    return float(nonnegative_number(value, what, "None or a finite number >= 0"))


#: Settings at their defaults that ``repr`` leaves out.
_QUIET = {("use_ema", False), ("ema_momentum", 0.99)}


class LearningRate(float):
    """An optimizer's learning rate as a Python float that also answers the calls Keras code
    makes on Keras's learning-rate Variable: ``assign(value)`` (sets the optimizer's rate, as
    ``optimizer.learning_rate = value`` does) and ``numpy()``."""

    def __new__(cls, value, optimizer):
        rate = super().__new__(cls, value)
        rate._optimizer = optimizer  # not stored by the optimizer: no reference cycle
        return rate

    def assign(self, value):
        """Set the optimizer's learning rate (read ``optimizer.learning_rate`` again for the
        new value: this number keeps the one it was read as); returns the new rate."""
        self._optimizer.learning_rate = value
        return self._optimizer.learning_rate

    def numpy(self):
        return np.float32(self)

    def __reduce__(self):  # copies and pickles are the plain number
        return (float, (float(self),))


class Optimizer(OptimizerOptions, Watched):
    """Base class. Subclasses set ``slot_names``, ``hyper_size`` and implement ``_update`` (and
    ``_step_size`` / ``_extras`` when the step size is not the learning rate)."""

    #: names of the flat slot buffers this optimizer keeps (each the size of the parameters)
    slot_names = ()
    #: Keras's scalar optimizer variables besides ``iterations`` and the learning rate
    #: (Nadam's running product), counted in the summary's "Optimizer params"
    scalar_variables = 0
    #: length of the device array of per-step values (step size, decay, extras)
    hyper_size = 2

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, gradient_accumulation_steps=None, name=None,
                 lr=None, **kwargs):
        if kwargs:
            raise InvalidInputError(
                f"{type(self).__name__} got unknown arguments {sorted(kwargs)}; it takes "
                f"learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, "
                f"ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps and its own "
                f"hyperparameters")
        self._learning_rate = None
        rate = learning_rate if lr is None else lr
        if not isinstance(rate, schedules.LearningRateSchedule):
            rate = positive(rate, "learning_rate")  # a new optimizer at rate 0 is a mistake
        self.learning_rate = rate
        self.weight_decay = _optional_nonnegative(weight_decay, "weight_decay")
        self.clipnorm = _optional_nonnegative(clipnorm, "clipnorm")
        self.clipvalue = _optional_nonnegative(clipvalue, "clipvalue")
        self.global_clipnorm = _optional_nonnegative(global_clipnorm, "global_clipnorm")
        if sum(c is not None for c in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise InvalidInputError(
                "only one of clipnorm, clipvalue and global_clipnorm can be set (as in Keras)")
        self.name = name or type(self).__name__.lower()
        self.step_count = 0
        self.slots = self.hyper = None
        self._owner = None
        self._segments = ()
        self._init_options(use_ema, ema_momentum, ema_overwrite_frequency,
                           gradient_accumulation_steps)

    # ------------------------------------------------------------------ step counts
    @property
    def iterations(self):
        """Keras 3's ``optimizer.iterations``: the updates done, i.e. the batches seen
        (``step_count``, Keras's ``_iterations``) divided by ``gradient_accumulation_steps`` when
        gradients accumulate. Setting it sets ``step_count`` to that many updates' batches."""
        return self._updates_done()

    @iterations.setter
    def iterations(self, value):
        n = self.gradient_accumulation_steps
        self.step_count = int(value) * n if n else int(value)

    # ------------------------------------------------------------------ learning rate
    @property
    def learning_rate(self):
        """The learning rate of the next step: the schedule at ``step_count``, or the float;
        a float that also takes Keras's Variable calls, ``optimizer.learning_rate.assign(v)``
        and ``.numpy()``."""
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            value = real_number(self._learning_rate(self.step_count))
            if value is None or not 0 <= value < math.inf:
                raise InvalidInputError(
                    f"the learning-rate schedule {self._learning_rate!r} gave "
                    f"{self._learning_rate(self.step_count)!r} at step {self.step_count}; a "
                    f"learning rate must be a finite number >= 0")
            return LearningRate(value, self)
        return LearningRate(self._learning_rate, self)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise InvalidInputError(
                f"this optimizer's learning rate is a schedule "
                f"({type(self._learning_rate).__name__}); it cannot be set to a number. Create "
                f"the optimizer with a float learning_rate to change it during training")
        # 0 is allowed here: a schedule may end at 0
        self._learning_rate = float(nonnegative_number(value, "learning_rate"))

    @property
    def schedule(self):
        """The learning-rate schedule, or None when the rate is a number."""
        rate = self._learning_rate
        return rate if isinstance(rate, schedules.LearningRateSchedule) else None

    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = value

    # ------------------------------------------------------------------ state
    def build(self, backend, size, dtype, owner=None, segments=None, variables=None):
        """Allocate zeroed slot buffers of ``size`` elements for the model ``owner``, the
        per-step value array, and (clipnorm) the ``segments`` ``[(start, stop)]`` of each
        variable in the flat buffers; ``variables``: each segment's name (a model's
        ``"layer/weight"``) or ``gpudnn.Variable`` (exclude_from_weight_decay reads them).

        Called again for the same owner with the same size (a second ``compile``), it keeps its
        state, as Keras does. One optimizer serves one model: its slots are that model's.
        """
        if self._owner is not None and owner is not None and self._owner() is not None \
                and self._owner() is not owner:
            raise InvalidInputError(
                f"this {type(self).__name__} already trains another model; its moments belong to "
                f"that model's parameters. Create one optimizer per model, e.g. "
                f"compile(optimizer={type(self).__name__}(...)) or optimizer='{type(self).__name__.lower()}'")
        if segments is not None:
            self._segments = tuple(segments)
        elif not self._segments or self._segments[-1][1] != size:  # keep a model's own segments
            self._segments = ((0, size),)
        if self.slots is not None and self._size == (size, np.dtype(dtype)) and \
                (self._owner is not None and self._owner() is owner):
            self._build_options(backend, dtype, variables, fresh=False)
            return
        self.slots = {name: backend.flat_zeros(size, dtype, slot=2 + i)
                      for i, name in enumerate(tuple(self.slot_names) + self._option_slots())}
        self.hyper = backend.zeros((self.hyper_size,), dtype)
        self._written = None  # the values last written into hyper
        self._norm2 = backend.zeros((1,), dtype)
        self._part_norm2 = backend.zeros((1,), dtype)  # one range's, with frozen weights
        self.step_count = 0
        self._size = (size, np.dtype(dtype))
        self._owner = weakref.ref(owner) if owner is not None else None
        self._initialize_slots(backend)
        self._build_options(backend, dtype, variables, fresh=True)

    def _initialize_slots(self, backend):
        """Give freshly allocated slots their starting values (zeros unless overridden)."""

    # ------------------------------------------------------------------ one step
    def apply(self, backend, params, grads):
        """One step over the flat ``params`` from the flat ``grads`` (clipped in place)."""
        self.begin_step(backend)
        self.update(backend, params, grads)
        self.end_step()

    def begin_step(self, backend):
        """Host part before the update: write this step's values into ``hyper`` (only on a
        batch that updates, when gradients accumulate), and the options' (options.py)."""
        if tuple(self.slots) != tuple(self.slot_names) + self._option_slots():
            raise InvalidInputError(
                f"this {type(self).__name__}'s settings were changed after it was built in a way "
                f"that needs other state ({list(self.slots)} -> "
                f"{list(self.slot_names) + list(self._option_slots())}, e.g. momentum turned on "
                f"or off, amsgrad, centered, use_ema, gradient_accumulation_steps); compile the "
                f"model again with a new optimizer")
        n = self.gradient_accumulation_steps
        values = None
        if not n or (self.step_count + 1) % n == 0:
            lr = self.learning_rate  # a schedule's value at step_count: every batch counts
            t = self._updates_done() + 1
            decay = lr * self.weight_decay if self.weight_decay else 0.0
            values = (self._step_size(lr, t), decay, *self._extras(lr, t))
            if values != self._written:  # constant for SGD, RMSprop, Adagrad at a fixed rate
                backend.write_step_values(self.hyper, values)
                self._written = values
        self._begin_options(backend, values)

    def update(self, backend, params, grads, ranges=None):
        """Device part: clip the gradients and update in place, reading ``hyper``. It makes only
        backend calls that write into given buffers, so a recorded step can replay it.

        ``ranges``: the ``(start, stop)`` ranges of the flat buffers that train (a model with
        frozen weights); the slots hold exactly those elements, end to end. None: all of them.
        With the options (options.py): first the gradient accumulation (a batch that only
        accumulates stops there), last the EMA, in the update's own launch (``_ema``) or, on a
        batch that only accumulates, a pass of its own; the host flag that tells the two forms
        apart is fixed for the life of a recording (``step_form``).
        """
        if ranges is not None and tuple(ranges) == ((0, params.shape[0]),):
            ranges = None
        parts = self._trainable_parts(params.shape[0], ranges)
        self._target = (params, parts)
        if self.gradient_accumulation_steps:
            self._accumulate(backend, grads, parts)
        if self._apply_now:
            self._clip(backend, grads, ranges)
            runs = self._decay_runs if self.weight_decay else None
            if runs is None and ranges is None:
                self._update(backend, params, grads, self.slots, self.hyper)
            else:
                self._update_runs(backend, params, grads, runs or
                                  tuple((a, b, offset, True) for a, b, offset in parts))
        elif self.use_ema:  # no update to fold the moving average into
            self._average(backend, params, parts)

    def _update_runs(self, backend, params, grads, runs):
        """The update over each ``(start, stop, offset, decayed)`` run of the flat buffers, the
        slots' ``[offset, offset + stop - start)``, with ``hyper`` or, not decayed, its copy
        with decay 0."""
        for start, stop, offset, decayed in runs:
            size = stop - start
            self._update(backend, params[start:stop], grads[start:stop],
                         {name: slot[offset:offset + size] for name, slot in self.slots.items()},
                         self.hyper if decayed else self._plain_hyper)

    def end_step(self):
        """Host part after the update: the EMA overwrite (options.py), then the count."""
        self._end_options()
        self.step_count += 1

    def _clip(self, backend, grads, ranges=None):
        """Clip the gradients of ``ranges`` (None: all of ``grads``); as in Keras, a setting of
        0 means no clipping (only one of the three can be set)."""
        parts = [grads] if ranges is None else [grads[a:b] for a, b in ranges]
        if self.clipnorm:
            for start, stop in self._segments:
                backend.sum_squares_into(grads[start:stop], self._norm2)
                backend.clip_by_norm(grads[start:stop], self._norm2, self.clipnorm)
        elif self.global_clipnorm:
            if len(parts) == 1:
                backend.sum_squares_into(parts[0], self._norm2)
            else:  # the norm of the trainable gradients only
                norm2, part2 = self._norm2, self._part_norm2
                backend.fill(norm2, 0.0)
                for part in parts:
                    backend.sum_squares_into(part, part2)
                    backend.add_into(norm2, part2)
            for part in parts:
                backend.clip_by_global_norm(part, self._norm2, self.global_clipnorm)
        elif self.clipvalue:
            for part in parts:
                backend.clip_by_value(part, self.clipvalue)

    def _step_size(self, lr, t):
        """``hyper[0]`` for step t (from 1): the learning rate unless overridden."""
        return lr

    def _extras(self, lr, t):
        """``hyper[2:]`` for step t."""
        return ()

    def _update(self, backend, params, grads, slots, hyper):
        """The fused update of ``params`` from ``grads`` with the optimizer's ``slots`` (views of
        the same elements) and per-step values ``hyper``: one backend call, which also moves
        the weights' average (``ema=self._ema(slots)``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ custom loops
    def apply_gradients(self, grads_and_vars):
        """Keras's ``apply_gradients(zip(grads, variables))``: one step; returns the batches
        seen (Keras returns its ``_iterations``).

        ``variables`` are ``gpudnn.Variable``s; gradients host or device arrays of their
        shapes. The trainable weights of a model (``model.trainable_weights``, in order) take
        the model's own flat path, exactly what ``train_on_batch`` does.
        """
        from ..variables import apply_gradients

        apply_gradients(self, grads_and_vars)
        return self.step_count

    # ------------------------------------------------------------------ config
    def get_config(self):
        """The constructor arguments (JSON-able; a schedule as its serialized dict)."""
        rate = self._learning_rate
        config = {"name": self.name,
                  "learning_rate": schedules.serialize(rate)
                  if isinstance(rate, schedules.LearningRateSchedule) else rate,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  **self._options_config()}
        config.update(self._own_config())
        return config

    def _own_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()
                         if v is not None and k != "name"
                         and not (isinstance(v, (bool, float)) and (k, v) in _QUIET))
        return f"{type(self).__name__}({args})"
