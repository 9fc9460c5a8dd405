"""Weight initializers by name, with Keras's formulas (drawn on the host from gpudnn's seed).

``glorot_uniform``: U(-l, l), ``l = sqrt(6 / (fan_in + fan_out))`` (Keras's default kernel init);
``glorot_normal``: N(0, 2 / (fan_in + fan_out)); ``he_uniform``: U(-l, l), ``l = sqrt(6 / fan_in)``;
``he_normal``: N(0, 2 / fan_in); ``lecun_uniform``: U(-l, l), ``l = sqrt(3 / fan_in)``;
``random_normal``: N(0, 0.05^2); ``random_uniform``: U(-0.05, 0.05); ``zeros``; ``ones``.
The normal forms are plain (not truncated) normals.
"""

import numpy as np

from .errors import InvalidInputError, unknown_name


def _uniform(limit):
    return lambda rng, shape, fan_in, fan_out: rng.uniform(-limit(fan_in, fan_out),
                                                            limit(fan_in, fan_out), shape)


def _normal(std):
    return lambda rng, shape, fan_in, fan_out: rng.normal(0.0, std(fan_in, fan_out), shape)


_INITIALIZERS = {
    "glorot_uniform": _uniform(lambda i, o: np.sqrt(6.0 / (i + o))),
    "glorot_normal": _normal(lambda i, o: np.sqrt(2.0 / (i + o))),
    "he_uniform": _uniform(lambda i, o: np.sqrt(6.0 / i)),
    "he_normal": _normal(lambda i, o: np.sqrt(2.0 / i)),
    "lecun_uniform": _uniform(lambda i, o: np.sqrt(3.0 / i)),
    "random_normal": _normal(lambda i, o: 0.05),
    "random_uniform": _uniform(lambda i, o: 0.05),
    "zeros": lambda rng, shape, fan_in, fan_out: np.zeros(shape),
    "ones": lambda rng, shape, fan_in, fan_out: np.ones(shape),
}


def check(identifier):
    """Return ``identifier`` if it names an initializer or is a callable ``(shape) -> array``."""
    if callable(identifier):
        return identifier
    if not isinstance(identifier, str):
        raise InvalidInputError(f"an initializer is a name or a callable, not {identifier!r}")
    if identifier.lower() not in _INITIALIZERS:
        raise unknown_name("initializer", identifier, _INITIALIZERS)
    return identifier.lower()


def draw(identifier, rng, shape, fan_in, fan_out):
    """A float64 host array of ``shape`` drawn from the initializer ``identifier``."""
    if callable(identifier):
        values = np.asarray(identifier(shape), dtype=np.float64)
        if values.shape != tuple(shape):
            raise InvalidInputError(
                f"initializer {identifier!r} returned shape {values.shape}, expected {tuple(shape)}")
        return values
    return _INITIALIZERS[identifier](rng, shape, fan_in, fan_out)
