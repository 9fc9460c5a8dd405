"""Keras 3's optimizer options around the update rule: ``exclude_from_weight_decay``,
``use_ema`` / ``ema_momentum`` / ``ema_overwrite_frequency`` (with
``finalize_variable_values``) and ``gradient_accumulation_steps``. A mixin of
:class:`~gpudnn.optimizers.base.Optimizer`.

With ``n = gradient_accumulation_steps`` and ``u = step_count // n`` (``step_count`` without
accumulation), one batch does what Keras 3's ``BaseOptimizer._backend_apply_gradients`` does.
gpudnn's ``step_count`` counts every batch, as Keras's ``_iterations``; ``u`` is
``optimizer.iterations``, as Keras's property reports it.

1. Accumulation: a batch with ``(step_count + 1) % n != 0`` only adds its gradient,
   ``acc += g`` (no clipping, weight decay or moments). Every n-th batch updates with the mean,
   ``g = (g + acc) / n``, then ``acc = 0``: clipping, weight decay and the rule, with ``t = u +
   1`` as the step of the bias corrections (Keras's ``local_step = iterations + 1``), and the
   learning rate (a schedule's value) at ``step_count``, as Keras's at ``_iterations``.
2. Weight decay ``p -= p * lr * weight_decay`` skips the variables that
   ``exclude_from_weight_decay`` names.
3. EMA, after every batch: ``average = m * average + (1 - m) * p``, ``m = 0`` while ``u == 0``
   (so the average, zeros when built, starts as the weights) and ``ema_momentum`` after.
4. ``ema_overwrite_frequency = f``: the trainable weights are overwritten by their average when
   ``(u + 1) % f == 0``, after the batch's step.

On the device: the EMA is part of the update's launch (its EMA form: the weights' average
moves in the same pass, into the slot ``ema``), and an ``ema_update`` launch of its own on a
batch that only accumulates, reading ``m`` from a device array written by ``begin_step``; the
accumulator is the slot ``gradient_accumulator``, updated by one ``accumulate_gradients``
launch; the excluded variables are updated with a second per-step array, the same values with
decay 0 (the trainable ranges split once, at build, into runs with and without decay). The
device part of a batch has two forms while accumulating (accumulate only, or update), each
recorded once and replayed: :attr:`step_form` says which one a batch runs. The overwrite is a
copy made on the host side in ``end_step``, outside the recorded part.
"""

import numbers
import re

from ..errors import InvalidInputError
from ..utils.inputs import real_number


def _ema_momentum(value):
    number = real_number(value)
    if number is None or not 0 <= number <= 1:
        raise InvalidInputError(f"ema_momentum must be in [0, 1] (as Keras), not {value!r}")
    return float(number)


def _count(value, what, least):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise InvalidInputError(f"{what} must be None or an integer >= {least} (as Keras), not "
                                f"{value!r}")
    return int(value)


def _end_to_end(ranges):
    """``(start, stop, offset)`` of each ``(start, stop)`` range of the flat buffers, ``offset``
    where it starts in a buffer that holds the ranges end to end (the slots)."""
    parts, offset = [], 0
    for start, stop in ranges:
        parts.append((start, stop, offset))
        offset += stop - start
    return tuple(parts)


def _piece(array, start, stop):
    """``array[start:stop]``, or the array itself when that is all of it."""
    return array if (start, stop) == (0, array.shape[0]) else array[start:stop]


class OptimizerOptions:
    """Mixin of Optimizer: the options of the module docstring."""

    def _init_options(self, use_ema, ema_momentum, ema_overwrite_frequency,
                      gradient_accumulation_steps):
        self.use_ema = bool(use_ema)
        self.ema_momentum = _ema_momentum(ema_momentum)
        self.ema_overwrite_frequency = _count(ema_overwrite_frequency,
                                              "ema_overwrite_frequency", 1)
        self.gradient_accumulation_steps = _count(gradient_accumulation_steps,
                                                  "gradient_accumulation_steps", 2)
        self._excluded, self._excluded_pattern = (), None
        self._segment_variables = None  # the trainable variables (or names), one per segment
        self._decay_runs = None
        self._apply_now = True
        self._stepped = False
        self._target = None  # (params, parts) of the last update: end_step's overwrite

    def _options_config(self):
        return {"use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    def _option_slots(self):
        return (("ema",) if self.use_ema else ()) + \
            (("gradient_accumulator",) if self.gradient_accumulation_steps else ())

    # ------------------------------------------------------------------ weight decay
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras 3: no weight decay for the variables in ``var_list`` (``gpudnn.Variable`` s;
        a model's weights, e.g. from ``model.trainable_weights``, are matched by name) and for
        those whose name (``"dense/bias"``) matches one of the strings of ``var_names`` (Keras's
        ``re.search`` of ``"|".join(var_names)``: a plain word matches as a substring). Each
        call replaces the previous one. Call it before the optimizer's first step (Keras: before
        it is built); it then takes effect at the first step, also on a model just compiled or
        loaded. Not part of ``get_config``, as in Keras: after ``load_model`` call it again
        before training resumes."""
        if self._stepped:
            raise InvalidInputError(
                "exclude_from_weight_decay() can only be called before the optimizer's first "
                "step (as in Keras: before it is built); create the optimizer, call it, then "
                "compile and fit")
        variables = list(var_list or ())
        for v in variables:
            if not isinstance(getattr(v, "name", None), str):
                raise InvalidInputError(f"var_list takes gpudnn.Variables (e.g. "
                                        f"model.trainable_weights), not {type(v).__name__}")
        names = [var_names] if isinstance(var_names, str) else list(var_names or ())
        if not all(isinstance(n, str) for n in names):
            raise InvalidInputError(f"var_names takes strings, e.g. ['bias'], not {var_names!r}")
        try:
            pattern = re.compile("|".join(sorted(set(names)))) if names else None
        except re.error as exc:
            raise InvalidInputError(f"var_names {names!r} is not a pattern Keras accepts "
                                    f"(re.search): {exc}") from None
        self._excluded, self._excluded_pattern = tuple(variables), pattern
        if self.slots is not None:
            self._decay_runs = self._runs()

    def _is_excluded(self, variable):
        name = variable if isinstance(variable, str) else variable.name
        for v in self._excluded:  # the same Variable, or a view of a model's weight by name
            if v is variable or (getattr(v, "_owner", None) is not None and v.name == name):
                return True
        # Keras 3 searches variable.name, the weight's own name ("bias"), not its path
        # ("dense/bias"); gpudnn's model weights are named by path
        return self._excluded_pattern is not None and \
            self._excluded_pattern.search(name.rsplit("/", 1)[-1]) is not None

    def _runs(self):
        """``(start, stop, offset, decayed)`` of the trainable segments, adjacent ones of one
        kind merged (offset: where the run starts in the slots); None when none is excluded."""
        if self._segment_variables is None or not (self._excluded or self._excluded_pattern):
            return None
        decayed = [not self._is_excluded(v) for v in self._segment_variables]
        if all(decayed):
            return None
        runs = []
        for (start, stop, offset), on in zip(_end_to_end(self._segments), decayed):
            if runs and runs[-1][1] == start and runs[-1][3] == on:
                runs[-1] = (runs[-1][0], stop, runs[-1][2], on)
            else:
                runs.append((start, stop, offset, on))
        return tuple(runs)

    # ------------------------------------------------------------------ build and step
    def _build_options(self, backend, dtype, variables, fresh):
        """At build: the per-step array of the options (``hyper`` with decay 0, then the EMA
        momentum) and the weight-decay runs of ``variables`` (one per segment)."""
        if variables is not None:
            variables = tuple(variables)
            if len(variables) != len(self._segments):
                raise InvalidInputError(f"{len(variables)} variables for "
                                        f"{len(self._segments)} segments")
            self._segment_variables = variables
        elif fresh:
            self._segment_variables = None
        if fresh:
            self._option_values = backend.zeros((self.hyper_size + 1,), dtype)
            self._plain_hyper = self._option_values[:self.hyper_size]
            self._ema_rate = self._option_values[self.hyper_size:]
            self._options_written = None
            self._stepped = False
        self._decay_runs = self._runs()

    @property
    def step_form(self):
        """Which device step this batch runs: None without gradient accumulation, else
        ``"update"`` or ``"accumulate"`` (a recorded step is kept for each)."""
        if not self.gradient_accumulation_steps:
            return None
        return "update" if self._apply_now else "accumulate"

    def _updates_done(self):
        """Keras's ``iterations`` property: the updates done (batches // n when accumulating)."""
        n = self.gradient_accumulation_steps
        return self.step_count // n if n else self.step_count

    def _begin_options(self, backend, values):
        """Host part before a batch: whether it updates, and the options' per-step values
        (``values``: this batch's ``hyper``, None on a batch that only accumulates)."""
        self._stepped = True
        self._step_backend = backend
        self._apply_now = values is not None  # begin_step decided: this batch updates
        written = self._options_written
        plain = written[:-1] if written else (0.0,) * self.hyper_size
        if values is not None and self._decay_runs is not None:
            plain = (values[0], 0.0, *values[2:])
        rate = self.ema_momentum if self.use_ema and self._updates_done() else 0.0
        if (*plain, rate) != written and (self.use_ema or self._decay_runs is not None):
            backend.write_step_values(self._option_values, (*plain, rate))
            self._options_written = (*plain, rate)

    def _trainable_parts(self, size, ranges):
        """``(start, stop, offset)`` of each trainable range (slots hold them end to end)."""
        return _end_to_end(((0, size),) if ranges is None else ranges)

    def _accumulate(self, backend, grads, parts):
        acc = self.slots["gradient_accumulator"]
        for start, stop, offset in parts:
            backend.accumulate_gradients(_piece(grads, start, stop),
                                         _piece(acc, offset, offset + stop - start),
                                         self.gradient_accumulation_steps, self._apply_now)

    def _ema(self, slots):
        """The ``ema=(average, rate)`` an update folds in with ``use_ema`` (``slots``: the
        update's views of the slots), else None."""
        return (slots["ema"], self._ema_rate) if self.use_ema else None

    def _average(self, backend, params, parts):
        ema = self.slots["ema"]
        for start, stop, offset in parts:
            backend.ema_update(_piece(params, start, stop),
                               _piece(ema, offset, offset + stop - start), self._ema_rate)

    def _end_options(self):
        """Host part after a batch (before ``step_count`` moves): Keras's overwrite of the
        weights by their average every ``ema_overwrite_frequency`` updates."""
        f = self.ema_overwrite_frequency
        if self.use_ema and f and self._target is not None and (self._updates_done() + 1) % f == 0:
            params, parts = self._target
            ema = self.slots["ema"]
            for start, stop, offset in parts:
                self._step_backend.copy_into(_piece(params, start, stop),
                                             _piece(ema, offset, offset + stop - start))

    # ------------------------------------------------------------------ EMA at the end
    def finalize_variable_values(self, var_list):
        """Keras: with ``use_ema``, the variables of ``var_list`` (the trainable weights this
        optimizer was built for, e.g. ``model.trainable_weights``) take their moving average;
        ``fit`` calls it after the last epoch. Nothing happens without ``use_ema``, nor before
        the first step (there is no average yet)."""
        if not self.use_ema or self.slots is None or not self.step_count:
            return
        var_list = list(var_list)
        offsets = {(start, stop): offset for start, stop, offset in _end_to_end(self._segments)}
        if var_list and all(getattr(v, "_owner", None) is not None for v in var_list):
            keys = [tuple(v._owner[1:3]) for v in var_list]  # a model's weights: by place
        elif len(var_list) == len(self._segments):
            keys = list(self._segments)
        else:
            keys = [None]
        if any(key not in offsets for key in keys):
            raise InvalidInputError(
                f"finalize_variable_values got {len(var_list)} variables that are not the "
                f"{len(self._segments)} trainable variables this optimizer was built for "
                f"(as Keras: pass model.trainable_weights)")
        ema = self.slots["ema"]
        for v, (start, stop) in zip(var_list, keys):
            part = ema[offsets[(start, stop)]:offsets[(start, stop)] + stop - start]
            v.backend.copy_into(v.value, part.reshape(v.shape))
