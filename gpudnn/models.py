"""``Sequential``: a stack of layers trained by back-propagation, with Keras's API.

Memory layout: every parameter of the model lives in ONE contiguous buffer (``model.params``,
the layers hold views into it), every gradient in another (``model.grads``), and each optimizer
slot in a third of the same size, so an optimizer step is one pass over one buffer. Activations
and their gradients are preallocated per batch size (a :class:`Workspace`) and reused, so a
training step allocates no array memory after its first batch. Back-propagation stops at the
first layer with parameters: the gradient with respect to the model's input is never computed.

Samples of any shape are flattened on the host once per call (a view of the converted data), so
every batch inside the model is a (n, features) matrix; ``Flatten`` (and ``Dropout`` outside
training) are then the identity: no buffer, no call, their output is their input. A model may
contain another (``Sequential([model, Softmax()])``): the outer model's flat buffers hold the
inner model's parameters, and the inner model's buffers become views of them (see nesting.py).
"""

import numpy as np

from . import config, inputs, losses, nesting, optimizers, saving, training
from .device import current_backend
from .errors import InvalidInputError, NotCompiledError, unknown_name
from .initializers import draw
from .layers.base import AlwaysTrainable, Layer
from .layers.input_layer import InputLayer
from .layers.reshaping import Flatten
from .summary import summary_text
from .recorded_steps import RecordedSteps
from .variables import Variable

#: Batch sizes whose buffers a model keeps at once (fit uses two: full and last partial batch).
MAX_WORKSPACES = 6
#: Classes up to which a softmax + categorical cross-entropy step does its loss, accuracy and
#: output gradient in one launch (softmax_cce_step, a thread per row); above, separate ops.
ONE_CALL_MAX_CLASSES = 32

_METRICS = {"accuracy": None, "acc": None, "categorical_accuracy": "categorical",
            "sparse_categorical_accuracy": "categorical", "binary_accuracy": "binary"}


class Workspace:
    """The buffers of one batch size n: each layer's output and, for training, the batch's
    inputs and targets (gathered from the data set) and each layer's output gradient."""

    def __init__(self, backend, model, n, with_grads, layout):
        """``layout``: ``model._identity_layout()``, which leaf layers pass their input through
        in training and in inference."""
        dtype = model.dtype
        leaves = model._leaf_layers
        self.n = n
        # identity layers (Flatten; Dropout outside training) need no buffer of their own
        self.outputs = [None if training and inference
                        else backend.empty((n, layer.units), dtype)
                        for layer, (training, inference) in zip(leaves, layout)]
        #: what each layer output in the last forward pass (its input when it is the identity)
        self.acts = [None] * len(leaves)
        self.x = self.y = self.grads = None
        if with_grads:
            self.x = backend.empty((n, model.input_dim), dtype)
            self.y = backend.empty((n, model.output_dim), dtype)
            self.grads = []
            for i, (layer, (training, _)) in enumerate(zip(leaves, layout)):
                if training:  # an identity layer's dL/dy is its dL/dx
                    self.grads.append(self.grads[i - 1] if i else None)
                else:
                    self.grads.append(backend.empty((n, layer.units), dtype))


class Sequential(AlwaysTrainable):
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
        self.input_shape = self.input_dim = self.output_dim = None
        self._input = None  # the InputLayer given first, if any
        self._owner = None  # the model this one is nested in, if any
        self._leaf_layers = []
        #: the dropout step: read by the dropout kernels, advanced on the device once per step
        self._dropout_step = self.backend.zeros((1,), np.int64)
        self.optimizer = self.loss = None
        self.metric_names = []
        self.stop_training = False
        #: the model's own host generator (batch shuffling), saved with the model
        self.rng = config.rng().spawn(1)[0]
        for layer in layers or []:
            self.add(layer)

    # ------------------------------------------------------------------ building
    def add(self, layer):
        """Append a layer, another (nested) Sequential, or first an ``Input(shape)``. The model
        builds as soon as its input shape is known (``Input``, or ``input_shape`` on the first
        layer), else at the first fit/predict."""
        nesting.check_not_nested(self, "add layers to it")
        if isinstance(layer, InputLayer):
            if self.layers or self._input is not None:
                raise InvalidInputError(
                    "Input(...) must be the first element of a Sequential model, and come once")
            if layer.dtype is not None and np.dtype(layer.dtype) != self.dtype:
                raise InvalidInputError(
                    f"Input dtype {layer.dtype} differs from the model's dtype {self.dtype.name}; "
                    f"give Sequential(dtype={layer.dtype!r}) or drop dtype from Input")
            self._input = layer
            return
        if isinstance(layer, Sequential):
            nesting.check_nestable(self, layer)
        elif not isinstance(layer, Layer):
            raise InvalidInputError(f"Sequential.add takes a gpudnn layer, not {layer!r}")
        previous = self.layers[-1].units if self.layers else None
        if self._input is not None and not self.layers:
            previous = int(np.prod(self._input.sample_shape))
        if previous is not None and layer.input_dim is not None and layer.input_dim != previous:
            raise InvalidInputError(
                f"layer {layer.name!r} declares input_shape=({layer.input_dim},) but the previous "
                f"layer outputs {previous} features; drop input_shape from it")
        self.layers.append(layer)
        if isinstance(layer, Sequential):
            layer._owner = self
        self.built = False
        shape = self._declared_input_shape()
        if shape is not None:
            self.build(shape)

    def _declared_input_shape(self):
        """The sample shape given by ``Input`` or the first layer's ``input_shape``, or None."""
        if self._input is not None:
            return self._input.sample_shape
        if not self.layers:
            return None
        first = self.layers[0]
        if isinstance(first, Sequential):
            return first.input_shape if first.built else first._declared_input_shape()
        return first.input_shape

    def build(self, input_shape):
        """Size every layer for samples of ``input_shape`` (a tuple, or an int for flat
        features), allocate the flat parameter and gradient buffers, draw initial weights."""
        nesting.check_not_nested(self, "build it again")
        leaves = nesting.leaves(self.layers)
        if not leaves:
            raise InvalidInputError("the model has no layers; add some with model.add(Dense(...))")
        shape = (int(input_shape),) if np.ndim(input_shape) == 0 else tuple(map(int, input_shape))
        if len(shape) > 1 and not isinstance(leaves[0], Flatten):
            raise InvalidInputError(
                f"the model's samples have shape {shape} but its first layer {leaves[0].name!r} "
                f"takes flat feature vectors; add layers.Flatten() first, or pass x reshaped to "
                f"(samples, {int(np.prod(shape))})")
        kept = self._current_weights(leaves)
        self.input_shape = shape
        width = self.input_dim = int(np.prod(shape))
        for layer in leaves:
            layer.build(width)
            width = layer.units
        self.output_dim = width
        specs = [layer.param_specs() for layer in leaves]
        sizes = [int(np.prod(shape)) for layer_specs in specs for _, shape, *_ in layer_specs]
        total = sum(sizes)
        be = self.backend
        self.params = be.flat_zeros(total, self.dtype, slot=0)
        self.grads = be.flat_zeros(total, self.dtype, slot=1)
        host = np.empty(total, dtype=self.dtype)
        offset = 0
        starts = []  # where each leaf layer's parameters begin in the flat buffers
        for layer, layer_specs in zip(leaves, specs):
            starts.append(offset)
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
            layer._backend = be
            layer.bind(param_views, grad_views)
        be.copy_into(self.params, host)
        self._set_leaves(leaves)
        self._steps = RecordedSteps()
        self.built = True
        if self.optimizer is not None:
            self._build_optimizer(self.optimizer)
        nesting.adopt_nested(self, starts + [total])

    def _build_optimizer(self, optimizer):
        """Give ``optimizer`` its slots for this model's flat parameters (and its segments)."""
        optimizer.build(self.backend, self.params.shape[0], self.dtype, owner=self,
                        segments=self.param_segments())

    def _set_leaves(self, leaves):
        """Record the leaf layers the step runs, and the indices the step needs."""
        self._leaf_layers = leaves
        trainable = [i for i, layer in enumerate(leaves) if layer.param_specs()]
        self._first_trainable = trainable[0] if trainable else len(leaves)
        computing = [i for i, layer in enumerate(leaves) if not layer.identity_in(True)]
        self._output_index = computing[-1] if computing else len(leaves) - 1
        self._has_dropout = any(layer.stochastic for layer in leaves)
        self._workspaces = {}

    def _current_weights(self, leaves):
        """Host copies of the bound parameters, by layer id (layers added since have none)."""
        return {id(layer): [self.backend.to_host(v) for v in layer.parameter_views()]
                for layer in leaves
                if layer.param_specs() and all(v is not None for v in layer.parameter_views())}

    def param_segments(self):
        """``[(start, stop)]`` of every parameter (kernel, bias...) in the flat buffers."""
        segments, start = [], 0
        for _, _, view in self._views():
            segments.append((start, start + view.size))
            start += view.size
        return segments

    @property
    def trainable_weights(self):
        """Every parameter as a :class:`gpudnn.Variable` sharing the model's memory, in
        get_weights order (``optimizer.apply_gradients(zip(grads, model.trainable_weights))``)."""
        self._require_built("trainable_weights")
        return [Variable.view_of(self.backend, view, f"{layer.name}/{name}", self, start, stop)
                for (layer, name, view), (start, stop) in zip(self._views(),
                                                              self.param_segments())]

    @property
    def units(self):
        """The output width, so that a model can be a layer of another."""
        if self.built:
            return self.output_dim
        leaves = nesting.leaves(self.layers)
        return leaves[-1].units if leaves else None

    def state_arrays(self):
        """Training state besides parameters and optimizer slots, as device arrays by name:
        ``{"dropout_step": (1,) int64}`` (saved and restored for an exact resume)."""
        return {"dropout_step": self._dropout_step}

    def _advance_step(self):
        """One training step done: the dropout step moves on (on the device, no host sync)."""
        if self._has_dropout:
            self.backend.increment(self._dropout_step)

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
            self._steps = RecordedSteps()
            self._build_optimizer(self.optimizer)

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
        leaves = self._leaf_layers if self.built else nesting.leaves(self.layers)
        flattens = bool(leaves) and isinstance(leaves[0], Flatten)
        x_host = inputs.features(x, self.input_shape if self.built else None, self.dtype,
                                 "x" + what, any_rank=flattens)
        if not self.built:
            self.build(x_host.shape[1:])
        x_host = x_host.reshape(x_host.shape[0], self.input_dim)  # a view: samples flattened
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
        spec = self._leaf_layers[self._output_index].activation_spec
        return spec.kind if spec is not None else "linear"

    def _check_output_fits_loss(self):
        """Categorical cross-entropy of probabilities is defined here on rows that sum to 1: a
        softmax output. (Keras divides other outputs by their row sum first; rather than train
        on a silently different function, gpudnn asks for the softmax.) With ``from_logits=True``
        the loss applies the softmax or sigmoid itself, so a last layer that applies one too is
        refused (Keras only warns; training through both is the classic silent bug)."""
        kind, loss = self._output_activation(), self.loss
        last = self._leaf_layers[self._output_index].name
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

    def _identity_layout(self):
        """``((in training, in inference), ...)``: whether each leaf layer is the identity."""
        return tuple((layer.identity_in(True), layer.identity_in(False))
                     for layer in self._leaf_layers)

    def _workspace(self, n, with_grads):
        """The Workspace of batch size n, kept for reuse; the least recently made go first once
        more than MAX_WORKSPACES sizes are in use (predict on many sizes must not pile up)."""
        # which layers pass their input through decides the buffers (a Dropout whose rate
        # became 0 needs none); a change of that layout makes a new workspace
        layout = self._identity_layout()
        key = (n, with_grads, layout)
        ws = self._workspaces.get(key)
        if ws is None:
            while len(self._workspaces) >= MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[key] = Workspace(self.backend, self, n, with_grads, layout)
        return ws

    # ------------------------------------------------------------------ the step
    def _forward(self, x, ws, training=False):
        """Run the layers on the batch x; returns the output. ``training`` switches Dropout on
        (with the current step); identity layers pass their input on without a call."""
        be, acts = self.backend, ws.acts
        for i, layer in enumerate(self._leaf_layers):
            if not layer.identity_in(training):
                out = ws.outputs[i]
                if layer.stochastic:
                    layer.forward(be, x, out, self._dropout_step)
                else:
                    layer.forward(be, x, out)
                x = out
            acts[i] = x
        return x

    def _fused(self):
        return self._output_activation() == self.loss.fused_activation

    def _loss_in_one_call(self):
        """True when a training step's loss, accuracy and output gradient are one backend call
        (``softmax_cce_step``): a softmax output of at most ONE_CALL_MAX_CLASSES classes with
        categorical cross-entropy (the fused gradient) and no metric but one categorical
        accuracy. (Its threads walk whole rows: with many classes the separate, element-wise
        ops are the faster ones.)"""
        if not self._fused() or self.loss.kind != "cce" or self.output_dim > ONE_CALL_MAX_CLASSES:
            return False
        return [self._metric_mode(name) for name in self.metric_names] in ([], ["categorical"])

    def _regularized(self):
        """``(parameter view, gradient view, regularizer)`` of each penalized parameter (a
        layer's ``<name>_regularizer``, e.g. Dense's kernel_regularizer)."""
        return [(param, grad, reg) for layer in self._leaf_layers
                for (name, *_), param, grad in zip(layer.param_specs(), layer.parameter_views(),
                                                   layer.gradient_views())
                if (reg := getattr(layer, f"{name}_regularizer", None)) is not None
                and (reg.l1 or reg.l2)]

    def _backward(self, ws, loss_gradient_done=False):
        """Gradients of every parameter into ``self.grads``; ``loss_gradient_done``: the output
        gradient ``ws.grads[-1]`` is already written (by ``_accumulate``)."""
        be, layers = self.backend, self._leaf_layers
        last = self._output_index
        prediction, delta = ws.acts[-1], ws.grads[-1]
        fused = self._fused()
        if not loss_gradient_done:
            self.loss.gradient(be, prediction, ws.y, delta, fused)
        for i in range(last, self._first_trainable - 1, -1):
            layer = layers[i]
            if layer.identity_in(True):
                continue  # its gradient buffer is the previous layer's
            layer_input = ws.x if i == 0 else ws.acts[i - 1]
            dx = ws.grads[i - 1] if i > self._first_trainable else None
            if layer.stochastic:
                layer.backward(be, layer_input, ws.acts[i], ws.grads[i], dx,
                               step=self._dropout_step)
            else:
                layer.backward(be, layer_input, ws.acts[i], ws.grads[i], dx,
                               skip_activation=fused and i == last)
        for param, grad, reg in self._regularized():
            be.add_penalty_grad(param, grad, reg.l1, reg.l2)

    def _accumulate(self, prediction, y, totals, grad=None):
        """Add a batch's summed loss (weight penalties included, as Keras reports them) and
        correct counts to the device accumulators. With ``grad`` (a training step where
        ``_loss_in_one_call()``), the same backend call writes the output gradient there."""
        be = self.backend
        if grad is None:
            self.loss.accumulate(be, prediction, y, totals[0])
        else:
            be.softmax_cce_step(prediction, y, grad, totals[0],
                                totals[1] if self.metric_names else None,
                                self.loss.label_smoothing)
        for param, _, reg in self._regularized():
            be.accumulate_penalty(param, reg.l1, reg.l2, prediction.shape[0], totals[0])
        if grad is None:
            for j, name in enumerate(self.metric_names, start=1):
                be.accumulate_correct(prediction, y, self._metric_mode(name), totals[j])

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

    def _epoch_totals(self):
        """fit's accumulators, zeroed: the same buffers every epoch (a recorded step writes
        into them)."""
        totals = self.__dict__.get("_fit_totals")
        if totals is None or len(totals) != 1 + len(self.metric_names):
            totals = self._fit_totals = self._new_totals()
        for total in totals:
            self.backend.fill(total, 0.0)
        return totals

    # ------------------------------------------------------------------ training
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
        return training.fit(self, x, y, _batch_size(batch_size),
                            inputs.positive_int(epochs, "epochs"), _verbosity(verbose), callbacks,
                            validation_split, validation_data, shuffle, initial_epoch)

    def _train_batch(self, ws, totals, record=False, feed=None):
        """One training step on the batch in ``ws`` (first gathered from ``feed``, a
        ``training.BatchFeed``, when given); with ``record`` (fit's steady state), the device
        part is recorded on its first run for this batch size and replayed after. The caller
        decides: ``fit`` passes ``recorded_steps.capture_enabled()`` (GPUDNN_RECORD_STEPS)."""
        self.optimizer.begin_step(self.backend)
        if record:
            self._steps.run(self, ws, totals, feed)
        else:
            self._device_step(ws, totals, feed)
        self.optimizer.end_step()

    def _device_step(self, ws, totals, feed=None):
        """The batch's gather from ``feed`` (if any), forward, loss and metric accumulation,
        backward and update: backend calls only, each writing into given buffers and reading
        per-step values (the batch's position, the optimizer's step values) from device memory."""
        if feed is not None:
            feed.gather(self.backend, ws)
        one_call = self._loss_in_one_call()
        self._accumulate(self._forward(ws.x, ws, training=True), ws.y, totals,
                         grad=ws.grads[-1] if one_call else None)
        self._backward(ws, loss_gradient_done=one_call)
        self.optimizer.update(self.backend, self.params, self.grads)
        self._advance_step()

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

    def get_layer(self, name=None, index=None):
        """A layer of ``model.layers`` by ``name`` or by ``index`` (exactly one of them)."""
        if (name is None) == (index is None):
            raise InvalidInputError("get_layer takes a layer name or an index, exactly one")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or \
                    not -len(self.layers) <= index < len(self.layers):
                raise InvalidInputError(
                    f"get_layer index {index!r} is out of range: the model has "
                    f"{len(self.layers)} layers (index 0..{len(self.layers) - 1})")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise InvalidInputError(f"no layer named {name!r}; the model's layers are "
                                f"{[layer.name for layer in self.layers]}")

    @property
    def weights(self):
        """All weights of the model (the same list as trainable_weights: every one trains)."""
        return self.trainable_weights

    # ------------------------------------------------------------------ weights
    def _views(self):
        return [(layer, name, view) for layer in self._leaf_layers
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
        arrays = inputs.weight_arrays([(f"{layer.name}/{name}", view) for layer, name, view in views],
                                      weights, "; the weights come from a different architecture")
        for (_, _, view), w in zip(views, arrays):
            self.backend.copy_into(view, w)

    def save_weights(self, path):
        """Save every parameter to an ``.npz`` file at exactly ``path`` (keys
        ``"<index>/<layer>/<param>"``), atomically (see gpudnn.saving)."""
        saving.save_weights(self, path)

    def load_weights(self, path):
        """Load parameters saved by save_weights (or from a model.save file); the shapes must
        match this model's. A damaged or foreign file raises FileFormatError and changes nothing."""
        saving.load_weights(self, path)

    def save(self, path):
        """Save the whole model to one file at exactly ``path`` (the docs use ``.gpudnn``):
        architecture, weights, compile configuration, optimizer state and random state, written
        atomically. ``gpudnn.models.load_model(path)`` gives it back (docs/file-format.md)."""
        saving.save_model(self, path)

    # ------------------------------------------------------------------ summary
    def summary(self, print_fn=None):
        """Print Keras's summary table (layer, output shape, parameter count, totals)."""
        self._require_built("summary")
        text = summary_text(self)
        (print_fn or print)(text)


def load_model(path):
    """The model saved by ``model.save(path)``, compiled, with its optimizer and random state,
    on gpudnn's current device. A damaged or foreign file raises ``FileFormatError``."""
    return saving.load_model(path)


def _verbosity(verbose):
    """Keras's verbose argument: 0 silent, 1 progress bar, 2 one line per epoch, "auto" = 1."""
    if isinstance(verbose, bool) or verbose not in (0, 1, 2, "auto"):
        raise InvalidInputError(f"verbose must be 0, 1, 2 or 'auto', not {verbose!r}")
    return 1 if verbose == "auto" else verbose


def _batch_size(batch_size):
    """Keras's default batch size (32) or the given one, checked."""
    return inputs.positive_int(32 if batch_size is None else batch_size, "batch_size")
