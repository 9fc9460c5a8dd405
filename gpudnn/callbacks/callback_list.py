"""``CallbackList``: the callbacks of one ``fit`` call, checked, and each hook sent to all."""

from ..errors import InvalidInputError
from .callback import Callback
from .history import History


class CallbackList:
    """The user's callbacks, then a fresh ``History`` (last, as in Keras; none for evaluate and
    predict, ``add_history=False``). Each hook of Callback (``on_epoch_end(epoch, logs)``, ...)
    is a method that sends it to every callback, in order."""

    def __init__(self, callbacks, model, params, add_history=True):
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise InvalidInputError(
                    f"callbacks must be gpudnn.callbacks.Callback objects, not {cb!r}")
        self.history = History() if add_history else None
        self.callbacks = callbacks + ([self.history] if add_history else [])
        for cb in self.callbacks:
            cb.set_model(model)
            cb.set_params(params)
        #: whether fit must read the running logs from the device after every batch
        self.wants_batch_logs = any(cb.needs_batch_logs() for cb in self.callbacks)
        #: whether evaluate must read the running logs after every batch
        self.wants_test_batch_logs = any(cb.needs_test_batch_logs() for cb in self.callbacks)

    def any(self, cls):
        return any(isinstance(cb, cls) for cb in self.callbacks)


def _send(hook):
    def send(self, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)
    send.__name__ = hook
    send.__doc__ = f"``{hook}`` of each callback, in order."
    return send


# one method per hook of Callback (on_epoch_end, on_test_batch_begin, ...), made once here
for _hook in [name for name in vars(Callback) if name.startswith("on_")]:
    setattr(CallbackList, _hook, _send(_hook))
