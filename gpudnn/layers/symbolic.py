"""Keras's functional API for chains of layers: ``KerasTensor``, what ``Input(...)`` returns and
what a layer (or a model) returns when called on one.

    inputs = gpudnn.Input(shape=(784,))
    x = layers.Dense(64, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = gpudnn.Model(inputs, outputs)        # gpudnn/models/functional.py

A KerasTensor holds no data: the shape ``(None, *sample_shape)`` of the batches that will flow
there, the dtype, and its history, the layer that made it and the tensor that layer was called
on (with the call's ``training`` argument). ``Model(inputs, outputs)`` walks that history back
from ``outputs`` to ``inputs``. gpudnn's models are chains, so a KerasTensor has no operators:
``x + y``, a layer with two inputs, or a layer used twice are refused with the reason.
"""

import numpy as np

from ..errors import InvalidInputError

_CHAINS_ONLY = ("gpudnn models are chains of layers (each layer called on the output of the one "
                "before); operations on symbolic tensors are not supported")


class KerasTensor:
    """The symbolic output of ``Input`` or of a layer call (no data: shape, dtype, history).

    Attributes:
        shape: ``(None, *sample_shape)`` (``batch_size`` in place of None when ``Input`` fixed
            it).
        dtype: the dtype name of the model input (``Input``'s, default None: the model's).
        name: the name of the layer that made it.
    """

    def __init__(self, shape, dtype, layer, parent=None, training=None):
        self.shape = tuple(shape)
        self.dtype = dtype
        self.name = layer.name
        self._layer, self._parent, self._training = layer, parent, training

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def sample_shape(self):
        return self.shape[1:]

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __array__(self, *args, **kwargs):
        raise InvalidInputError(
            f"{self!r} is symbolic, it holds no data: build a model from it, "
            f"gpudnn.Model(inputs, outputs), and pass arrays to the model (model.predict(x), "
            f"model(x))")

    def _refuse(self, *args, **kwargs):
        raise InvalidInputError(_CHAINS_ONLY)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _refuse
    __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = __pow__ = __getitem__ = _refuse


def is_symbolic(inputs):
    """A KerasTensor, or a list or tuple holding KerasTensors (the functional API)."""
    if isinstance(inputs, (list, tuple)):
        return any(isinstance(item, KerasTensor) for item in inputs)
    return isinstance(inputs, KerasTensor)


def call(layer, inputs, training, output_shape):
    """The KerasTensor of ``layer`` called on ``inputs`` (checked to be one), of output sample
    shape ``output_shape(sample_shape)``."""
    if isinstance(inputs, (list, tuple)) and len(inputs) != 1:
        raise InvalidInputError(f"{layer.name!r} was called on {len(inputs)} tensors; "
                                f"{_CHAINS_ONLY}")
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0]
    if not isinstance(inputs, KerasTensor):
        raise InvalidInputError(
            f"{layer.name!r} was called on a {type(inputs).__name__}: a gpudnn layer computes "
            f"inside a model. Call it on gpudnn.Input(shape=...) or on another layer's output "
            f"to build a model (gpudnn.Model(inputs, outputs)), or pass data to a model: "
            f"model(x), model.predict(x)")
    if isinstance(training, np.bool_):
        training = bool(training)
    if training is not None and training is not False:
        raise InvalidInputError(
            f"{layer.name!r} was called with training={training!r}: a layer's call takes "
            f"training=None (fit trains, evaluate and predict infer) or training=False (always "
            f"inference, e.g. a frozen base model's BatchNormalization)")
    output = KerasTensor((inputs.shape[0], *output_shape(inputs.sample_shape)), inputs.dtype,
                         layer, inputs, training)
    layer._symbolic_call = (inputs, output)  # Keras's layer.input and layer.output
    return output


def last_call(layer, which):
    """The ``"input"`` or ``"output"`` KerasTensor of ``layer``'s last symbolic call."""
    call = layer.__dict__.get("_symbolic_call")
    if call is None:
        raise InvalidInputError(
            f"layer {layer.name!r} has no {which} tensor yet: it was never called on a "
            f"symbolic tensor. Build its model first: a functional model (gpudnn.Input, then "
            f"layer calls), or a Sequential with an Input or input_shape (built)")
    return call[0] if which == "input" else call[1]


def dense_output_shape(layer, sample_shape):
    """A layer's output sample shape for inputs of ``sample_shape``; builds the layer for that
    width (as its model will), after checking it takes it."""
    width = int(np.prod(sample_shape))
    if len(sample_shape) > 1 and layer.elementwise:  # on the flat data, shape kept
        if layer.input_dim is not None and layer.input_dim != width:
            raise InvalidInputError(f"{layer.name!r} takes {layer.input_dim} elements but was "
                                    f"called on samples of shape {sample_shape}")
        layer.build(width)
        return tuple(sample_shape)
    if len(sample_shape) > 1 and not layer.flattens_input:
        raise InvalidInputError(
            f"{layer.name!r} takes flat feature vectors but was called on samples of shape "
            f"{sample_shape}; call layers.Flatten() on them first")
    if layer.input_dim is not None and layer.input_dim != width:
        raise InvalidInputError(
            f"{layer.name!r} takes {layer.input_dim} features (it {layer.declared_width()[0]}, "
            f"or a model it was built in did) but was called on {width}")
    layer.build(width)
    return (layer.units,)
