"""The CuPy backend's side of foreign.py: a GPU array on the model's device (a CuPy array, or
any ``__dlpack__`` / ``__cuda_array_interface__`` producer) is used in place, without a copy; one
on another GPU is refused, naming both devices; host data takes one transfer."""

import cupy

from ..errors import InvalidInputError
from .foreign import DLPACK_CUDA, DLPACK_CUDA_MANAGED, dlpack_device, from_cpu_dlpack


class CupyForeignArrays:
    """Mixin of CupyBackend (before ForeignArrays in its bases)."""

    def foreign_input(self, data, what):
        if isinstance(data, cupy.ndarray):
            return self._on_my_device(data, what)
        device = dlpack_device(data)
        if device is not None and device[0] in (DLPACK_CUDA, DLPACK_CUDA_MANAGED):
            with self._device:
                array = cupy.from_dlpack(data) if hasattr(data, "__dlpack__") \
                    else cupy.asarray(data)
            return self._on_my_device(array, what)
        return from_cpu_dlpack(data)

    def _on_my_device(self, array, what):
        if array.device.id != self._device.id:
            raise InvalidInputError(
                f"{what} is on GPU {array.device.id} but the model is on GPU "
                f"{self._device.id}; move it (with cupy.cuda.Device({self._device.id}): "
                f"cupy.asarray({what})) or build the model with device='cuda:{array.device.id}'")
        return array

    def is_device_array(self, array):
        return isinstance(array, cupy.ndarray)

    def adopt(self, array, dtype=None):
        if isinstance(array, cupy.ndarray):
            with self._device:
                return cupy.ascontiguousarray(array, dtype=dtype)
        return self.from_host(array, dtype)

    def host_array(self, array):
        return self.to_host(array) if isinstance(array, cupy.ndarray) else array
