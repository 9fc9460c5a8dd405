"""``ReduceLROnPlateau``: multiply the learning rate by ``factor`` when a monitored quantity has
not improved for ``patience`` epochs (Keras 3 semantics).

Improvement: ``current < best - min_delta`` in min mode, ``current > best + min_delta`` in max
mode ("auto": max when the name contains "acc", else min, as Keras decides here). In cooldown
(``cooldown`` epochs after a reduction) ``wait`` stays 0. A reduction gives
``max(lr * factor, min_lr)`` and happens only while ``lr > min_lr`` (compared in float32).
Every epoch's logs get ``learning_rate``.
"""

import numpy as np

from ..errors import InvalidInputError
from .callback import Callback
from ..utils.inputs import non_negative_int
from .monitor import check_mode, monitored, number


class ReduceLROnPlateau(Callback):
    wants_batch_logs = False

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__()
        factor = number(factor, "ReduceLROnPlateau factor")
        if not 0 <= factor < 1:
            raise InvalidInputError(
                f"ReduceLROnPlateau does not support a factor >= 1.0 (or < 0); got {factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = non_negative_int(patience, "ReduceLROnPlateau patience")
        self.verbose = verbose
        self.mode = check_mode(mode, "ReduceLROnPlateau")
        self.min_delta = number(min_delta, "ReduceLROnPlateau min_delta")
        self.cooldown = non_negative_int(cooldown, "ReduceLROnPlateau cooldown")
        self.min_lr = number(min_lr, "ReduceLROnPlateau min_lr")
        self._reset()

    def _reset(self):
        self._max = self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)
        self.best = -np.inf if self._max else np.inf
        self.cooldown_counter = 0
        self.wait = 0

    def _improves(self, current):
        if self._max:
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = monitored(logs, self.monitor, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new_lr}.", flush=True)
                    self.cooldown_counter = self.cooldown
                    self.wait = 0
