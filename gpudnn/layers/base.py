"""The Layer protocol every gpudnn layer follows.

A layer maps a batch ``x`` of shape (n, input_dim) to ``y`` of shape (n, units). The model owns
all memory: parameters and their gradients are views into its flat buffers (``bind``), and the
output / gradient buffers of each batch size are preallocated by the model and passed in.
"""

import itertools
import re
from collections import defaultdict

_name_counters = defaultdict(itertools.count)


def keras_name(cls_name):
    """Keras's automatic layer name: ``Dense`` -> ``dense``, ``dense_1``...; ``LeakyReLU`` -> ``leaky_re_lu``."""
    base = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls_name).lower()
    index = next(_name_counters[base])
    return base if index == 0 else f"{base}_{index}"


class Layer:
    """Base class. Subclasses set ``units`` in ``build`` and implement forward/backward."""

    #: The activation applied last by this layer, as an activations.Spec (None for none).
    activation_spec = None

    def __init__(self, name=None, input_shape=None):
        self.name = name or keras_name(type(self).__name__)
        self.input_dim = _input_dim(input_shape, self.name)
        self.units = None
        self.built = False

    def build(self, input_dim):
        """Fix the input width; set ``self.units`` (the output width)."""
        self.input_dim = input_dim
        self.units = input_dim
        self.built = True

    def param_specs(self):
        """``[(name, shape, initializer, fan_in, fan_out)]`` of the trainable parameters, in order."""
        return []

    def bind(self, params, grads):
        """Receive views (one per param spec, same order) into the model's flat buffers."""

    def parameter_views(self):
        """The bound parameter views (``self.kernel``, ``self.bias``...), in param_specs order."""
        return [getattr(self, name) for name, *_ in self.param_specs()]

    def gradient_views(self):
        """The bound gradient views (``self.kernel_grad``...), in param_specs order."""
        return [getattr(self, f"{name}_grad") for name, *_ in self.param_specs()]

    def forward(self, backend, x, out):
        """``out = layer(x)``; x (n, input_dim), out (n, units)."""
        raise NotImplementedError

    def backward(self, backend, x, y, dy, dx, skip_activation=False):
        """Back-propagate ``dy = dL/dy`` (n, units), which may be overwritten.

        Writes parameter gradients into the bound gradient views and, when ``dx`` is not None,
        ``dx = dL/dx`` (n, input_dim). ``skip_activation``: ``dy`` already is the gradient with
        respect to the pre-activation (the model fused softmax/sigmoid into the loss gradient).
        """
        raise NotImplementedError

    def get_config(self):
        """The constructor's keyword arguments as JSON-able values: ``type(self)(**config)``
        makes an equal, unbuilt layer. Subclasses add their own arguments to this dict."""
        return {"name": self.name}

    def count_params(self):
        return sum(_size(shape) for _, shape, *_ in self.param_specs())

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} units={self.units}>"


def _size(shape):
    size = 1
    for dim in shape:
        size *= dim
    return size


def _input_dim(input_shape, name):
    """``input_shape=(784,)``, ``784`` or ``[784]`` -> 784; None stays None."""
    from ..errors import InvalidInputError

    if input_shape is None:
        return None
    if isinstance(input_shape, (int,)) and not isinstance(input_shape, bool):
        dims = (input_shape,)
    else:
        try:
            dims = tuple(input_shape)
        except TypeError:
            dims = None
    if not dims or len(dims) != 1 or not all(isinstance(d, int) and d > 0 for d in dims):
        raise InvalidInputError(
            f"layer {name!r}: input_shape must be a positive feature count like (784,) or 784 "
            f"(dense networks take flat vectors; flatten images with x.reshape(len(x), -1)), "
            f"not {input_shape!r}")
    return dims[0]
