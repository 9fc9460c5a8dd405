"""``EarlyStopping``: stop when a monitored quantity has stopped improving (Keras 3 semantics).

At each epoch end from ``start_from_epoch`` on, with ``current = logs[monitor]``: ``wait``
grows by one; if ``current`` improves on the best by more than ``min_delta`` (``current +
min_delta < best`` in min mode, ``current - min_delta > best`` in max mode) it becomes the best
and ``wait`` restarts at 0 — when ``baseline`` is set, only if ``current`` also improves on the
baseline. When ``wait >= patience`` (and the epoch is not the first) training stops.
``restore_best_weights`` puts back the weights of the best epoch at the end of training (the
first monitored epoch's when none improved).
"""

from .callback import Callback
from ..utils.inputs import non_negative_int
from .monitor import check_mode, direction, improves, monitored, number


class EarlyStopping(Callback):
    wants_batch_logs = False

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self.monitor = monitor
        self.min_delta = abs(number(min_delta, "EarlyStopping min_delta"))
        self.patience = non_negative_int(patience, "EarlyStopping patience")
        self.verbose = verbose
        self.mode = check_mode(mode, "EarlyStopping")
        self.baseline = None if baseline is None else number(baseline, "EarlyStopping baseline")
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = non_negative_int(start_from_epoch,
                                                 "EarlyStopping start_from_epoch")
        self._direction = None
        self.best = None   # kept across fit calls, as in Keras
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights = None
        self.best_epoch = 0

    def _improves(self, value, reference):
        return improves(self._direction, value, reference, self.min_delta)

    def on_epoch_end(self, epoch, logs=None):
        if self._direction is None:
            self._direction = direction(self.monitor, self.mode, "EarlyStopping", self.model)
        if self.best is None:
            self.best = float("inf") if self._direction == "min" else float("-inf")
        current = monitored(logs, self.monitor, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                          f"{self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)
