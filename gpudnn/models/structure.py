"""The model's structure: its layers, how it builds (the flat parameter and gradient buffers and
the layers' views into them), nesting, the summary (weights.py hands the weights out).

Memory layout: every parameter of the model lives in ONE contiguous buffer (``model.params``,
the layers hold views into it), every gradient in another (``model.grads``), and each optimizer
slot in a third of the same size, so an optimizer step is one pass over one buffer. A model may
contain another (``Sequential([model, Softmax()])``): the outer model's flat buffers hold the
inner model's parameters, and the inner model's buffers become views of them (see nesting.py).
"""

import weakref

import numpy as np

from .. import config
from ..errors import InvalidInputError
from ..initializers import draw
from ..layers.base import Layer
from ..layers import symbolic
from ..layers.input_layer import InputLayer
from ..layers.reshaping import flattens_first
from ..training.recorded_steps import RecordedSteps
from ..utils import inputs
from . import nesting
from .summary import summary_text


class ModelStructure(nesting.Nestable):
    """Mixin of ``Sequential``: the layer stack, build, weights and their views. The attributes
    it reads and writes are set up by ``Sequential.__init__``."""

    _weight_setting_attributes = ()  # set with the leaves (_set_leaves)
    _inference_leaves = frozenset()  # likewise (nesting.inference_leaves)
    _trains_in_inference = frozenset()  # set with the layout (_freeze_layout)
    _bn_fusions = frozenset()

    # ------------------------------------------------------------------ building
    @property
    def layers(self):
        """The model's layers in order (a new list: change the model with ``add`` / ``pop``)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer, another (nested) Sequential, or first an ``Input(shape)``. The model
        builds as soon as its input shape is known (``Input``, or ``input_shape`` on the first
        layer), else at the first fit/predict."""
        nesting.check_not_nested(self, "add layers to it")
        if isinstance(layer, symbolic.KerasTensor):
            if not isinstance(layer._layer, InputLayer):
                raise InvalidInputError(
                    f"Sequential takes layers (and first an Input), not {layer!r}, the output "
                    f"of a layer call; build a functional model from such outputs: "
                    f"gpudnn.Model(inputs, outputs)")
            layer = layer._layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input is not None:
                raise InvalidInputError(
                    "Input(...) must be the first element of a Sequential model, and come once")
            if layer.dtype is not None and np.dtype(layer.dtype) != self.dtype:
                raise InvalidInputError(
                    f"Input dtype {layer.dtype} differs from the model's dtype {self.dtype.name}; "
                    f"give Sequential(dtype={layer.dtype!r}) or drop dtype from Input")
            self._input = layer
            return
        if isinstance(layer, nesting.Nestable):
            nesting.check_nestable(self, layer)
        elif not isinstance(layer, Layer):
            raise InvalidInputError(f"Sequential.add takes a gpudnn layer, not {layer!r}")
        previous = self._layers[-1].units if self._layers else None
        if self._input is not None and not self._layers:
            previous = int(np.prod(self._input.sample_shape))
        if previous is not None and layer.input_dim is not None and layer.input_dim != previous:
            raise InvalidInputError(
                f"layer {layer.name!r} {layer.declared_width()[0]} but the previous layer "
                f"outputs {previous} features; {layer.declared_width()[1]}")
        if not self.trainable:  # a frozen model trains nothing, layers added later included
            layer.trainable = False
        self._layers.append(layer)
        if isinstance(layer, nesting.Nestable):
            layer._owner = self
        self.built = False
        shape = self._declared_input_shape()
        if shape is not None and self._buildable(shape):
            self.build(shape)

    def _buildable(self, shape):
        """False while samples of ``shape`` (several dimensions) meet only element-wise layers
        so far: the Flatten they wait for comes later (``Input((28, 28)), Rescaling(1 / 255),
        Flatten(), ...``)."""
        return len(shape) <= 1 or not all(layer.elementwise
                                          for layer in nesting.leaves(self._layers))

    def pop(self, rebuild=True):
        """Keras's ``pop``: remove the last layer and return it. The other layers keep their
        weights, and the model keeps its input shape (as its ``Input`` when no layer is left);
        ``rebuild=False`` builds it again only at its next use. A compiled model keeps its loss
        and optimizer, whose state (moments, step count) starts again for the new parameters;
        a new last layer is usually added and compiled next."""
        nesting.check_not_nested(self, "pop a layer")
        rebuild = inputs.flag(rebuild, "rebuild")
        if not self._layers:
            raise InvalidInputError("There are no layers in the model to pop")
        shape = self.sample_shape if self.built else self._declared_input_shape()
        layer = self._layers.pop()
        if isinstance(layer, nesting.Nestable):
            layer._owner = None
        self.built = False
        if shape is not None and self._input is None:
            self._input = InputLayer(shape)  # the first layer's input_shape may have gone
        if self._layers and shape is not None and rebuild and self._buildable(shape):
            self.build(shape)
        return layer

    def _call_symbolic(self, inputs, training):
        """The model called on a KerasTensor (a nested model in a functional one, Keras's
        ``base(inputs, training=False)``): the KerasTensor of its output. The model builds
        for the tensor's sample shape, or checks that it was built for it."""
        def output_shape(sample_shape):
            if not self.built:
                self.build(sample_shape)
            elif self.sample_shape != tuple(sample_shape):
                raise InvalidInputError(
                    f"model {self.name!r} takes samples of shape {self.sample_shape} but was "
                    f"called on {tuple(sample_shape)}")
            return (self.output_dim,)
        return symbolic.call(self, inputs, training, output_shape)

    def _declared_input_shape(self):
        """The sample shape given by ``Input`` or the first layer's ``input_shape``, or None."""
        if self._input is not None:
            return self._input.sample_shape
        if not self._layers:
            return None
        first = self._layers[0]
        if isinstance(first, nesting.Nestable):
            return first.sample_shape if first.built else first._declared_input_shape()
        return first.input_shape

    @property
    def input_shape(self):
        """Keras's ``(None, *sample_shape)`` once built (None before)."""
        return None if self.sample_shape is None else (None, *self.sample_shape)

    @property
    def output_shape(self):
        """Keras's ``(None, outputs)`` once built (None before)."""
        return None if self.output_dim is None else (None, self.output_dim)

    def build(self, input_shape):
        """Size every layer for samples of ``input_shape`` (a tuple, or an int for flat
        features), allocate the flat parameter and gradient buffers, draw initial weights."""
        nesting.check_not_nested(self, "build it again")
        leaves = nesting.leaves(self._layers)
        if not leaves:
            raise InvalidInputError("the model has no layers; add some with model.add(Dense(...))")
        shape = _sample_shape(input_shape)
        if len(shape) > 1 and not flattens_first(leaves):
            first = next((layer for layer in leaves if not layer.elementwise), leaves[-1])
            raise InvalidInputError(
                f"the model's samples have shape {shape} but its layer {first.name!r} takes "
                f"flat feature vectors; add layers.Flatten() before it, or pass x reshaped to "
                f"(samples, {int(np.prod(shape))})")
        kept = self._current_weights(leaves)
        self.sample_shape = shape
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
            for j, (_, shape, initializer) in enumerate(layer_specs):
                size = int(np.prod(shape))
                if j < len(old) and old[j].shape == tuple(shape):   # built before: keep it
                    host[offset:offset + size] = old[j].ravel()
                else:
                    host[offset:offset + size] = draw(initializer, config.rng(), shape).ravel()
                param_views.append(self.params[offset:offset + size].reshape(shape))
                grad_views.append(self.grads[offset:offset + size].reshape(shape))
                offset += size
            layer._backend = be
            layer.bind(param_views, grad_views)
        be.copy_into(self.params, host)
        for layer in leaves:  # whose buffer holds the layer's weights now (_check_weights_here)
            layer._weights_model = weakref.ref(self)
        self._bind_half_weights(leaves, starts)
        self._set_leaves(leaves)
        self._steps = RecordedSteps()
        self.built = True
        if self.optimizer is not None:
            self._build_optimizer(self.optimizer)
        nesting.adopt_nested(self, starts + [total])
        self._trace_graph()

    def _build_optimizer(self, optimizer):
        """Fix what the step trains (Keras's rule: ``trainable`` as it is now, at compile) and
        give ``optimizer`` slots for exactly those parameters: the trainable ranges of the flat
        buffers, laid end to end (frozen weights get no optimizer state)."""
        self._freeze_layout()
        weights = self._weight_table()
        trainable = [(segment, name) for segment, name, on in weights if on]
        optimizer.build(self.backend, sum(b - a for a, b in self._train_ranges), self.dtype,
                        owner=self, segments=[seg for seg, _ in trainable],
                        variables=[name for _, name in trainable])  # exclude_from_weight_decay
        # the step never writes a frozen weight's gradient: zero what training left there, so
        # gradients() and the gradient-norm callback read 0 for it, not a stale value
        for (start, stop), _, on in weights:
            if not on:
                self.backend.fill(self.grads[start:stop], 0.0)

    def _weight_table(self):
        """``[((start, stop), "layer/weight", trains now)]`` of every weight, get_weights
        order."""
        return [(segment, f"{layer.name}/{name}", on) for segment, (layer, name, _), on in
                zip(self.param_segments(), self._views(), self._view_trainable())]

    def _view_trainable(self):
        """Whether each weight (get_weights order) trains now: its layer's ``trainable`` and
        the weight's own (BatchNormalization's moving statistics never do)."""
        return [layer.trainable and layer.weight_trainable(name) for layer, name, _ in self._views()]

    def _freeze_layout(self):
        """Record the step's trainable layout: ``_train_ranges`` ((start, stop) of the flat
        buffers the optimizer updates, adjacent weights merged), ``_frozen`` (leaf indices whose
        weights get no gradient) and ``_first_trainable`` (where back-propagation stops)."""
        ranges = []
        for (start, stop), _, on in self._weight_table():
            if not on:
                continue
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], stop)
            else:
                ranges.append((start, stop))
        self._train_ranges = tuple(ranges)
        leaves = self._leaf_layers
        # frozen: a layer with weights whose trainable is False (its forward runs in inference
        # mode, its weights get no gradient); a layer whose weights never train (a
        # BatchNormalization without gamma and beta) is not frozen, it still normalizes by
        # the batch in training
        self._frozen = frozenset(i for i, layer in enumerate(leaves)
                                 if layer.param_specs() and not layer.trainable)
        learning = [i for i, layer in enumerate(leaves) if layer.trainable and any(
            layer.weight_trainable(name) for name, *_ in layer.param_specs())]
        self._first_trainable = learning[0] if learning else len(leaves)
        #: BatchNormalization leaves that train in inference mode (called with training=False)
        self._trains_in_inference = frozenset(
            i for i in self._inference_leaves if leaves[i].mode_dependent and i not in self._frozen)
        #: BatchNormalization leaves that compute the Activation leaf after them in their
        #: training passes (training/step.py, ``_fused_activation``): trained in training
        #: mode, the Activation element-wise and not the model's output (whose gradient the
        #: loss may have taken through it already)
        self._bn_fusions = frozenset(
            i for i, layer in enumerate(leaves[:-1]) if layer.fuses_following_activation
            and i not in self._frozen and i not in self._inference_leaves
            and i + 1 != self._output_index
            and getattr(leaves[i + 1], "fusable_spec", lambda: None)() is not None)

    def _set_leaves(self, leaves):
        """Record the leaf layers the step runs, and the indices the step needs."""
        self._leaf_layers = leaves
        #: each leaf with the attributes that may hold its weights' regularizers and
        #: constraints (read by every replayed step: built here once, not at each step)
        self._weight_setting_attributes = tuple(
            (layer, tuple(f"{name}_{kind}" for name, *_ in layer.param_specs()
                          for kind in ("regularizer", "constraint")))
            for layer in leaves)
        self._inference_leaves = nesting.inference_leaves(self)
        computing = [i for i in range(len(leaves)) if not self._identity(i, True)]
        self._output_index = computing[-1] if computing else len(leaves) - 1
        self._freeze_layout()
        self._has_dropout = any(layer.stochastic for layer in leaves)
        self._workspaces = {}

    def _current_weights(self, leaves):
        """Host copies of the bound parameters, by layer id (layers added since have none)."""
        return {id(layer): [self.backend.to_host(v) for v in layer.parameter_views()]
                for layer in leaves
                if layer.param_specs() and all(v is not None for v in layer.parameter_views())}

    def _check_weights_here(self, what, training):
        """Refuse ``what`` (a call, once) when a layer's weights live in another model's
        buffer (nesting.check_weights_here)."""
        nesting.check_weights_here(self, what, training)

    def _identity(self, i, training):
        """Whether leaf i passes its input through unchanged (``training``: in a training
        step); a leaf called with ``training=False`` is in inference mode in every step."""
        return self._leaf_layers[i].identity_in(training and i not in self._inference_leaves)

    def _leaves(self):
        """The leaf layers the step runs (also before the model is built)."""
        return self._leaf_layers if self.built else nesting.leaves(self._layers)

    def param_segments(self):
        """``[(start, stop)]`` of every parameter (kernel, bias...) in the flat buffers."""
        segments, start = [], 0
        for _, _, view in self._views():
            segments.append((start, start + view.size))
            start += view.size
        return segments

    @property
    def units(self):
        """The output width, so that a model can be a layer of another."""
        if self.built:
            return self.output_dim
        leaves = nesting.leaves(self._layers)
        return leaves[-1].units if leaves else None

    def state_arrays(self):
        """Training state besides parameters and optimizer slots, as device arrays by name:
        ``{"dropout_step": (1,) int64}`` (saved and restored for an exact resume)."""
        return {"dropout_step": self._dropout_step}

    def count_params(self):
        self._require_built("count_params")
        return int(self.params.shape[0])

    def _require_built(self, what):
        if not self.built:
            raise InvalidInputError(
                f"{what}() needs a built model: give the first layer input_shape=(features,), or "
                f"call fit() first")

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's summary table (layer, output shape, parameter count, totals), with
        Keras's options (models/summary.py); ``positions`` is accepted and the columns keep
        their proportions. ``print_fn`` gets the whole text once, as Keras 3 gives it. An
        unbuilt model's rows read ``?`` and ``0 (unbuilt)``, as Keras 3's."""
        text = summary_text(self, line_length, show_trainable, layer_range, expand_nested)
        (print_fn or print)(text)


def _sample_shape(input_shape):
    """``build``'s argument as the sample shape: an int, a sample shape ``(28, 28)``, or
    Keras's ``(None, *sample_shape)`` with the batch dimension first."""
    if np.ndim(input_shape) == 0 and input_shape is not None:
        return (inputs.positive_int(input_shape, "build's input_shape"),)
    try:
        dims = list(input_shape)
    except TypeError:
        dims = None
    if dims and dims[0] is None:
        dims = dims[1:]
    if not dims or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0
                           for d in dims):
        raise InvalidInputError(f"build takes the sample shape, e.g. (784,) or Keras's "
                                f"(None, 784), not {input_shape!r}")
    return tuple(int(d) for d in dims)
