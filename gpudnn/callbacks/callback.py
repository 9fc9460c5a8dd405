"""The ``Callback`` base class: subclass it and override the hooks you need, as in Keras.

Hooks ``fit`` calls: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_train_batch_begin(batch, logs)``, ``on_train_batch_end(batch, logs)``,
``on_test_begin(logs)`` / ``on_test_end(logs)`` (around the validation pass at each epoch end),
``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``. ``on_batch_begin``/``on_batch_end`` are
Keras's older names, called by the default ``on_train_batch_begin``/``on_train_batch_end``.
``evaluate(callbacks=...)`` (and fit's validation pass) call ``on_test_begin``,
``on_test_batch_begin(batch, logs)``, ``on_test_batch_end(batch, logs)`` (the running logs when
the class overrides it, else ``{}``) and ``on_test_end(logs)``; ``predict(callbacks=...)`` calls
``on_predict_begin``, ``on_predict_batch_begin``, ``on_predict_batch_end(batch, {"outputs":
the batch's predictions})`` and ``on_predict_end``, as Keras.
``self.model`` is the model being trained, ``self.params`` ``{"epochs", "steps", "verbose"}``;
setting ``model.stop_training = True`` ends ``fit`` after the current batch.

Batch logs: Keras passes ``on_train_batch_end`` the epoch's running mean loss and metrics. Here
they live on the device, and reading them is a host sync, so ``fit`` reads them every batch only
when some callback wants them: one whose ``wants_batch_logs`` is True, or (the default, None)
whose class overrides ``on_train_batch_end`` or ``on_batch_end``. Otherwise a batch's logs are
``{}``, except on the batches where ``fit`` reads them anyway (progress-bar updates and the last
batch of each epoch). Built-in callbacks that only glance at batch logs set
``wants_batch_logs = False``.
"""


class Callback:
    #: True: on_train_batch_end needs the running logs every batch; False: it does not;
    #: None: True when the class overrides on_train_batch_end or on_batch_end.
    wants_batch_logs = None

    def __init__(self):
        self.model = None
        self.params = {}

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def needs_batch_logs(self):
        """Whether ``fit`` must read the running logs from the device after every batch."""
        if self.wants_batch_logs is not None:
            return bool(self.wants_batch_logs)
        cls = type(self)
        return cls.on_train_batch_end is not Callback.on_train_batch_end \
            or cls.on_batch_end is not Callback.on_batch_end

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def needs_test_batch_logs(self):
        """Whether ``evaluate`` must read the running logs after every batch: when the class
        overrides ``on_test_batch_end`` (a host sync each batch, as for training batches)."""
        return type(self).on_test_batch_end is not Callback.on_test_batch_end
