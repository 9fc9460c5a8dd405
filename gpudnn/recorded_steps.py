"""The recorded training steps of one model: record the device part of ``fit``'s step on its
first run for a batch size, replay it after (see :mod:`gpudnn.backend.capture`).

A recording is tied to the exact objects it was made with -- the batch's workspace, the
accumulators, the optimizer and its per-step array, the parameters -- and is dropped when the
model is rebuilt or recompiled. Hyperparameters other than the learning rate (betas, epsilon,
momentum, clipping norms, activation slopes) are fixed for the life of a recording, as they are
for a captured CUDA graph; the learning rate and everything derived from the step count are read
from the optimizer's device array at every replay.

``GPUDNN_RECORD_STEPS=0`` turns recording off (every step then runs eagerly).
"""

import os
import warnings

from .backend.capture import RecordedStep, RecordingBackend

#: Recordings a model keeps (fit uses two batch sizes: the full and the last partial batch).
MAX_RECORDINGS = 4


def capture_enabled():
    """False when ``GPUDNN_RECORD_STEPS`` is ``0``/``false``/``no``/``off``."""
    return os.environ.get("GPUDNN_RECORD_STEPS", "1").strip().lower() not in ("0", "false", "no",
                                                                              "off")


class RecordedSteps:
    """Recordings by batch size; :meth:`run` records, replays, or runs eagerly."""

    def __init__(self):
        self._entries = {}
        self.replays = 0  # steps served by a replay (tests and benchmarks read it)

    def run(self, model, ws, totals):
        """Run ``model._device_step(ws, totals)``: replayed when a recording of exactly these
        buffers exists, else run eagerly while recording it."""
        key = (id(ws), tuple(map(id, totals)))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is ws and _same(entry[1], totals) \
                and _same(entry[2], self._state_of(model)):
            step = entry[3]
            if step is None:
                model._device_step(ws, totals)
            else:
                step.replay()
                self.replays += 1
            return
        recorder = RecordingBackend(model.backend)
        model.backend = recorder
        try:
            model._device_step(ws, totals)
        finally:
            model.backend = recorder._backend
        step = None
        if recorder.unusable is not None:
            warnings.warn(f"gpudnn: this model's training step cannot be recorded "
                          f"({recorder.unusable}); it runs eagerly", RuntimeWarning,
                          stacklevel=4)
        else:
            step = RecordedStep(recorder.calls)
        while len(self._entries) >= MAX_RECORDINGS:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (ws, list(totals), self._state_of(model), step)

    @staticmethod
    def _state_of(model):
        """What a recording is made of besides the batch: these objects must not change."""
        opt = model.optimizer
        return (model.params, model.grads, opt, opt.hyper, model.loss, tuple(model.metric_names))


def _same(a, b):
    """Element-wise identity of two sequences (arrays compared by identity, not by value)."""
    return len(a) == len(b) and all(x is y or (isinstance(x, tuple) and x == y)
                                    for x, y in zip(a, b))
