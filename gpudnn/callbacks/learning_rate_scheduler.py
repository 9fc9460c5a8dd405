"""``LearningRateScheduler``: at each epoch start, ``lr = schedule(epoch, lr)`` (epoch from 0;
a one-argument ``schedule(epoch)`` also works, as in Keras), set on ``model.optimizer``; the
epoch's logs get ``learning_rate``."""

import math

import numpy as np

from ..errors import InvalidInputError
from .callback import Callback


class LearningRateScheduler(Callback):
    wants_batch_logs = False

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise InvalidInputError(f"schedule must be a function (epoch, lr) -> lr, not {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:  # Keras's older one-argument schedules
            lr = self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, (float, int, np.floating)) \
                or not math.isfinite(lr) or lr < 0:
            raise InvalidInputError(
                f"the schedule returned {lr!r} for epoch {epoch}; it must return a finite "
                f"learning rate >= 0 (a float)")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.",
                  flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)
