"""``History``: the per-epoch logs ``fit`` returns."""

from .callback import Callback


class History(Callback):
    """Returned by ``fit``: ``history.history["loss"]`` etc., one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.params = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
