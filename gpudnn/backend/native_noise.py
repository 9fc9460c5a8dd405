"""The compiled CPU backend's noise ops (backend/noise.py): the kernels ``dropout_shared``,
``gaussian_noise`` and ``gaussian_dropout`` of ``kernels/random.cu`` compiled for the host, one
pass each, the step read from memory as on the GPU. A mixin of
:class:`~gpudnn.backend.native_backend.CompiledCpuBackend`; a call the kernels cannot take
(see ``CompiledCpuBackend._site``) is done by the NumPy reference, which draws the same bits.
"""

import numpy as np

from .base import dropout_threshold


class NativeNoise:
    """Mixin of CompiledCpuBackend: shared dropout masks, GaussianNoise, GaussianDropout."""

    def _noise_site(self, kernel, x, step, out):
        """``(fn, n, x_ptr, out_ptr, step_ptr, ...)`` of ``kernel`` on x and out (n, k), or None."""
        return self._cached((kernel, id(x), id(step), id(out)), (x, step, out),
                            self._bind_noise, kernel, x, step, out)

    def _bind_noise(self, kernel, x, step, out):
        if not (isinstance(step, np.ndarray) and step.dtype == np.int64 and step.size >= 1
                and step.flags.c_contiguous) or getattr(x, "ndim", 0) != 2 \
                or getattr(out, "shape", None) != x.shape:
            return None
        site = self._site(kernel, (x, out), 1)
        return None if site is None else site + (step.ctypes.data,)

    def dropout_shared(self, x, seed, step, rate, out, share):
        site = self._noise_site("dropout_shared", x, step, out)
        if site is None:
            return super().dropout_shared(x, seed, step, rate, out, share)
        fn, n, px, pout, pstep = site[:5]
        k = x.shape[1]
        fn(n, px, pstep, int(seed), dropout_threshold(rate), 1.0 / (1.0 - rate), k,
           0 if share[0] else k, 0 if share[1] else 1, pout)

    def gaussian_noise(self, x, seed, step, stddev, out):
        self._gaussian_kernel("gaussian_noise", x, seed, step, stddev, out)

    def gaussian_dropout(self, x, seed, step, stddev, out):
        self._gaussian_kernel("gaussian_dropout", x, seed, step, stddev, out)

    def _gaussian_kernel(self, kernel, x, seed, step, stddev, out):
        """The op ``kernel`` (gaussian_noise or gaussian_dropout: the same arguments) by its
        kernel, or by the NumPy reference when the kernel cannot take the call."""
        site = self._noise_site(kernel, x, step, out)
        if site is None:
            return getattr(super(), kernel)(x, seed, step, stddev, out)
        fn, n, px, pout, pstep = site[:5]
        fn(n, px, pstep, int(seed), float(stddev), pout)
