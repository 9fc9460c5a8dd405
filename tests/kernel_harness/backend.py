"""The CuPy backend with its device swapped for the host, for the CPU harness.

:class:`HostRoutedBackend` is the real :class:`~gpudnn.backend.cupy_backend.CupyBackend`, its
kernels the real ``cupy.ElementwiseKernel`` objects built from ``kernels/``; only its allocations
(and ``from_host`` copies) return :class:`~kernel_harness.HostArray` and its device context is a
no-op, so each kernel launch runs the kernel's body in the g++ harness (addresses, which decide
whether an update takes its vector form, are the host arrays'). The one CuPy routine on a kernel
path, ``_reduce_sum`` (the loss total), is replaced by NumPy's sum.
"""

import contextlib
import importlib.util

import numpy as np

from . import HostArray, have_gxx, require


def host_routed_backend():
    """A new HostRoutedBackend; skips the test without CuPy or g++ (fails instead under
    GPUDNN_REQUIRE_KERNEL_CHECKS, see kernel_harness.require)."""
    require("CuPy", importlib.util.find_spec("cupy") is not None)
    require("g++", have_gxx())
    from gpudnn.backend.cupy_backend import CupyBackend

    class HostRoutedBackend(CupyBackend):
        def __init__(self):
            super().__init__(0)
            self._device = contextlib.nullcontext()

        def empty(self, shape, dtype):
            return np.empty(shape, dtype).view(HostArray)

        def zeros(self, shape, dtype):
            return np.zeros(shape, dtype).view(HostArray)

        def from_host(self, array, dtype=None):  # constants a kernel reads (thresholds)
            return np.array(array, dtype=dtype, order="C", copy=True).view(HostArray)

        @staticmethod
        def _address(array):
            return np.asarray(array).ctypes.data

        def _reduce_sum(self, a, scale):
            total = np.sum(np.asarray(a).view(np.ndarray))
            total *= scale
            return np.asarray(total)

    return HostRoutedBackend()
