"""Arrays of other libraries as inputs: NumPy, anything with ``__dlpack__`` (PyTorch, JAX,
CuPy) or ``__cuda_array_interface__`` (CuPy, Numba, PyTorch CUDA tensors).

A CPU backend reads CPU tensors through DLPack without a copy and brings GPU arrays to the host
in one transfer; the CuPy backend uses a GPU array on its own device in place (see
cupy_foreign.py). ``adopt`` makes a checked host array the backend's array: on the CPU that is
the array itself when it is C-contiguous in the dtype asked for (no copy).
"""

import numpy as np

from ..errors import InvalidInputError

#: DLPack device types (dlpack.h): CPU, CUDA, CUDA pinned host memory, CUDA managed memory
DLPACK_CPU, DLPACK_CUDA, DLPACK_CUDA_HOST, DLPACK_CUDA_MANAGED = 1, 2, 3, 13


def dlpack_device(data):
    """``(device type, device id)`` of an array of another library, or None for plain data."""
    if isinstance(data, np.ndarray):
        return None
    if hasattr(data, "__cuda_array_interface__"):
        device = getattr(data, "device", None)
        return DLPACK_CUDA, int(getattr(device, "id", getattr(device, "index", 0)) or 0)
    probe = getattr(data, "__dlpack_device__", None)
    if probe is None:
        return None
    try:
        kind, index = probe()
    except Exception:
        return None
    return int(kind), int(index)


def from_cpu_dlpack(data):
    """A NumPy view of a CPU tensor of another library (DLPack: no copy); arrays NumPy reads
    natively pass unchanged."""
    device = dlpack_device(data)
    if device is None or device[0] != DLPACK_CPU:
        return data
    try:
        return np.from_dlpack(data)
    except (TypeError, BufferError, RuntimeError):
        return data  # e.g. a tensor that needs grad: np.asarray will say why


def cuda_to_host(data, what):
    """A GPU array of any library on the host, in one transfer (for a CPU model)."""
    try:
        import cupy
    except ImportError:
        raise InvalidInputError(
            f"{what} is an array on a GPU but the model runs on the CPU, and CuPy (which "
            f"gpudnn uses to read GPU arrays) is not installed; pass a host array (e.g. "
            f"tensor.cpu().numpy()) or build the model with device='cuda'") from None
    return cupy.asnumpy(cupy.from_dlpack(data) if hasattr(data, "__dlpack__")
                        else cupy.asarray(data))


class ForeignArrays:
    """Mixin of Backend: what the loops need to take arrays from anywhere (CPU defaults)."""

    def foreign_input(self, data, what):
        """``data`` ready for this backend's input checks: this backend's device array when it
        is one already, else host data NumPy reads (a CPU DLPack tensor as a NumPy view, a GPU
        array brought to the host)."""
        device = dlpack_device(data)
        if device is not None and device[0] in (DLPACK_CUDA, DLPACK_CUDA_MANAGED):
            return cuda_to_host(data, what)
        return from_cpu_dlpack(data)

    def is_device_array(self, array):
        """True for this backend's device arrays (never on the CPU: host arrays are host)."""
        return False

    def adopt(self, array, dtype=None):
        """A checked array as this backend's array: the array itself when it already is one,
        C-contiguous in ``dtype``; else one copy or conversion."""
        return np.ascontiguousarray(array, dtype=dtype)

    def host_array(self, array):
        """A host view or copy of data (device arrays are copied back; host data passes)."""
        return array
