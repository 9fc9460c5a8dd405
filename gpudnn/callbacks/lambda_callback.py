"""``LambdaCallback``: a callback made of functions, as Keras 3's.

``LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))``: each hook given
(``on_epoch_begin``, ``on_epoch_end``, ``on_train_begin``, ``on_train_end``,
``on_train_batch_begin``, ``on_train_batch_end``, and by keyword any other hook of
``Callback``, e.g. ``on_batch_end`` or ``on_test_end``) replaces the hook of that name; the
others do nothing. A function given for a batch's end gets the running logs every batch. As
in Keras any ``on_...`` hook is taken (``on_test_batch_end``, ``on_predict_batch_end``...:
evaluate and predict take ``callbacks=`` too).
"""

from ..errors import InvalidInputError
from .callback import Callback

#: The hooks a LambdaCallback may be given.
HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
         "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
         "on_test_begin", "on_test_end")


class LambdaCallback(Callback):
    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        unknown = sorted(name for name in kwargs if not name.startswith("on_"))
        if unknown:
            raise InvalidInputError(f"LambdaCallback takes hooks as functions, such as "
                                    f"{', '.join(HOOKS)}; not {unknown}")
        given = dict(kwargs, on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in given.items():
            if function is None:
                continue
            if not callable(function):
                raise InvalidInputError(f"LambdaCallback {name} must be a function, not "
                                        f"{function!r}")
            setattr(self, name, function)

    def needs_batch_logs(self):
        return "on_train_batch_end" in vars(self) or "on_batch_end" in vars(self)

    def needs_test_batch_logs(self):
        return "on_test_batch_end" in vars(self)
