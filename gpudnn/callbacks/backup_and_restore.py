"""``BackupAndRestore``: survive an interrupted ``fit`` (Keras 3 semantics, exact resume).

At each epoch end the whole training state — weights, optimizer slots and step count, learning
rate, the model's random generator (batch order) and state arrays — goes to
``backup_dir/latest.gpudnn`` (the model file format, written atomically), with the next epoch's
index. A ``fit`` started with the same callback after a crash, a kill or an exception restores
that state in ``on_train_begin`` and continues from that epoch: on the CPU it ends bit for bit
where an uninterrupted run ends. The model must be built and compiled as in the first run.
Other callbacks' own state (EarlyStopping's patience, ReduceLROnPlateau's counters) is not
backed up, as in Keras. When ``fit`` finishes normally the backup is deleted
(``delete_checkpoint``), and the folder too when that leaves it empty.
"""

import os

from .. import saving
from ..errors import InvalidInputError
from .callback import Callback

FILE_NAME = "latest.gpudnn"


class BackupAndRestore(Callback):
    wants_batch_logs = False

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise InvalidInputError("BackupAndRestore needs a backup_dir")
        if save_freq != "epoch":
            raise InvalidInputError(
                f"BackupAndRestore save_freq={save_freq!r} is not supported: gpudnn backs up at "
                f"epoch ends (save_freq='epoch'), the points it can resume from exactly")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self._path = os.path.join(self.backup_dir, FILE_NAME)

    def on_train_begin(self, logs=None):
        if not os.path.exists(self._path):
            return
        extra = saving.restore_state(self.model, self._path, check_extra=self._check_epoch)
        self.model._initial_epoch = extra["epoch"]

    def _check_epoch(self, extra):
        """Before anything is restored: the file must be a backup of this callback's."""
        epoch = extra.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise InvalidInputError(f"{self._path}: not a BackupAndRestore backup (no epoch)")

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        saving.save_model(self.model, self._path, extra_state={"epoch": epoch + 1})

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self._path):
            os.remove(self._path)
            try:
                os.rmdir(self.backup_dir)
            except OSError:
                pass  # not empty: other files are not ours to delete
