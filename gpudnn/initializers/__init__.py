"""Weight initializers with Keras 3's names, arguments, defaults and formulas.

A layer takes an initializer as a name (``"he_normal"``), an object (``HeNormal(seed=1)``,
``RandomNormal(stddev=0.01)``, ``Constant(0.1)``), a config dict as Keras writes it
(``{"class_name": "HeNormal", "config": {"seed": null}}``), or a callable ``(shape) -> array``.
Each draws a float64 host array, then cast to the weights' dtype:

- ``VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal", input_axes=None,
  output_axes=None)``: with ``n`` the fan (``fan_in``, ``fan_out`` or their mean; for a (in,
  out) kernel ``fan_in = in``, ``fan_out = out``, for a vector both its length, or the products
  of the given axes) and ``s = scale / max(1, n)``: ``uniform`` is
  U(-l, l), ``l = sqrt(3 s)``; ``truncated_normal`` a normal of stddev ``sqrt(s) /
  0.87962566103423978`` cut at two stddevs (redrawn beyond), whose stddev is then ``sqrt(s)``;
  ``untruncated_normal`` N(0, s).
- Its named forms: ``GlorotUniform`` / ``GlorotNormal`` (scale 1, fan_avg; Keras's default
  kernel initializer is glorot_uniform), ``HeUniform`` / ``HeNormal`` (scale 2, fan_in),
  ``LecunUniform`` / ``LecunNormal`` (scale 1, fan_in); the normal ones truncated, as Keras 3.
- ``RandomNormal(mean=0.0, stddev=0.05)``, ``RandomUniform(minval=-0.05, maxval=0.05)``,
  ``TruncatedNormal(mean=0.0, stddev=0.05)`` (cut at two stddevs), ``Zeros``, ``Ones``,
  ``Constant(value=0.0)``, ``Identity(gain=1.0)`` (2-D), ``Orthogonal(gain=1.0)`` (the Q of a
  normal matrix's QR, signs fixed by R's diagonal, as Keras).

``seed=None`` draws from gpudnn's generator (``gpudnn.set_seed``), new values at each call
(Keras 3 repeats an unseeded object's values and warns); an integer seed gives the same values
at every call, as a seeded Keras 3 initializer does. The values are not Keras's bits (another
generator), the distributions are. Looser than Keras: a name is also found lower-cased
(``"HE_NORMAL"``); stricter: RandomUniform needs ``minval < maxval``, numbers must be finite.
"""

import numpy as np

from ..errors import InvalidInputError, unknown_name
from .classes import (Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity,
                      Initializer, LecunNormal, LecunUniform, Ones, Orthogonal, RandomNormal,
                      RandomUniform, TruncatedNormal, VarianceScaling, Zeros, compute_fans)

__all__ = ["Initializer", "Constant", "Zeros", "Ones", "Identity", "RandomNormal",
           "RandomUniform", "TruncatedNormal", "VarianceScaling", "GlorotUniform",
           "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal",
           "compute_fans", "get", "check", "serialize", "deserialize", "draw"]

_CLASSES = (Constant, Zeros, Ones, Identity, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
            LecunNormal, Orthogonal)


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


#: Every name Keras 3's ``initializers.get`` takes: the class names, their snake_case forms
#: and its aliases.
_BY_NAME = {**{cls.__name__: cls for cls in _CLASSES},
            **{_snake(cls.__name__): cls for cls in _CLASSES},
            "normal": RandomNormal, "uniform": RandomUniform, "zero": Zeros, "one": Ones,
            "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal}


def get(identifier):
    """An initializer from a name, a Keras config dict ``{"class_name", "config"}``, an
    Initializer class (an instance with its defaults) or object (itself), a NumPy array (the
    weight's values, its shape checked) or a callable (itself); None gives None."""
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()  # as Keras: the class's defaults
    if isinstance(identifier, np.ndarray):
        return _from_array(identifier)
    if identifier is None or isinstance(identifier, Initializer) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is None:
            raise unknown_name("initializer", identifier, sorted(
                name for name in _BY_NAME if name.islower()))
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise InvalidInputError(f"an initializer is a name, an initializer object, a config dict or "
                            f"a callable, not {identifier!r}")


def check(identifier):
    """What a layer keeps: a name (checked, lower-cased as given), an Initializer, or a
    callable ``(shape) -> array``; a config dict becomes its Initializer."""
    if isinstance(identifier, str):
        get(identifier)
        return identifier if identifier in _BY_NAME else identifier.lower()
    found = get(identifier)
    if found is None:
        raise InvalidInputError("an initializer is required here, not None")
    return found


def serialize(identifier):
    """A layer's initializer in its config: a name as it is; one of gpudnn's Initializer
    classes as Keras writes it, ``{"class_name": ..., "config": {...}}``; a callable or a
    user's subclass as it is (saving then refuses it: code is not data)."""
    if type(identifier) in _CLASSES:
        return {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    return identifier  # a user's class, like a function, is code: not saved


def deserialize(config):
    """The Initializer of a config dict ``{"class_name": name, "config": {...}}`` (Keras's
    ``module`` and ``registered_name`` keys are allowed); only gpudnn's own classes."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise InvalidInputError(f"an initializer config is a dict with a 'class_name', not "
                                f"{config!r}")
    cls = _BY_NAME.get(config["class_name"])
    if cls is None:
        raise unknown_name("initializer", config["class_name"], sorted(
            cls.__name__ for cls in _CLASSES))
    arguments = config.get("config") or {}
    if not isinstance(arguments, dict):
        raise InvalidInputError(f"initializer {config['class_name']}: its 'config' is a dict of "
                                f"arguments, not {arguments!r}")
    try:
        return cls.from_config(dict(arguments))
    except TypeError as exc:
        raise InvalidInputError(f"initializer {config['class_name']}: bad config {arguments!r} "
                                f"({exc})") from None


def draw(identifier, rng, shape):
    """A float64 host array of ``shape`` from the initializer ``identifier`` (as ``check``
    keeps it); ``rng``: the generator of an unseeded draw."""
    shape = tuple(shape)
    if isinstance(identifier, str) or (isinstance(identifier, Initializer)
                                       and type(identifier).__call__ is Initializer.__call__):
        return np.asarray(get(identifier).draw(rng, shape), dtype=np.float64)
    # a callable, or a subclass written as Keras's (its own __call__(shape, dtype))
    values = np.asarray(identifier(shape), dtype=np.float64)
    if values.shape != shape:
        raise InvalidInputError(
            f"initializer {identifier!r} returned shape {values.shape}, expected {shape}")
    return values





def _from_array(values):
    values = np.array(values, dtype=np.float64)

    def from_array(shape, dtype=None):
        if tuple(shape) != values.shape:
            raise InvalidInputError(f"an array initializer of shape {values.shape} cannot fill "
                                    f"a weight of shape {tuple(shape)}")
        return values.copy()
    return from_array
