"""Callbacks for ``fit``, as in Keras: subclass ``Callback`` and override the hooks you need.

Hooks: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
``on_train_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``.
``self.model`` is the model being trained; setting ``model.stop_training = True`` ends ``fit``
after the current batch.
"""


class Callback:
    def __init__(self):
        self.model = None

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass
