"""The public loops of a model: ``fit``, ``evaluate``, ``predict``, ``train_on_batch``,
``gradients`` and ``model(x)``; the epochs themselves are in fit.py and inference.py."""


from ..callbacks import CallbackList
from ..errors import InvalidInputError
from ..layers.symbolic import KerasTensor
from ..utils import inputs
from . import fit as fit_loop
from .data_adapters import adapt, checked_arrays, unwrap_named
from .inference import evaluate_source, predict_source


class Loops:
    """Mixin of ``Sequential``: the methods that walk data through the step."""

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train until epoch ``epochs`` in passes over the data in mini-batches; returns a
        History. Keras 3's arguments, in its order.

        x: features (samples, ...) as a NumPy array, a memory-mapped array (streamed, never read
        whole), a CuPy array or any ``__dlpack__`` / ``__cuda_array_interface__`` tensor (used in
        place on the model's device), or a generator / iterable / ``gpudnn.utils.PyDataset`` of
        ``(x, y)`` or ``(x, y, sample_weight)`` batches (then y and sample_weight stay None).
        y: one-hot (samples, classes), class indices (samples,) for
        sparse_categorical_crossentropy, or targets (samples, outputs). ``sample_weight``
        (samples,) weighs each sample's loss; ``class_weight`` {class: weight} each class's
        (Keras's rule: ``sum_i w_i L_i / n`` per batch). ``validation_split`` holds out the last
        fraction of the samples (before shuffling), as Keras does. ``initial_epoch``: the epoch
        to start at (resuming a run). ``steps_per_epoch``: batches per epoch from a generator
        (needed when it is unbounded). ``validation_freq``: validate after every n-th epoch, or
        after the listed epochs (``[1, 5, 10]``, from 1). The History is also
        ``model.history``. Batches are shuffled with ``model.rng``. Ctrl-C stops after the
        current step and re-raises KeyboardInterrupt (see gpudnn.training).
        """
        self._require_compiled("fit")
        self.reset_metrics()
        initial_epoch = inputs.non_negative_int(initial_epoch, "initial_epoch")
        return fit_loop.fit(self, x, y, _batch_size(batch_size),
                            inputs.positive_int(epochs, "epochs"), _verbosity(verbose), callbacks,
                            validation_split, validation_data, shuffle, initial_epoch,
                            sample_weight, class_weight, _steps(steps_per_epoch, "steps_per_epoch"),
                            _steps(validation_steps, "validation_steps"),
                            None if validation_batch_size is None
                            else _batch_size(validation_batch_size), validation_freq)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One gradient step on (x, y) as a single batch; returns the loss (and metrics), or
        with ``return_dict`` the dict ``{"loss": ..., <metric name>: ...}``. As Keras 3's, the
        values are running means over every batch given to ``train_on_batch`` and
        ``test_on_batch`` since the last ``reset_metrics()`` (or compile, fit, evaluate)."""
        self._require_compiled("train_on_batch")
        return_dict = inputs.flag(return_dict, "return_dict")
        ws, weighted = self._batch_workspace("train_on_batch", x, y, sample_weight, class_weight)
        running = self._running_metrics()
        self._sample_weighted = weighted
        try:
            self._train_batch(ws, running[0])
        finally:
            self._sample_weighted = False
        running[1] += ws.n
        return self._result(self._logs(*running), return_dict)

    def reset_metrics(self):
        """Start the running loss and metrics of ``train_on_batch`` / ``test_on_batch`` over
        (Keras's ``model.reset_metrics()``)."""
        self.__dict__.pop("_running", None)

    def _running_metrics(self):
        """``[totals, samples]`` of the batch calls since the last reset (made as needed)."""
        running = self.__dict__.get("_running")
        if running is None or [t.shape for t in running[0]] != self._totals_shapes():
            running = self._running = [self._new_totals(), 0]
        return running

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss (and metrics) of (x, y) as a single batch, as ``train_on_batch`` returns
        them (running means since the last reset, as Keras 3's); no weight changes."""
        self._require_compiled("test_on_batch")
        return_dict = inputs.flag(return_dict, "return_dict")
        data = adapt(self, "evaluate", x, y, sample_weight, batch_size=_whole_batch(x))
        try:
            return self._result(evaluate_source(self, data, running=self._running_metrics()),
                                return_dict)
        finally:
            data.close()

    def predict_on_batch(self, x):
        """The model's outputs for x as one batch, as a host NumPy array."""
        data = adapt(self, "predict", x, batch_size=_whole_batch(x))
        try:
            return predict_source(self, data)
        finally:
            data.close()

    def gradients(self, x, y):
        """dL/dparameter for the batch (x, y) as host arrays in get_weights order; no update.

        L is the compiled loss averaged over the batch plus the layers' weight penalties, exactly
        what ``train_on_batch`` descends. The forward pass is the training one: as in Keras,
        BatchNormalization's moving statistics move; frozen weights' gradients are 0.
        """
        self._require_compiled("gradients")
        ws, _ = self._batch_workspace("gradients", x, y)
        self._refresh_half_weights()
        self._forward(ws.x, ws, training=True)
        self._backward(ws)
        self._advance_step()
        return [self.backend.to_host(grad) for layer in self._leaf_layers
                for grad in layer.gradient_views()]

    def _result(self, logs, return_dict=False):
        """Keras's return value: ``loss``, ``[loss, *metrics]`` in compile's order, or with
        ``return_dict`` the dict of the logs."""
        if return_dict:
            return {"loss": logs["loss"], **{name: logs[name] for name in self.metric_names}}
        values = [logs["loss"]] + [logs[name] for name in self.metric_names]
        return values if self.metric_names else values[0]

    def evaluate(self, x=None, y=None, batch_size=None, verbose=1, sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Mean loss (and metrics) over the data: ``loss`` or ``[loss, *metrics]`` like Keras,
        or with ``return_dict`` the dict ``{"loss": ..., <metric name>: ...}``. Takes the data
        fit takes; ``sample_weight`` weighs each sample's loss; ``steps``: batches to read from
        a generator (None: until it ends); ``callbacks``: their test hooks run, as Keras's."""
        self._require_compiled("evaluate")
        self.reset_metrics()
        return_dict = inputs.flag(return_dict, "return_dict")
        verbose = _verbosity(verbose)
        data = adapt(self, "evaluate", x, y, sample_weight, batch_size=_batch_size(batch_size),
                     steps=_steps(steps, "steps"))
        try:
            cbs = _callbacks(self, callbacks, data, verbose)
            logs = evaluate_source(self, data, verbose=verbose, cbs=cbs)
        finally:
            data.close()
        if logs is None:
            raise InvalidInputError("the data given to evaluate() yields no batch (a generator "
                                    "that is already exhausted?)")
        return self._result(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs for x as a host NumPy array (samples, outputs); x as fit takes it
        (a generator's batches may be x alone); ``callbacks``: their predict hooks run.
        ``verbose`` as Keras's: "auto" (1) draws the progress bar, 0 is silent."""
        verbose = _verbosity(verbose)
        self._check_weights_here("predict()", training=False)
        data = adapt(self, "predict", x, batch_size=_batch_size(batch_size),
                     steps=_steps(steps, "steps"))
        try:
            return predict_source(self, data, verbose, _callbacks(self, callbacks, data, verbose))
        finally:
            data.close()

    def __call__(self, x, training=None):
        """The model's outputs for x in one batch: a host NumPy array, or an array on the
        model's device when x is one (as Keras returns a tensor of its backend).

        ``training=True`` applies Dropout with the model's current step (the mask the next
        training step will draw) and normalizes by the batch; as Keras's training-mode call,
        it moves BatchNormalization's moving statistics and changes no other weight. None
        (default) or False is inference. Called on a KerasTensor (the functional API), the
        model becomes a layer of the model built from the result.
        """
        if isinstance(x, KerasTensor):  # the functional API: gpudnn.Model(inputs, outputs)
            return self._call_symbolic(x, training)
        if training not in (True, False, None):
            raise InvalidInputError(f"training must be True, False or None, not {training!r}")
        self._check_weights_here("model(x)", training=False)
        be = self.backend
        x_in = be.foreign_input(unwrap_named(self, x, "x"), "x")
        on_device = be.is_device_array(x_in)
        x_dev = self._prepare_device("predict", x_in) if on_device \
            else be.adopt(self._prepare_features(x_in))
        ws = self._workspace(x_dev.shape[0], with_grads=False)
        self._refresh_half_weights()
        out = self._forward(x_dev, ws, training=bool(training))
        return out.copy() if on_device else be.to_host(out)

    def _batch_workspace(self, caller, x, y, sample_weight=None, class_weight=None):
        """(x, y) checked (as ``fit`` checks arrays) and copied into the workspace of its size,
        as one batch, with the batch's weights in ``ws.w`` when given. Returns
        ``(ws, weighted)``."""
        x, y_host, w_host = checked_arrays(self, caller, x, y, sample_weight, class_weight)
        be = self.backend
        ws = self._workspace(x.shape[0], with_grads=True)
        be.copy_into(ws.x, x)
        be.copy_into(ws.y, y_host)
        if w_host is not None:
            be.copy_into(ws.w, w_host)
        return ws, w_host is not None


def _verbosity(verbose):
    """Keras's verbose argument: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1."""
    if isinstance(verbose, bool) or verbose not in (0, 1, 2, "auto"):
        raise InvalidInputError(f"verbose must be 0, 1, 2 or 'auto', not {verbose!r}")
    return 1 if verbose == "auto" else verbose


def _callbacks(model, callbacks, data, verbose):
    """The CallbackList of an evaluate or predict call (no History)."""
    return CallbackList(callbacks, model, {"epochs": 1, "steps": data.steps,
                                           "verbose": verbose}, add_history=False)


def _batch_size(batch_size):
    """Keras's default batch size (32) or the given one, checked."""
    return inputs.positive_int(32 if batch_size is None else batch_size, "batch_size")


def _steps(steps, what):
    """A positive number of batches, or None."""
    return None if steps is None else inputs.positive_int(steps, what)


def _whole_batch(x):
    """The batch size that makes x one batch (its length; any size for a Python source)."""
    try:
        return max(1, len(x))
    except TypeError:
        return 32
