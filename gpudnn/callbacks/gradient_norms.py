"""Per-layer gradient norms during training: the measurement behind "sigmoid's gradient vanishes".

``GradientNormRecorder`` is a callback. Every ``every``-th training batch it computes, for each
layer with parameters, the L2 norm of that layer's whole gradient (kernel and bias together),

    ||g_layer||_2 = sqrt(sum(dL/dW ** 2) + sum(dL/db ** 2)),

as the optimizer is about to see it (the gradient of the batch's mean loss). The squared sums stay
on the device and reach the host once per epoch, so recording does not add a host sync per batch.

    rec = GradientNormRecorder(every=10)
    model.fit(x, y, epochs=3, callbacks=[rec])
    rec.norms          # {"dense": [0.8, 0.7, ...], "dense_1": [...], ...} in layer order
    rec.mean_norms()   # {"dense": 0.74, ...}
"""

import math

from .callback import Callback
from ..errors import InvalidInputError


class GradientNormRecorder(Callback):
    """Records the gradient L2 norm of every layer with parameters, every ``every`` batches.

    Attributes, filled during ``fit`` (and kept across several ``fit`` calls):
        norms: dict layer name -> list of norms, one per recorded batch, layers in model order.
        steps: the global batch numbers (counted from 0 over all epochs) that were recorded.
    """

    wants_batch_logs = False   # reads gradients, not the running logs

    def __init__(self, every=1):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidInputError(f"every must be a positive integer, not {every!r}")
        self.every = every
        self.norms = {}
        self.steps = []
        self._step = 0
        self._pending = []

    def on_train_begin(self, logs=None):
        self._layers = [layer for layer in self.model._leaf_layers if layer.param_specs()]
        for layer in self._layers:
            self.norms.setdefault(layer.name, [])

    def on_train_batch_end(self, batch, logs=None):
        if self._step % self.every == 0:
            be = self.model.backend
            squares = []
            for layer in self._layers:
                total = None
                for grad in layer.gradient_views():
                    part = be.sum_squares(grad)
                    total = part if total is None else total + part
                squares.append(total)
            self._pending.append((self._step, squares))
        self._step += 1

    def on_epoch_end(self, epoch, logs=None):
        self.flush()

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self):
        """Bring the squared sums recorded since the last epoch end to the host, as norms.

        ``fit`` does this at every epoch end; call it yourself after an interrupted ``fit``.
        """
        to_host = self.model.backend.to_host
        for step, squares in self._pending:
            self.steps.append(step)
            for layer, square in zip(self._layers, squares):
                self.norms[layer.name].append(math.sqrt(float(to_host(square))))
        self._pending = []

    def mean_norms(self):
        """Mean recorded norm of each layer: dict layer name -> float (NaN if none recorded)."""
        return {name: (sum(values) / len(values) if values else math.nan)
                for name, values in self.norms.items()}
