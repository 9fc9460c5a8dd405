"""Activation layers with a parameter, importable as in the course's Keras code:
``from gpudnn.layers.advanced_activations import LeakyReLU, ELU``.

Each is an :class:`~gpudnn.layers.core.Activation`, so it works as a layer of its own
(``model.add(LeakyReLU(alpha=0.1))``) or as a Dense activation
(``Dense(512, activation=LeakyReLU(alpha=0.001))``).
"""

from ..activations import Spec
from ..errors import InvalidInputError
from .base import Layer
from .core import Activation


def _slope(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise InvalidInputError(f"{what} must be a number, not {value!r}")
    return float(value)


class _SlopeActivation(Activation):
    """An activation with one parameter ``alpha``. It lives in the layer's Spec, which the
    kernels read: setting ``alpha`` checks the value and rebuilds the Spec."""

    kind = None

    def __init__(self, alpha, name=None, input_shape=None, dtype=None):
        super().__init__(Spec(self.kind, self._checked(alpha)), name=name,
                         input_shape=input_shape, dtype=dtype)

    def _checked(self, alpha):
        raise NotImplementedError

    @property
    def alpha(self):
        return self.activation_spec.alpha

    @alpha.setter
    def alpha(self, value):
        self.activation_spec = Spec(self.kind, self._checked(value))

    def get_config(self):
        return {**Layer.get_config(self), "alpha": self.alpha}


class LeakyReLU(_SlopeActivation):
    """``x if x > 0 else alpha * x``. Keras's default slope 0.3 (``negative_slope`` is an alias)."""

    kind = "leaky_relu"

    def __init__(self, alpha=0.3, negative_slope=None, name=None, input_shape=None, dtype=None):
        super().__init__(alpha if negative_slope is None else negative_slope, name=name,
                         input_shape=input_shape, dtype=dtype)

    def _checked(self, alpha):
        alpha = _slope(alpha, "LeakyReLU alpha")
        if alpha < 0:
            raise InvalidInputError(f"LeakyReLU alpha must be >= 0, not {alpha}")
        return alpha


class ELU(_SlopeActivation):
    """``x if x > 0 else alpha * (exp(x) - 1)``, Keras's default alpha 1.0."""

    kind = "elu"

    def __init__(self, alpha=1.0, name=None, input_shape=None, dtype=None):
        super().__init__(alpha, name=name, input_shape=input_shape, dtype=dtype)

    def _checked(self, alpha):
        alpha = _slope(alpha, "ELU alpha")
        if alpha <= 0:
            raise InvalidInputError(
                f"ELU alpha must be > 0 (its backward uses y + alpha), not {alpha}")
        return alpha


class ReLU(Activation):
    """``max(x, 0)`` as a layer, with Keras's arguments where gpudnn has their activation:
    ``max_value=6`` is relu6, ``negative_slope=a`` (without max_value) is leaky_relu(a); other
    combinations (and any ``threshold``) are refused with the reason."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name=None,
                 input_shape=None, dtype=None):
        slope = _slope(negative_slope, "ReLU negative_slope")
        if slope < 0:  # as LeakyReLU's alpha: the backward reads the slope from y's sign
            raise InvalidInputError(f"ReLU negative_slope must be >= 0, not {negative_slope!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold:
            raise InvalidInputError(f"ReLU threshold={threshold!r} is not supported (gpudnn's "
                                    f"relu kinds switch at 0); leave threshold=0")
        if max_value is None:
            spec = Spec("leaky_relu", slope) if slope else Spec("relu")
        elif max_value == 6 and not slope and not isinstance(max_value, bool):
            spec = Spec("relu6")
        else:
            raise InvalidInputError(
                f"ReLU(max_value={max_value!r}, negative_slope={negative_slope!r}) is not "
                f"supported: gpudnn has max(x, 0), relu6 (max_value=6) and leaky_relu "
                f"(negative_slope without max_value)")
        super().__init__(spec, name=name, input_shape=input_shape, dtype=dtype)
        self._max_value = None if max_value is None else float(max_value)
        self._negative_slope = slope

    # read-only: the activation the layer computes is fixed when it is made
    max_value = property(lambda self: self._max_value)
    negative_slope = property(lambda self: self._negative_slope)

    def get_config(self):
        return {**Layer.get_config(self), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": 0.0}


class Softmax(Activation):
    """Row-wise ``exp(x_j) / sum_k exp(x_k)`` as a layer."""

    def __init__(self, axis=-1, name=None, input_shape=None, dtype=None):
        if axis not in (-1, 1) or isinstance(axis, bool):
            raise InvalidInputError(
                f"Softmax(axis={axis!r}): gpudnn's outputs are (samples, units), so the softmax "
                f"runs over the last axis (axis=-1)")
        super().__init__(Spec("softmax"), name=name, input_shape=input_shape, dtype=dtype)

    def get_config(self):
        return Layer.get_config(self)
