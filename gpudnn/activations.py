"""Activation functions by name, as Keras spells them.

An activation is a :class:`Spec` — a backend kind (``linear sigmoid tanh relu leaky_relu elu
selu softplus softmax``) and the ``alpha`` that leaky_relu (negative slope) and elu
(saturation) use. The math
of each lives in the backend (``activation_forward`` / ``activation_backward``):

- sigmoid ``1 / (1 + e^-x)``; its derivative ``y (1 - y)`` is at most 0.25, which is why the
  gradient shrinks through deep sigmoid stacks (vanishing gradient).
- tanh ``tanh(x)``, derivative ``1 - y^2``.
- relu ``max(x, 0)``; leaky_relu ``x if x > 0 else alpha x``; elu ``x if x > 0 else alpha (e^x - 1)``;
  selu ``scale * elu(x, alpha)`` with Keras's constants (alpha 1.6733, scale 1.0507), which keeps
  the activations of a deep stack near zero mean and unit variance; softplus ``log(1 + e^x)``,
  derivative ``sigmoid(x) = 1 - e^-y``. Each derivative is computed from the output y.
- softmax over each row ``e^x_j / sum_k e^x_k``.
- Keras's others: softsign ``x / (1 + |x|)``, hard_sigmoid ``relu6(x + 3) / 6``, relu6
  ``min(max(x, 0), 6)``, exponential ``e^x``, silu (swish) ``x sigmoid(x)`` and gelu
  ``0.5 x (1 + erf(x / sqrt 2))``; silu's and gelu's derivatives are computed from the input x,
  which the layers keep for them (``FROM_INPUT``).

Keras's activation functions are here too (``keras.activations.relu`` ...): each computes its
activation on an array (NumPy, float64 for Python numbers), and a layer given one
(``Dense(64, activation=activations.relu)``) runs that kind on the device with Keras's defaults.
"""

from typing import NamedTuple

import numpy as np

from . import config
from .backend.base import FROM_INPUT  # noqa: F401 (the layers read it here)
from .backend.numpy_backend import NumpyBackend
from .errors import InvalidInputError, unknown_name


class Spec(NamedTuple):
    kind: str
    alpha: float = 0.0


#: Keras's defaults for the string forms (``activation="leaky_relu"`` has slope 0.2 in Keras 3).
_BY_NAME = {
    "linear": Spec("linear"),
    "sigmoid": Spec("sigmoid"),
    "tanh": Spec("tanh"),
    "relu": Spec("relu"),
    "leaky_relu": Spec("leaky_relu", 0.2),
    "elu": Spec("elu", 1.0),
    "selu": Spec("selu"),
    "softplus": Spec("softplus"),
    "softsign": Spec("softsign"),
    "hard_sigmoid": Spec("hard_sigmoid"),
    "relu6": Spec("relu6"),
    "exponential": Spec("exponential"),
    "silu": Spec("silu"),
    "swish": Spec("silu"),
    "gelu": Spec("gelu"),
    "softmax": Spec("softmax"),
}

NAMES = tuple(_BY_NAME)


_HOST = NumpyBackend()  # the functions compute here

#: This module's functions and the activation each is (with Keras's defaults), looked up by
#: identity (a wrapper of one is a function of its own, not that activation)
_FUNCTIONS = {}


def _activation(kind):
    """Registers a function as the activation ``kind`` for ``get``."""
    def register(fn):
        _FUNCTIONS[fn] = _BY_NAME[kind]
        return fn
    return register


def _array(x):
    """A floating array as given; anything else (lists, ints, Python numbers) in floatx, as
    Keras converts it."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        return x
    return np.asarray(x, dtype=config.floatx())


def _on_host(kind, x, alpha=0.0):
    """The backend's own formula for ``kind`` (the NumPy reference, what the kernels are
    checked against) on an array of any shape, along its last axis for softmax."""
    x = _array(x)
    rows = x.reshape(-1, x.shape[-1]) if kind == "softmax" and x.ndim else x.reshape(1, -1)
    out = np.empty_like(rows)
    _HOST.activation_forward(kind, rows, None, out, alpha)
    return out.reshape(x.shape)


@_activation("linear")
def linear(x):
    """``x``."""
    return _array(x)


@_activation("relu")
def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Keras's relu: ``x`` above ``threshold`` else 0, clipped to ``[0, max_value]``, minus
    ``negative_slope * max(threshold - x, 0)``; the defaults give ``max(x, 0)`` (what a layer
    given this function runs)."""
    x = _array(x)
    if negative_slope and max_value is None and not threshold:
        return leaky_relu(x, negative_slope)
    y = x * (x > threshold).astype(x.dtype) if threshold else _on_host("relu", x)
    if max_value is not None:
        y = np.clip(y, 0, max_value).astype(x.dtype)
    if negative_slope:
        y = y - x.dtype.type(negative_slope) * np.maximum(x.dtype.type(threshold) - x, 0)
    return y


@_activation("leaky_relu")
def leaky_relu(x, negative_slope=0.2):
    """``x`` for x >= 0, ``negative_slope x`` below (a layer runs Keras's default, 0.2)."""
    return _on_host("leaky_relu", x, negative_slope)


@_activation("elu")
def elu(x, alpha=1.0):
    """``x`` for x > 0, ``alpha (e^x - 1)`` below (a layer runs Keras's default, 1.0)."""
    return _on_host("elu", x, alpha)


@_activation("selu")
def selu(x):
    """``scale * elu(x, alpha)`` with alpha 1.6732632423543772, scale 1.0507009873554805."""
    return _on_host("selu", x)


@_activation("softplus")
def softplus(x):
    """``log(1 + e^x)``, as ``max(x, 0) + log1p(e^-|x|)`` (no overflow)."""
    return _on_host("softplus", x)


@_activation("sigmoid")
def sigmoid(x):
    """``1 / (1 + e^-x)``, as ``0.5 tanh(x / 2) + 0.5`` (no overflow)."""
    return _on_host("sigmoid", x)


@_activation("tanh")
def tanh(x):
    """``tanh(x)``."""
    return _on_host("tanh", x)


@_activation("softsign")
def softsign(x):
    """``x / (1 + |x|)``."""
    return _on_host("softsign", x)


@_activation("hard_sigmoid")
def hard_sigmoid(x):
    """Keras 3's ``relu6(x + 3) / 6``: 0 below -3, 1 above 3, linear between."""
    return _on_host("hard_sigmoid", x)


@_activation("relu6")
def relu6(x):
    """``min(max(x, 0), 6)``."""
    return _on_host("relu6", x)


@_activation("exponential")
def exponential(x):
    """``e^x``."""
    return _on_host("exponential", x)


@_activation("silu")
def silu(x):
    """``x sigmoid(x)`` (also ``swish``)."""
    return _on_host("silu", x)


swish = silu


@_activation("gelu")
def gelu(x, approximate=False):
    """``0.5 x (1 + erf(x / sqrt 2))``; ``approximate=True``: Keras's tanh form, ``0.5 x (1 +
    tanh(sqrt(2 / pi) (x + 0.044715 x^3)))`` (a layer given this function runs the exact one,
    Keras's default)."""
    if not approximate:
        return _on_host("gelu", x)
    x = _array(x)
    inner = x.dtype.type(0.7978845608028654) * (x + x.dtype.type(0.044715) * x * x * x)
    return x.dtype.type(0.5) * x * (x.dtype.type(1) + np.tanh(inner))


@_activation("softmax")
def softmax(x, axis=-1):
    """``e^x_j / sum_k e^x_k`` along ``axis`` (the row's maximum subtracted first)."""
    x = _array(x)
    last = np.moveaxis(x, axis, -1)
    return np.moveaxis(_on_host("softmax", last), -1, axis)


def serialize(spec):
    """A Spec as JSON: its name when it is that name's default (``"relu"``), else
    ``{"kind": ..., "alpha": ...}`` (e.g. a leaky_relu with its own slope)."""
    if _BY_NAME.get(spec.kind) == spec:
        return spec.kind
    return {"kind": spec.kind, "alpha": spec.alpha}


def get(identifier):
    """The Spec for a name, None (linear), a Spec, what ``serialize`` gives, one of this
    module's functions (``relu``...), or an activation layer object."""
    if identifier is None:
        return _BY_NAME["linear"]
    if isinstance(identifier, Spec):
        return identifier
    if isinstance(identifier, dict) and set(identifier) == {"kind", "alpha"}:
        kind, alpha = identifier["kind"], identifier["alpha"]
        if kind not in _BY_NAME:
            raise unknown_name("activation", kind, _BY_NAME)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha != alpha:
            raise InvalidInputError(f"activation alpha must be a number, not {alpha!r}")
        if kind not in ("leaky_relu", "elu") and alpha != 0:
            raise InvalidInputError(f"activation {kind!r} takes no alpha (only leaky_relu and "
                                    f"elu do), not {alpha!r}")
        return Spec(kind, float(alpha))
    if isinstance(identifier, str):
        spec = _BY_NAME.get(identifier.lower())
        if spec is None:
            raise unknown_name("activation", identifier, _BY_NAME)
        return spec
    try:
        spec = _FUNCTIONS.get(identifier)
    except TypeError:  # unhashable
        spec = None
    if spec is not None:
        return spec
    spec = getattr(identifier, "activation_spec", None)
    if isinstance(spec, Spec):
        return spec
    raise InvalidInputError(
        f"activation must be a name ({', '.join(NAMES)}), one of gpudnn.activations' functions "
        f"(activations.relu) or an activation layer such as LeakyReLU(alpha=0.1), not "
        f"{identifier!r}; a function of your own is code the device cannot run")
