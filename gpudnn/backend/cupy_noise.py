"""The CuPy backend's noise ops (backend/noise.py): one launch each of ``dropout_shared``,
``gaussian_noise`` or ``gaussian_dropout`` from ``kernels/random.cu``, the step read by the
kernel from device memory (a captured graph sees it advance). A mixin of
:class:`~gpudnn.backend.cupy_backend.CupyBackend`."""

from .base import dropout_threshold


class CupyNoise:
    """Mixin of CupyBackend: shared dropout masks, GaussianNoise, GaussianDropout."""

    def dropout_shared(self, x, seed, step, rate, out, share):
        k = x.shape[1]
        with self._device:
            self._launch("dropout_shared", x, step, int(seed), dropout_threshold(rate),
                         1.0 / (1.0 - rate), k, 0 if share[0] else k, 0 if share[1] else 1,
                         out)

    def gaussian_noise(self, x, seed, step, stddev, out):
        with self._device:
            self._launch("gaussian_noise", x, step, int(seed), float(stddev), out)

    def gaussian_dropout(self, x, seed, step, stddev, out):
        with self._device:
            self._launch("gaussian_dropout", x, step, int(seed), float(stddev), out)
