"""Global settings: the random seed and the default float type (Keras's ``floatx``).

All randomness (weight initialisation, shuffling, validation splits) comes from one NumPy
``Generator`` on the host, so a seed gives the same initial weights and batch order on every
device, and bit-for-bit repeatable training on the CPU.
"""

import numpy as np

from .errors import InvalidInputError

_state = {"rng": np.random.default_rng(), "floatx": "float32"}


def set_seed(seed):
    """Seed gpudnn's random generator: ``set_seed(0)`` then the same code gives the same result."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, not {seed!r}")
    _state["rng"] = np.random.default_rng(int(seed))


def rng():
    """The generator every random draw of gpudnn uses."""
    return _state["rng"]


def set_floatx(dtype):
    """Default float type of new models: ``"float32"`` (default) or ``"float64"``.

    float16 is refused: without loss scaling its gradients underflow, and the 1e-7 clip of the
    cross-entropies rounds to nothing in it.
    """
    name = np.dtype(dtype).name if _is_float(dtype) else None
    if name is None:
        raise InvalidInputError(
            f"floatx must be 'float32' or 'float64' (float16 cannot train without loss scaling), not {dtype!r}")
    _state["floatx"] = name


def floatx():
    """The default float type name of new models."""
    return _state["floatx"]


def _is_float(dtype):
    try:
        return np.dtype(dtype).name in ("float32", "float64")
    except TypeError:
        return False


def resolve_dtype(dtype):
    """``dtype`` (or floatx when None) as a NumPy dtype, checked to be a float type."""
    dtype = floatx() if dtype is None else dtype
    if not _is_float(dtype):
        raise InvalidInputError(f"dtype must be 'float32' or 'float64' (float16 cannot train without loss scaling), not {dtype!r}")
    return np.dtype(dtype)
