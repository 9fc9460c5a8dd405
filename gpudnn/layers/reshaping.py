"""``Flatten``: samples of any shape become flat feature vectors, as in Keras.

``y = x.reshape(n, -1)``: (n, d1, d2, ...) -> (n, d1 * d2 * ...). The model reshapes its input
data on the host once per call (a view of the converted array), so in the training step the layer
is the identity on the flat batch: no buffer, no kernel, no copy; its output is its input.
"""

from ..errors import InvalidInputError
from .base import Layer


class Flatten(Layer):
    """Flattens each sample: ``Flatten(input_shape=(28, 28))`` takes (n, 28, 28) and gives (n, 784).

    Args:
        data_format: ``None`` or ``"channels_last"`` (the only layout gpudnn keeps).
        input_shape: the shape of one sample, any rank, for the first layer of a model.
    """

    accepts_any_rank = True

    def __init__(self, data_format=None, name=None, input_shape=None, dtype=None):
        if data_format not in (None, "channels_last"):
            raise InvalidInputError(
                f"Flatten data_format must be None or 'channels_last', not {data_format!r}: "
                f"gpudnn flattens samples in their stored (row-major) order; transpose "
                f"channels-first data to channels-last with np.moveaxis(x, 1, -1) first")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.data_format = "channels_last"

    flattens_input = True

    def identity_in(self, training):
        return True  # never run: the model passes its input on as a view, and dy back

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config


def flattens_first(leaves):
    """True when the leaves start with a Flatten, after element-wise layers only (Rescaling,
    an Activation, Dropout...): the model then takes samples of any shape."""
    for layer in leaves:
        if isinstance(layer, Flatten):
            return True
        if not layer.elementwise:
            return False
    return False
