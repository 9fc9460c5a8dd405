"""Backends: the only code that knows NumPy from CuPy.

``backend_for(device)`` turns a device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"auto"``)
into a cached :class:`Backend`. Asking for a GPU where none is usable raises
:class:`~gpudnn.errors.DeviceUnavailableError` that says why; it never falls back silently.

``"cpu"`` is the :class:`~gpudnn.backend.native_backend.CompiledCpuBackend` (NumPy with the
kernels of ``kernels/`` compiled by g++, built the first time the CPU backend is asked for, never
at import) when it builds; otherwise plain :class:`NumpyBackend`, with one warning that says why.
``GPUDNN_CPU_KERNELS=0`` asks for plain NumPy without a warning.
"""

import warnings

from ..config import backend, env_flag, floatx, set_floatx  # noqa: F401 (Keras's keras.backend.*)
from ..errors import DeviceUnavailableError, InvalidInputError, KernelCompileError
from ..utils.naming import clear_session  # Keras's keras.backend.clear_session
from .base import ACTIVATION_KINDS, EPSILON, LOSS_KINDS, Backend
from .numpy_backend import NumpyBackend

__all__ = ["Backend", "NumpyBackend", "backend_for", "clear_session", "cpu_backend",
           "cuda_problem", "parse_device", "ACTIVATION_KINDS", "LOSS_KINDS", "EPSILON",
           "backend", "floatx", "set_floatx", "epsilon"]


def epsilon():
    """Keras's ``keras.backend.epsilon()``: the fuzz factor of the losses' clips, 1e-7."""
    return EPSILON

_backends = {}

INSTALL_HINT = (
    "install CuPy for your CUDA version with `pip install gpudnn[cuda12]` or "
    "`pip install gpudnn[cuda13]` (see `nvidia-smi`), or use device='cpu'"
)


def parse_device(device):
    """Normalise a device string to ``"cpu"``, ``"auto"`` or ``("cuda", index)``."""
    if not isinstance(device, str):
        raise InvalidInputError(
            f"device must be a string such as 'cpu', 'cuda', 'cuda:1' or 'auto', not {device!r}")
    text = device.strip().lower()
    if text in ("cpu", "auto"):
        return text
    if text in ("cuda", "gpu"):
        return ("cuda", 0)
    if text.startswith(("cuda:", "gpu:")):
        index = text.split(":", 1)[1]
        if index.isdigit():
            return ("cuda", int(index))
    raise InvalidInputError(
        f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' (N a GPU index) or 'auto'")


def cuda_problem(index=0):
    """Why CUDA device ``index`` cannot be used, as a sentence with the fix; None when it can."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not installed ({exc}); {INSTALL_HINT}"
    except Exception as exc:  # a broken CuPy install raises all sorts at import
        return f"CuPy failed to import ({type(exc).__name__}: {exc}); reinstall it: {INSTALL_HINT}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        text = str(exc)
        if "InsufficientDriver" in text or "insufficient" in text.lower():
            return (f"the NVIDIA driver is missing or too old for this CuPy ({text}); update the "
                    "driver, or install the CuPy that matches it (gpudnn[cuda12] for CUDA 12 drivers)")
        return f"no CUDA device is usable ({text}); check `nvidia-smi`, or use device='cpu'"
    if count == 0:
        return "CuPy found no CUDA device on this machine; use device='cpu'"
    if index >= count:
        return f"cuda:{index} does not exist: this machine has {count} CUDA device(s), cuda:0..cuda:{count - 1}"
    return None


def cpu_backend():
    """A new CPU backend: compiled kernels when they build and are not switched off, else NumPy."""
    if not env_flag("GPUDNN_CPU_KERNELS", True):
        return NumpyBackend()
    from .native_backend import CompiledCpuBackend

    backend = CompiledCpuBackend()
    try:
        backend.load()
    except KernelCompileError as exc:
        reason = "\n".join(str(exc).splitlines()[:12])
        warnings.warn(f"gpudnn: the compiled CPU kernels are unavailable, so the CPU backend is "
                      f"plain NumPy (slower); set GPUDNN_CPU_KERNELS=0 to silence this. "
                      f"Cause: {reason}", RuntimeWarning, stacklevel=3)
        return NumpyBackend()
    return backend


def backend_for(device):
    """The cached Backend for ``device``; ``"auto"`` picks CUDA device 0 when usable, else CPU."""
    parsed = parse_device(device)
    if parsed == "auto":
        parsed = ("cuda", 0) if cuda_problem(0) is None else "cpu"
    if parsed == "cpu":
        key = "cpu"
    else:
        key = f"cuda:{parsed[1]}"
    backend = _backends.get(key)
    if backend is None:
        if key == "cpu":
            backend = cpu_backend()
        else:
            problem = cuda_problem(parsed[1])
            if problem is not None:
                raise DeviceUnavailableError(f"device {device!r} is not usable: {problem}")
            from .cupy_backend import CupyBackend

            backend = CupyBackend(parsed[1])
        _backends[key] = backend
    return backend
