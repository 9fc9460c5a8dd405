"""The CuPy backend's batch normalization: ``kernels/normalization.cu``, one launch per forward
or backward pass (see normalization.py for the math and the NumPy reference); the two small
per-feature ops as CuPy's ufuncs; LayerNormalization's row ops (row_normalization.py) and the weight
constraints (constraints.py) as CuPy array operations."""

import cupy

from .normalization import FUSED_ACTIVATIONS


class CupyBatchNorm:
    """Mixin of CupyBackend (before BatchNormOps in its bases)."""

    def batchnorm_forward(self, x, gamma, beta, moving_mean, moving_var, momentum, epsilon, out,
                          mean, inv_std, activation="linear", alpha=0.0):
        n, k = x.shape
        with self._device:
            self._launch("batchnorm_forward", x.reshape(-1), gamma, beta, momentum, epsilon, n,
                         k, k, _act(activation), alpha, out.reshape(-1), mean, inv_std,
                         moving_mean, moving_var, size=k)

    def batchnorm_inference(self, x, gamma, beta, moving_mean, moving_var, epsilon, out):
        with self._device:
            self._launch("batchnorm_inference", x, gamma, beta, moving_mean, moving_var,
                         epsilon, x.shape[1], out)

    def batchnorm_backward(self, x, dy, gamma, mean, inv_std, dgamma, dbeta, dx, fy=None,
                           activation="linear", alpha=0.0):
        n, k = x.shape
        with self._device:
            unused = self._scratch((1,), x.dtype, slot="batchnorm-unused")
            self._launch("batchnorm_backward", x.reshape(-1), dy.reshape(-1),
                         (dy if fy is None else fy).reshape(-1), gamma, mean, inv_std, n, k, k,
                         int(dgamma is not None), int(dbeta is not None), int(dx is not None),
                         _act(activation), alpha, unused if dgamma is None else dgamma,
                         unused if dbeta is None else dbeta,
                         unused if dx is None else dx.reshape(-1), size=k)

    def floor_into(self, values, floor, out, xp=None):
        with self._device:
            super().floor_into(values, floor, out, xp=cupy.get_array_module(values))

    def inverse_sqrt_into(self, values, epsilon, out, xp=None):
        with self._device:
            super().inverse_sqrt_into(values, epsilon, out, xp=cupy.get_array_module(values))

    def row_norm_forward(self, x, gamma, beta, epsilon, centered, out, xp=None):
        with self._device:
            super().row_norm_forward(x, gamma, beta, epsilon, centered, out, xp=cupy)

    def row_norm_backward(self, x, dy, gamma, epsilon, centered, dgamma, dbeta, dx, xp=None):
        with self._device:
            super().row_norm_backward(x, dy, gamma, epsilon, centered, dgamma, dbeta, dx,
                                      xp=cupy)

    def constrain(self, kind, w, axis, min_value, max_value, rate, xp=None):
        with self._device:
            super().constrain(kind, w, axis, min_value, max_value, rate, xp=cupy)

    def batchnorm_inference_backward(self, dy, gamma, moving_var, epsilon, dx):
        with self._device:
            self._launch("batchnorm_inference_backward", dy, gamma, moving_var, epsilon,
                         dy.shape[1], dx)


def _act(activation):
    """The kernels' code of a fused activation (its index in FUSED_ACTIVATIONS)."""
    return FUSED_ACTIVATIONS.index(activation)
