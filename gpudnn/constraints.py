"""Weight constraints, Keras 3's ``MaxNorm``, ``MinMaxNorm``, ``NonNeg`` and ``UnitNorm`` (also
as ``max_norm``, ``min_max_norm``, ``non_neg``, ``unit_norm``).

A constraint projects a weight after each optimizer update, as Keras's optimizer does
(``variable.assign(constraint(variable))``)::

    Dense(64, activation="relu", kernel_constraint=constraints.MaxNorm(3))

With ``norms`` the Euclidean norms of w along ``axis`` (for a Dense kernel (inputs, units),
axis 0: each unit's incoming weights) and eps = 1e-7:

- ``MaxNorm(max_value=2, axis=0)``: ``w * clip(norms, 0, max_value) / (eps + norms)``;
- ``MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)``: ``w * (rate *
  clip(norms, min_value, max_value) + (1 - rate) * norms) / (eps + norms)``;
- ``NonNeg()``: ``w * (w >= 0)``;
- ``UnitNorm(axis=0)``: ``w / (eps + norms)``.

Each runs on the device (``Backend.constrain``), inside the recorded or captured step. Called
on a host array, ``constraint(w)`` returns the projected array (float64).
"""

import numbers

import numpy as np

from .backend.numpy_backend import NumpyBackend
from .errors import InvalidInputError
from .utils.identifiers import Configurable, from_serialized, instance, serialized
from .utils.inputs import finite_number, nonnegative_number
from .utils.watched import Watched


class Constraint(Configurable, Watched):
    """Base class: the projection ``kind`` of the backend, with its arguments."""

    kind = None
    axis = 0
    min_value = 0.0
    max_value = 0.0
    rate = 1.0

    def apply(self, backend, w):
        """Project the device array ``w`` in place."""
        backend.constrain(self.kind, w, self.axis, self.min_value, self.max_value, self.rate)

    def check_shape(self, shape, what):
        """Refuse an axis the weight ``what`` of ``shape`` does not have."""
        if self.kind != "non_neg" and not -len(shape) <= self.axis < len(shape):
            raise InvalidInputError(
                f"{self!r} on {what} of shape {tuple(shape)}: axis {self.axis} is not one of "
                f"its axes")

    def __call__(self, w):
        """The projection of a host array ``w``, as a float64 array."""
        out = np.array(w, dtype=np.float64)
        self.check_shape(out.shape, "the array")
        self.apply(NumpyBackend(), out)
        return out

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise InvalidInputError(f"a constraint's axis is an int, not {axis!r} (gpudnn's "
                                f"weights are vectors and (inputs, units) kernels)")
    return int(axis)


class MaxNorm(Constraint):
    """Each slice along ``axis`` scaled down to a norm of at most ``max_value``."""

    kind = "max_norm"

    def __init__(self, max_value=2, axis=0):
        self.max_value = float(nonnegative_number(max_value, "MaxNorm max_value"))
        self.axis = _axis(axis)

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Each slice's norm moved into [min_value, max_value], by ``rate`` of the way."""

    kind = "min_max_norm"

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = float(nonnegative_number(min_value, "MinMaxNorm min_value"))
        self.max_value = float(nonnegative_number(max_value, "MinMaxNorm max_value"))
        if self.min_value > self.max_value:
            raise InvalidInputError(f"MinMaxNorm min_value {min_value!r} is above max_value "
                                    f"{max_value!r}")
        self.rate = float(finite_number(rate, "MinMaxNorm rate"))
        self.axis = _axis(axis)

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights set to 0."""

    kind = "non_neg"

    def get_config(self):
        return {}


class UnitNorm(Constraint):
    """Each slice along ``axis`` scaled to norm 1."""

    kind = "unit_norm"

    def __init__(self, axis=0):
        self.axis = _axis(axis)

    def get_config(self):
        return {"axis": self.axis}


#: Keras's function-style names (the very classes, as in Keras 3).
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_CLASSES = {"MaxNorm": MaxNorm, "MinMaxNorm": MinMaxNorm, "NonNeg": NonNeg,
            "UnitNorm": UnitNorm}
#: Keras's names, and the class names (any case)
_BY_NAME = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
            "unit_norm": UnitNorm, "maxnorm": MaxNorm, "minmaxnorm": MinMaxNorm,
            "nonneg": NonNeg, "unitnorm": UnitNorm}


def get(identifier):
    """A Constraint from None (None), a name ("max_norm", "non_neg", ...), a class, an
    instance or a serialized dict."""
    return instance("constraint", identifier, _BY_NAME, Constraint,
                    " such as constraints.MaxNorm(3) (gpudnn runs the projection on the "
                    "device, so arbitrary functions are not accepted)", deserialize)


def serialize(constraint):
    """``{"class_name": ..., "config": ...}`` of a gpudnn constraint (JSON-able), or None."""
    return None if constraint is None else serialized("constraint", constraint, Constraint)


def deserialize(data):
    """The constraint that ``serialize`` described."""
    return from_serialized("constraint", data, _CLASSES)
