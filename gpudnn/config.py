"""Global settings: the random seed, the default float type (Keras's ``floatx``) and whether the
CPU flushes subnormal floats to zero (PyTorch's ``set_flush_denormal``).

All randomness (weight initialisation, shuffling, validation splits) comes from one NumPy
``Generator`` on the host, so a seed gives the same initial weights and batch order on every
device, and bit-for-bit repeatable training on the CPU.
"""

import os
import platform

import numpy as np

from . import dtype_policies
from .errors import InvalidInputError

#: CPUs whose flush-to-zero mode the compiled kernels set: x86-64 (MXCSR FTZ|DAZ) and AArch64
#: (FPCR FZ). Elsewhere subnormals are kept, on both CPU paths.
FLUSH_SUPPORTED = platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64")

_state = {"rng": np.random.default_rng(), "floatx": "float32", "flush_denormal": FLUSH_SUPPORTED}
#: Called with the new flush mode by ``set_flush_denormal``: the compiled CPU kernels' loader
#: registers here (gpudnn.backend.host_kernels), so this module imports nothing of the backend.
_flush_listeners = []


def set_seed(seed):
    """Seed gpudnn's random generator: ``set_seed(0)`` then the same code gives the same result."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, not {seed!r}")
    _state["rng"] = np.random.default_rng(int(seed))


def rng():
    """The generator every random draw of gpudnn uses."""
    return _state["rng"]


def set_floatx(dtype):
    """Default float type of new models' weights: ``"float32"`` (default) or ``"float64"``.

    16-bit weights are refused (updates smaller than half a weight's spacing would be lost):
    16-bit compute is a mixed dtype policy, float32 weights computing in 16 bits.
    """
    name = np.dtype(dtype).name if _is_float(dtype) else None
    if name is None:
        raise InvalidInputError(f"floatx must be 'float32' or 'float64', not {dtype!r}{_MIXED_HINT}")
    _state["floatx"] = name


def floatx():
    """The default float type name of new models."""
    return _state["floatx"]


def backend():
    """Keras's ``keras.config.backend()``: the name of the library computing, ``"gpudnn"``."""
    return "gpudnn"


def set_dtype_policy(policy):
    """Keras 3's ``keras.config.set_dtype_policy``: the policy layers created without ``dtype=``
    take (``"mixed_bfloat16"``, ``"mixed_float16"``, ``"float32"``, ``"float64"`` or a
    ``DTypePolicy``); ``None`` goes back to floatx. See :mod:`gpudnn.dtype_policies`."""
    dtype_policies.set_global(policy)


def dtype_policy():
    """The global DTypePolicy: the one set by ``set_dtype_policy``, else floatx's."""
    return dtype_policies.global_or_none() or dtype_policies.DTypePolicy(floatx())


#: what the dtype errors add: where 16-bit compute is
_MIXED_HINT = ("; for 16-bit compute use a mixed dtype policy, e.g. "
               "gpudnn.mixed_precision.set_global_policy('mixed_bfloat16') or a layer's "
               "dtype='mixed_float16' (docs/mixed-precision.md)")


def _is_float(dtype):
    try:
        return np.dtype(dtype).name in ("float32", "float64")
    except TypeError:
        return False


def resolve_dtype(dtype):
    """``dtype`` (when None: the global dtype policy's variable dtype, floatx unless set) as a
    NumPy dtype, checked to be a float type."""
    dtype = dtype_policy().variable_dtype if dtype is None else dtype
    if not _is_float(dtype):
        raise InvalidInputError(f"dtype must be 'float32' or 'float64', not {dtype!r}{_MIXED_HINT}")
    return np.dtype(dtype)


def set_flush_denormal(mode):
    """Flush subnormal floats to zero in gpudnn's CPU compute (``True``, the default) or keep them
    (``False``); returns True where the CPU supports it (x86-64, AArch64), else False and nothing
    is flushed. PyTorch's ``torch.set_flush_denormal``, scoped to gpudnn: the compiled CPU
    kernels run with FTZ|DAZ (AArch64: FZ) set for the duration of each call and restore the
    caller's mode, so code outside gpudnn keeps its floating-point mode; the NumPy backend
    flushes the same values in its optimizer updates, so both CPU paths agree to the bit.
    Subnormals (below 1.2e-38 in float32) are otherwise ~40x slower on x86 and pile up in
    optimizer state, e.g. Adam's first moment of rarely active inputs. CUDA is unaffected.
    """
    if not isinstance(mode, (bool, np.bool_)):
        raise InvalidInputError(f"set_flush_denormal takes True or False, not {mode!r}")
    _state["flush_denormal"] = bool(mode) and FLUSH_SUPPORTED
    for listener in _flush_listeners:
        listener(_state["flush_denormal"])
    return FLUSH_SUPPORTED


def on_flush_denormal_change(listener):
    """Call ``listener(mode)`` at every ``set_flush_denormal`` (the backend's hook)."""
    _flush_listeners.append(listener)


def flush_denormal():
    """Whether gpudnn's CPU compute flushes subnormals to zero now (see set_flush_denormal)."""
    return _state["flush_denormal"]


def env_flag(name, default):
    """The on/off switch ``name`` of the environment: ``0``/``false``/``no``/``off`` is off,
    ``1``/``true``/``yes``/``on`` is on (any case, spaces ignored), anything else or unset is
    ``default``. Read at every call, so a change of the variable takes effect."""
    value = os.environ.get(name, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return default
