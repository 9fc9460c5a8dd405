"""``Sequential``: a stack of layers trained by back-propagation, with Keras's API.

Memory layout: every parameter of the model lives in ONE contiguous buffer (``model.params``,
the layers hold views into it), every gradient in another (``model.grads``), and each optimizer
slot in a third of the same size, so an optimizer step is one pass over one buffer. Activations
and their gradients are preallocated per batch size (a :class:`Workspace`) and reused, so a
training step allocates no array memory after its first batch. Back-propagation stops at the
first layer with parameters: the gradient with respect to the model's input is never computed.
"""

import numpy as np

from . import config, inputs, losses, optimizers, training
from .device import current_backend
from .errors import InvalidInputError, NotCompiledError, unknown_name
from .initializers import draw
from .layers.base import Layer
from .summary import summary_text

#: Batch sizes whose buffers a model keeps at once (fit uses two: full and last partial batch).
MAX_WORKSPACES = 6

_METRICS = {"accuracy": None, "acc": None, "categorical_accuracy": "categorical",
            "sparse_categorical_accuracy": "categorical", "binary_accuracy": "binary"}


class Workspace:
    """The buffers of one batch size n: each layer's output and, for training, the batch's
    inputs and targets (gathered from the data set) and each layer's output gradient."""

    def __init__(self, backend, model, n, with_grads):
        dtype = model.dtype
        self.n = n
        self.outputs = [backend.empty((n, layer.units), dtype) for layer in model.layers]
        self.x = self.y = self.grads = None
        if with_grads:
            self.x = backend.empty((n, model.input_dim), dtype)
            self.y = backend.empty((n, model.output_dim), dtype)
            self.grads = [backend.empty((n, layer.units), dtype) for layer in model.layers]


class Sequential:
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; default: gpudnn's current device.
        dtype: ``"float32"`` (default, gpudnn.config.floatx()) or ``"float64"``.
    """

    def __init__(self, layers=None, name="sequential", device=None, dtype=None):
        self.name = name
        self.backend = current_backend(device)
        self.dtype = config.resolve_dtype(dtype)
        self.layers = []
        self.built = False
        self.optimizer = self.loss = None
        self.metric_names = []
        self.stop_training = False
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ building
    def add(self, layer):
        """Append a layer. The first layer needs ``input_shape`` (or the model builds at fit)."""
        if not isinstance(layer, Layer):
            raise InvalidInputError(f"Sequential.add takes a gpudnn layer, not {layer!r}")
        if self.layers and layer.input_dim is not None and layer.input_dim != self.layers[-1].units:
            raise InvalidInputError(
                f"layer {layer.name!r} declares input_shape=({layer.input_dim},) but the previous "
                f"layer outputs {self.layers[-1].units} features; drop input_shape from it")
        self.layers.append(layer)
        self.built = False
        if self.layers[0].input_dim is not None:
            self.build(self.layers[0].input_dim)

    def build(self, input_dim):
        """Size every layer, allocate the flat parameter and gradient buffers, draw initial weights."""
        if not self.layers:
            raise InvalidInputError("the model has no layers; add some with model.add(Dense(...))")
        kept = self._current_weights()
        width = self.input_dim = input_dim
        for layer in self.layers:
            layer.build(width)
            width = layer.units
        self.output_dim = width
        specs = [layer.param_specs() for layer in self.layers]
        sizes = [int(np.prod(shape)) for layer_specs in specs for _, shape, *_ in layer_specs]
        total = sum(sizes)
        be = self.backend
        self.params = be.flat_zeros(total, self.dtype, slot=0)
        self.grads = be.flat_zeros(total, self.dtype, slot=1)
        host = np.empty(total, dtype=self.dtype)
        offset = 0
        for layer, layer_specs in zip(self.layers, specs):
            param_views, grad_views = [], []
            old = kept.get(id(layer), [])
            for j, (_, shape, initializer, fan_in, fan_out) in enumerate(layer_specs):
                size = int(np.prod(shape))
                if j < len(old) and old[j].shape == tuple(shape):   # built before: keep it
                    host[offset:offset + size] = old[j].ravel()
                else:
                    host[offset:offset + size] = draw(initializer, config.rng(), shape, fan_in,
                                                      fan_out).ravel()
                param_views.append(self.params[offset:offset + size].reshape(shape))
                grad_views.append(self.grads[offset:offset + size].reshape(shape))
                offset += size
            layer.bind(param_views, grad_views)
        be.copy_into(self.params, host)
        trainable = [i for i, s in enumerate(specs) if s]
        self._first_trainable = trainable[0] if trainable else len(self.layers)
        self._workspaces = {}
        self.built = True
        if self.optimizer is not None:
            self.optimizer.build(be, total, self.dtype, owner=self)

    def _current_weights(self):
        """Host copies of the bound parameters, by layer id (layers added since have none)."""
        return {id(layer): [self.backend.to_host(v) for v in layer.parameter_views()]
                for layer in self.layers
                if layer.param_specs() and all(v is not None for v in layer.parameter_views())}

    def count_params(self):
        self._require_built("count_params")
        return int(self.params.shape[0])

    def _require_built(self, what):
        if not self.built:
            raise InvalidInputError(
                f"{what}() needs a built model: give the first layer input_shape=(features,), or "
                f"call fit() first")

    # ------------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (only accuracy metrics are known)."""
        if loss is None:
            raise InvalidInputError("compile() needs a loss, e.g. loss='categorical_crossentropy'")
        self.loss = losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        names = [metrics] if isinstance(metrics, str) else list(metrics or [])
        for name in names:
            if not isinstance(name, str) or name.lower() not in _METRICS:
                raise unknown_name("metric", name, _METRICS)
        self.metric_names = names
        if self.built:
            self.optimizer.build(self.backend, self.params.shape[0], self.dtype, owner=self)

    def _metric_mode(self, name):
        mode = _METRICS[name.lower()]
        if mode is None:  # "accuracy" means what fits the loss and output, as in Keras
            mode = "binary" if self.output_dim == 1 else self.loss.accuracy_mode
        return mode

    def _require_compiled(self, what):
        if self.loss is None:
            raise NotCompiledError(
                f"{what}() was called before compile(); call model.compile(optimizer=..., "
                f"loss=..., metrics=[...]) first")

    # ------------------------------------------------------------------ data
    def _prepare(self, caller, x, y, what=""):
        """Host-check and convert (x, y) for this model (builds it if needed); ``y`` None is
        refused, naming ``caller``, unless ``caller`` is "predict"."""
        x_host = inputs.features(x, self.input_dim if self.built else None, self.dtype, "x" + what)
        if not self.built:
            self.build(x_host.shape[1])
        if caller == "predict":
            return x_host, None
        if y is None:
            raise InvalidInputError(f"{caller}() needs targets y")
        self._check_output_fits_loss()
        y_host = inputs.targets(y, self.loss, self.output_dim, self.dtype, "y" + what)
        inputs.same_length(x_host, y_host)
        return x_host, y_host

    def _batch_workspace(self, caller, x, y):
        """(x, y) checked and copied into the workspace of its size, as one batch."""
        x_host, y_host = self._prepare(caller, x, y)
        ws = self._workspace(x_host.shape[0], with_grads=True)
        self.backend.copy_into(ws.x, x_host)
        self.backend.copy_into(ws.y, y_host)
        return ws

    def _output_activation(self):
        """The kind of the activation the last layer applies ("linear" when none)."""
        spec = self.layers[-1].activation_spec
        return spec.kind if spec is not None else "linear"

    def _check_output_fits_loss(self):
        """Categorical cross-entropy of probabilities is defined here on rows that sum to 1: a
        softmax output. (Keras divides other outputs by their row sum first; rather than train
        on a silently different function, gpudnn asks for the softmax.) With ``from_logits=True``
        the loss applies the softmax or sigmoid itself, so a last layer that applies one too is
        refused (Keras only warns; training through both is the classic silent bug)."""
        kind, loss, last = self._output_activation(), self.loss, self.layers[-1].name
        if loss.from_logits and kind in ("softmax", "sigmoid"):
            raise InvalidInputError(
                f"{loss!r} takes raw scores (logits), but the last layer {last!r} applies "
                f"{kind!r}, which the loss would apply a second time; drop the activation from "
                f"the last layer (e.g. Dense(10)) or use from_logits=False")
        if loss.target_kind == "categorical" and not loss.from_logits and kind != "softmax":
            raise InvalidInputError(
                f"{loss.name} needs a softmax output, but the last layer {last!r} has activation "
                f"{kind!r}; use activation='softmax' on the last layer, from_logits=True with a "
                f"linear last layer, or binary_crossentropy for independent sigmoid outputs")

    def _workspace(self, n, with_grads):
        """The Workspace of batch size n, kept for reuse; the least recently made go first once
        more than MAX_WORKSPACES sizes are in use (predict on many sizes must not pile up)."""
        key = (n, with_grads)
        ws = self._workspaces.get(key)
        if ws is None:
            while len(self._workspaces) >= MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[key] = Workspace(self.backend, self, n, with_grads)
        return ws

    # ------------------------------------------------------------------ the step
    def _forward(self, x, ws):
        for layer, out in zip(self.layers, ws.outputs):
            layer.forward(self.backend, x, out)
            x = out
        return x

    def _fused(self):
        return self._output_activation() == self.loss.fused_activation

    def _regularized(self):
        """``(parameter view, gradient view, regularizer)`` of each penalized parameter (a
        layer's ``<name>_regularizer``, e.g. Dense's kernel_regularizer)."""
        return [(param, grad, reg) for layer in self.layers
                for (name, *_), param, grad in zip(layer.param_specs(), layer.parameter_views(),
                                                   layer.gradient_views())
                if (reg := getattr(layer, f"{name}_regularizer", None)) is not None
                and (reg.l1 or reg.l2)]

    def _backward(self, ws):
        be, layers = self.backend, self.layers
        last = len(layers) - 1
        fused = self._fused()
        self.loss.gradient(be, ws.outputs[-1], ws.y, ws.grads[-1], fused)
        for i in range(last, self._first_trainable - 1, -1):
            layer_input = ws.x if i == 0 else ws.outputs[i - 1]
            dx = ws.grads[i - 1] if i > self._first_trainable else None
            layers[i].backward(be, layer_input, ws.outputs[i], ws.grads[i], dx,
                               skip_activation=fused and i == last)
        for param, grad, reg in self._regularized():
            be.add_penalty_grad(param, grad, reg.l1, reg.l2)

    def _accumulate(self, prediction, y, totals):
        """Add a batch's summed loss (weight penalties included, as Keras reports them) and
        correct counts to the device accumulators."""
        be = self.backend
        value = self.loss.value(be, prediction, y)
        for param, _, reg in self._regularized():
            value = value + be.penalty_value(param, reg.l1, reg.l2)
        totals[0] += value * prediction.shape[0]
        for j, name in enumerate(self.metric_names, start=1):
            totals[j] += be.count_correct(prediction, y, self._metric_mode(name))

    def _logs(self, totals, count, prefix=""):
        """Host values of the device accumulators as Keras logs (the one host sync)."""
        values = [float(self.backend.to_host(t)) for t in totals]
        logs = {prefix + "loss": values[0] / count}
        for name, value in zip(self.metric_names, values[1:]):
            # binary accuracy counts every output element (Keras averages over them)
            binary = self._metric_mode(name) == "binary"
            logs[prefix + name] = value / (count * self.output_dim if binary else count)
        return logs

    def _new_totals(self):
        return [self.backend.zeros((), np.float64) for _ in range(1 + len(self.metric_names))]

    # ------------------------------------------------------------------ training
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True):
        """Train for ``epochs`` passes over (x, y) in mini-batches; returns a History.

        x (samples, features), y one-hot (samples, classes), class indices (samples,) for
        sparse_categorical_crossentropy, or targets (samples, outputs). ``validation_split``
        holds out the last fraction of the samples (before shuffling), as Keras does.
        """
        self._require_compiled("fit")
        return training.fit(self, x, y, _batch_size(batch_size),
                            inputs.positive_int(epochs, "epochs"), _verbosity(verbose), callbacks,
                            validation_split, validation_data, shuffle)

    def _train_batch(self, ws, totals):
        self._accumulate(self._forward(ws.x, ws), ws.y, totals)
        self._backward(ws)
        self.optimizer.apply(self.backend, self.params, self.grads)

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
        self._forward(ws.x, ws)
        self._backward(ws)
        return [self.backend.to_host(grad) for layer in self.layers
                for grad in layer.gradient_views()]

    # ------------------------------------------------------------------ inference
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
        logs = training.evaluate_on_device(self, be.from_host(x_host), be.from_host(y_host),
                                           batch_size, verbose=verbose)
        return self._result(logs)

    def predict(self, x, batch_size=None, verbose=0):
        """The model's outputs for x as a host NumPy array (samples, outputs)."""
        verbose = _verbosity(verbose)
        batch_size = _batch_size(batch_size)
        x_host, _ = self._prepare("predict", x, None)
        result = np.empty((x_host.shape[0], self.output_dim), dtype=self.dtype)
        no_logs = lambda done: {}  # noqa: E731
        for rows, prediction in training.inference_batches(self, self.backend.from_host(x_host),
                                                           batch_size, verbose, no_logs):
            result[rows] = self.backend.to_host(prediction)
        return result

    # ------------------------------------------------------------------ weights
    def _views(self):
        return [(layer, name, view) for layer in self.layers
                for (name, *_), view in zip(layer.param_specs(), layer.parameter_views())]

    def get_weights(self):
        """Host copies of every parameter, in layer order: [kernel, bias, kernel, bias, ...]."""
        self._require_built("get_weights")
        return [self.backend.to_host(view) for _, _, view in self._views()]

    def set_weights(self, weights):
        """Copy host arrays (same order and shapes as get_weights) into the model."""
        self._require_built("set_weights")
        views = self._views()
        weights = list(weights)
        if len(weights) != len(views):
            raise InvalidInputError(
                f"set_weights got {len(weights)} arrays but the model has {len(views)} "
                f"parameters ({', '.join(f'{l.name}/{n}' for l, n, _ in views)})")
        arrays = []
        for (layer, name, view), w in zip(views, weights):
            w = np.asarray(w)
            if w.shape != tuple(view.shape):
                raise InvalidInputError(
                    f"weight {layer.name}/{name} has shape {tuple(view.shape)} but the array given "
                    f"for it has shape {w.shape}; the weights come from a different architecture")
            arrays.append(np.ascontiguousarray(w, dtype=self.dtype))
        for (_, _, view), w in zip(views, arrays):
            self.backend.copy_into(view, w)

    def save_weights(self, path):
        """Save every parameter to an ``.npz`` file (keys ``"<index>/<layer>/<param>"``)."""
        self._require_built("save_weights")
        arrays = {f"{i:03d}/{layer.name}/{name}": self.backend.to_host(view)
                  for i, (layer, name, view) in enumerate(self._views())}
        np.savez(path, **arrays)

    def load_weights(self, path):
        """Load parameters saved by save_weights; the shapes must match this model's."""
        self._require_built("load_weights")
        try:
            with np.load(path) as data:
                weights = [data[key] for key in sorted(data.files)]
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read weights from {path!r}: {exc}") from None
        self.set_weights(weights)

    # ------------------------------------------------------------------ summary
    def summary(self, print_fn=None):
        """Print Keras's summary table (layer, output shape, parameter count, totals)."""
        self._require_built("summary")
        text = summary_text(self)
        (print_fn or print)(text)


def _verbosity(verbose):
    """Keras's verbose argument: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1."""
    if isinstance(verbose, bool) or verbose not in (0, 1, 2, "auto"):
        raise InvalidInputError(f"verbose must be 0, 1, 2 or 'auto', not {verbose!r}")
    return 1 if verbose == "auto" else verbose


def _batch_size(batch_size):
    """Keras's default batch size (32) or the given one, checked."""
    return inputs.positive_int(32 if batch_size is None else batch_size, "batch_size")
