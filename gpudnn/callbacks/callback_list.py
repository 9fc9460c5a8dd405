"""``CallbackList``: the callbacks of one ``fit`` call, checked, and each hook sent to all."""

from ..errors import InvalidInputError
from .callback import Callback
from .history import History


class CallbackList:
    """The user's callbacks, then a fresh ``History`` (last, as in Keras)."""

    def __init__(self, callbacks, model, params):
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise InvalidInputError(
                    f"callbacks must be gpudnn.callbacks.Callback objects, not {cb!r}")
        self.history = History()
        self.callbacks = callbacks + [self.history]
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        #: whether fit must read the running logs from the device after every batch
        self.wants_batch_logs = any(cb.needs_batch_logs() for cb in self.callbacks)

    def any(self, cls):
        return any(isinstance(cb, cls) for cb in self.callbacks)

    def on_train_begin(self, logs):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs):
        for cb in self.callbacks:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs):
        for cb in self.callbacks:
            cb.on_train_batch_end(batch, logs)

    def on_test_begin(self, logs):
        for cb in self.callbacks:
            cb.on_test_begin(logs)

    def on_test_end(self, logs):
        for cb in self.callbacks:
            cb.on_test_end(logs)
