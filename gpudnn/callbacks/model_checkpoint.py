"""``ModelCheckpoint``: save the model (or its weights) at each epoch end (Keras 3 semantics).

``filepath`` may hold ``str.format`` fields filled with ``epoch`` (from 1) and the epoch's logs,
e.g. ``"ckpt-{epoch:02d}-{val_loss:.4f}.gpudnn"``; its folder is created when missing. With
``save_best_only`` a file is written only when ``monitor`` improves on the best so far
(``current < best`` in min mode, ``current > best`` in max mode; ``initial_value_threshold`` is
the starting best; a missing monitor value saves, with Keras's warning). Every write
is atomic (gpudnn.saving.atomic_write): a run killed while checkpointing leaves the previous
checkpoint intact. ``save_freq`` is ``"epoch"`` (saving every N batches is not supported).
"""

import os

from ..errors import InvalidInputError
from .callback import Callback
from .monitor import check_mode, direction, improves, monitored, number


class ModelCheckpoint(Callback):
    wants_batch_logs = False

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch":
            raise InvalidInputError(
                f"ModelCheckpoint save_freq={save_freq!r} is not supported: gpudnn saves at "
                f"epoch ends only (save_freq='epoch')")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.mode = check_mode(mode, "ModelCheckpoint")
        self.save_freq = save_freq
        self.best = None if initial_value_threshold is None else \
            number(initial_value_threshold, "initial_value_threshold")
        self._direction = None

    def _file_path(self, epoch, logs):
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot fill ModelCheckpoint filepath {self.filepath!r} ({type(exc).__name__}: "
                f"{exc}); its fields can be epoch and the logs' keys: "
                f"{', '.join(sorted(logs))}") from None

    def _improves(self, current):
        if self.best is None:
            return True
        return improves(self._direction, current, self.best)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only and self._direction is None:
            self._direction = direction(self.monitor, self.mode, "ModelCheckpoint",
                                        self.model)
        path = self._file_path(epoch, logs)
        if self.save_best_only:
            current = monitored(logs, self.monitor, "ModelCheckpoint (save_best_only)")
            if current is not None:
                best = "None" if self.best is None else f"{self.best:.5f}"
                if not self._improves(current):
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}",
                              flush=True)
                    return
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                          f"{current:.5f}, saving model to {path}", flush=True)
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}", flush=True)
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
