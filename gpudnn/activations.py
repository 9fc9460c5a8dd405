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
"""

from typing import NamedTuple

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
    "softmax": Spec("softmax"),
}

NAMES = tuple(_BY_NAME)


def serialize(spec):
    """A Spec as JSON: its name when it is that name's default (``"relu"``), else
    ``{"kind": ..., "alpha": ...}`` (e.g. a leaky_relu with its own slope)."""
    if _BY_NAME.get(spec.kind) == spec:
        return spec.kind
    return {"kind": spec.kind, "alpha": spec.alpha}


def get(identifier):
    """The Spec for a name, None (linear), a Spec, what ``serialize`` gives, or an activation
    layer object."""
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
    spec = getattr(identifier, "activation_spec", None)
    if isinstance(spec, Spec):
        return spec
    raise InvalidInputError(
        f"activation must be a name ({', '.join(NAMES)}) or an activation layer such as "
        f"LeakyReLU(alpha=0.1), not {identifier!r}")
