"""``History``: the per-epoch logs ``fit`` returns."""

from .callback import Callback


class History(Callback):
    """Returned by ``fit``: ``history.history["loss"]`` etc., one value per epoch, and
    ``history.epoch``, the epoch indices run (from ``initial_epoch``). ``fit`` calls it after
    every other callback, as Keras does, so it records what they add to the logs (e.g.
    ``learning_rate``)."""

    wants_batch_logs = False

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
