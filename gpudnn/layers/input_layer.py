"""``Input(shape)``: declares the shape of a model's samples, Keras 3 style.

``Input`` returns a KerasTensor (layers/symbolic.py), the start of a functional model
(``gpudnn.Model(inputs, outputs)``); its ``InputLayer`` is then the first of ``model.layers``
and of the summary, as in Keras 3. As the first element of a Sequential
(``Sequential([Input((784,)), Dense(10)])``, ``model.add(Input(shape=(28, 28)))``) it is not a
layer of the model: ``model.layers`` and ``summary()`` leave it out, as Keras does. The model
adopts its per-sample shape (and checks its dtype, if given, against the model's).
"""

import numbers

import numpy as np

from .. import config
from ..errors import InvalidInputError
from ..utils.naming import auto_name
from .base import _input_shape
from .symbolic import KerasTensor


class InputLayer:
    """The input of a model: samples of ``shape`` (no batch dimension).

    Args:
        shape: the shape of one sample, e.g. ``(784,)`` or ``(28, 28)``.
        batch_size: optional fixed batch size (recorded; gpudnn accepts any batch size).
        dtype: None, ``"float32"`` or ``"float64"``; when given it must be the model's dtype.
        batch_shape: ``(batch_size, *shape)`` instead of ``shape`` and ``batch_size``.
        name: the layer name (default ``input_layer``, ``input_layer_1``...).
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise InvalidInputError("give Input either shape (and batch_size) or "
                                        "batch_shape, not both")
            batch_shape = tuple(batch_shape)
            if not batch_shape:
                raise InvalidInputError("Input batch_shape must be (batch_size, *sample_shape)")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        self.name = name or auto_name("InputLayer")
        if shape is None:
            raise InvalidInputError("Input needs the shape of one sample, e.g. Input(shape=(784,))")
        self.sample_shape = _input_shape(shape, self.name)
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, numbers.Integral) or
                                       batch_size <= 0):
            raise InvalidInputError(f"Input batch_size must be None or a positive integer, "
                                    f"not {batch_size!r}")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.dtype = None if dtype is None else config.resolve_dtype(dtype).name
        #: the KerasTensor of this input (what ``Input(...)`` returns)
        self.output = KerasTensor(self.shape, self.dtype, self)

    # what a layer of ``model.layers`` offers, for a functional model's first entry: no weights
    trainable = True
    built = True

    @property
    def units(self):
        return int(np.prod(self.sample_shape))

    def count_params(self):
        return 0

    def get_weights(self):
        return []

    def set_weights(self, weights):
        if list(weights):
            raise InvalidInputError(f"input layer {self.name!r} has no weights to set")

    @property
    def shape(self):
        """``(batch_size, *sample_shape)``; batch_size None when not fixed (Keras's tensor shape)."""
        return (self.batch_size,) + self.sample_shape

    def get_config(self):
        return {"batch_shape": list(self.shape), "dtype": self.dtype, "name": self.name}

    def __repr__(self):
        return f"<Input shape={self.shape} name={self.name!r}>"


def Input(shape=None, batch_size=None, dtype=None, batch_shape=None, name=None):  # noqa: N802
    """The input of a model, a KerasTensor of shape ``(batch_size, *shape)``: the start of a
    functional model (``x = Dense(64)(inputs)``...), or the first element of a Sequential."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                      name=name).output
