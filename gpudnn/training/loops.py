"""The public loops of a model: ``fit``, ``evaluate``, ``predict``, ``train_on_batch``,
``gradients`` and ``model(x)``; the epochs themselves are in fit.py and inference.py."""

import numpy as np

from ..errors import InvalidInputError
from ..utils import inputs
from . import fit as fit_loop
from .inference import evaluate_on_device, inference_batches


class Loops:
    """Mixin of ``Sequential``: the methods that walk data through the step."""

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
        """Train until epoch ``epochs`` in passes over (x, y) in mini-batches; returns a History.

        x (samples, features), y one-hot (samples, classes), class indices (samples,) for
        sparse_categorical_crossentropy, or targets (samples, outputs). ``validation_split``
        holds out the last fraction of the samples (before shuffling), as Keras does.
        ``initial_epoch``: the epoch to start at (resuming a run): epochs ``initial_epoch`` ..
        ``epochs - 1`` run. Batches are shuffled with ``model.rng``. Ctrl-C stops after the
        current step and re-raises KeyboardInterrupt (see gpudnn.training).
        """
        self._require_compiled("fit")
        initial_epoch = inputs.non_negative_int(initial_epoch, "initial_epoch")
        return fit_loop.fit(self, x, y, _batch_size(batch_size),
                            inputs.positive_int(epochs, "epochs"), _verbosity(verbose), callbacks,
                            validation_split, validation_data, shuffle, initial_epoch)

    def train_on_batch(self, x, y):
        """One gradient step on (x, y) as a single batch; returns the batch's loss (and metrics)."""
        self._require_compiled("train_on_batch")
        ws = self._batch_workspace("train_on_batch", x, y)
        totals = self._new_totals()
        self._train_batch(ws, totals)
        return self._result(self._logs(totals, ws.n))

    def gradients(self, x, y):
        """dL/dparameter for the batch (x, y) as host arrays in get_weights order; no update.

        L is the compiled loss averaged over the batch plus the layers' weight penalties, exactly
        what ``train_on_batch`` descends.
        """
        self._require_compiled("gradients")
        ws = self._batch_workspace("gradients", x, y)
        self._forward(ws.x, ws, training=True)
        self._backward(ws)
        self._advance_step()
        return [self.backend.to_host(grad) for layer in self._leaf_layers
                for grad in layer.gradient_views()]

    def _result(self, logs):
        values = [logs["loss"]] + [logs[name] for name in self.metric_names]
        return values if self.metric_names else values[0]

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1):
        """Mean loss (and metrics) over (x, y): ``loss`` or ``[loss, *metrics]`` like Keras."""
        self._require_compiled("evaluate")
        verbose = _verbosity(verbose)
        batch_size = _batch_size(batch_size)
        x_host, y_host = self._prepare("evaluate", x, y)
        be = self.backend
        logs = evaluate_on_device(self, be.from_host(x_host), be.from_host(y_host),
                                           batch_size, verbose=verbose)
        return self._result(logs)

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs for x as a host NumPy array (samples, outputs)."""
        verbose = _verbosity(verbose)
        batch_size = _batch_size(batch_size)
        x_host, _ = self._prepare("predict", x, None)
        result = np.empty((x_host.shape[0], self.output_dim), dtype=self.dtype)
        no_logs = lambda done: {}  # noqa: E731
        for rows, prediction in inference_batches(self, self.backend.from_host(x_host),
                                                           batch_size, verbose, no_logs):
            result[rows] = self.backend.to_host(prediction)
        return result

    def __call__(self, x, training=False):
        """The model's outputs for x as a host NumPy array (samples, outputs), in one batch.

        ``training=True`` applies Dropout with the model's current step (the mask the next
        training step will draw) and changes nothing; False (default) or None is inference.
        """
        if training not in (True, False, None):
            raise InvalidInputError(f"training must be True, False or None, not {training!r}")
        x_host, _ = self._prepare("predict", x, None)
        be = self.backend
        ws = self._workspace(x_host.shape[0], with_grads=False)
        return be.to_host(self._forward(be.from_host(x_host), ws, training=bool(training)))


def _verbosity(verbose):
    """Keras's verbose argument: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1."""
    if isinstance(verbose, bool) or verbose not in (0, 1, 2, "auto"):
        raise InvalidInputError(f"verbose must be 0, 1, 2 or 'auto', not {verbose!r}")
    return 1 if verbose == "auto" else verbose


def _batch_size(batch_size):
    """Keras's default batch size (32) or the given one, checked."""
    return inputs.positive_int(32 if batch_size is None else batch_size, "batch_size")
