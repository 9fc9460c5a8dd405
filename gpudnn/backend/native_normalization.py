"""The compiled CPU backend's batch normalization (backend/normalization.py): the row-wise
kernels ``batchnorm_forward_rows`` and ``batchnorm_backward_rows`` of
``kernels/normalization.cu`` compiled for the host, each a layer's whole pass in one call. A
mixin of :class:`~gpudnn.backend.native_backend.CompiledCpuBackend`; a call the kernels cannot
take (see ``CompiledCpuBackend._site``) is done by the NumPy reference.

The GPU's column kernels (a thread per feature walking its column) are the wrong loop order
for a CPU: 0.95 against NumPy's 0.15 ms forward at (128, 512). These walk the batch row by row
with the features innermost, the column sums in double as the reference's. A fused activation
that needs the C library's tanh or exp (``LIBM_FORWARD``) is applied after the pass by NumPy,
and softplus's gradient (``LIBM_BACKWARD``) before the backward pass, into a scratch buffer.
"""

import numpy as np

from .native_routing import LIBM_BACKWARD, LIBM_FORWARD
from .normalization import FUSED_ACTIVATIONS

_F64 = np.dtype(np.float64)


class NativeBatchNorm:
    """Mixin of CompiledCpuBackend: batchnorm_forward and batchnorm_backward, compiled."""

    def _bn_sums(self, k):
        """The 5k doubles the row kernels work in: column sums, then per-column factors."""
        return self._scratch((5 * k,), _F64, slot="batchnorm-sums")

    def batchnorm_forward(self, x, gamma, beta, moving_mean, moving_var, momentum, epsilon, out,
                          mean, inv_std, activation="linear", alpha=0.0):
        n, k = x.shape
        sums = self._bn_sums(k)
        arrays = (x, gamma, beta, out, mean, inv_std, moving_mean, moving_var, sums)
        site = self._cached(("bn-fwd",) + tuple(map(id, arrays)), arrays, self._bind_rows,
                            "batchnorm_forward_rows", arrays, 6)
        if site is None or activation not in FUSED_ACTIVATIONS:
            return super().batchnorm_forward(x, gamma, beta, moving_mean, moving_var, momentum,
                                             epsilon, out, mean, inv_std, activation, alpha)
        fused = "linear" if activation in LIBM_FORWARD else activation
        fn, _, px, pg, pb, py, pm, ps, pmm, pmv, psums = site[:11]
        fn(1, px, pg, pb, momentum, epsilon, n, k, 1, FUSED_ACTIVATIONS.index(fused), alpha,
           py, pm, ps, pmm, pmv, psums)
        if fused != activation:  # NumPy's tanh / exp, in place (see LIBM_FORWARD)
            self.activation_forward(activation, out, None, out, alpha)

    def batchnorm_backward(self, x, dy, gamma, mean, inv_std, dgamma, dbeta, dx, fy=None,
                           activation="linear", alpha=0.0):
        n, k = x.shape
        if activation in LIBM_BACKWARD:  # NumPy's gradient through it, the row kernel on that
            dy, fy, activation = self._through_activation(dy, fy, activation, alpha), None, \
                "linear"
        sums = self._bn_sums(k)
        wanted = (dgamma is not None, dbeta is not None, dx is not None)
        # what is not wanted is never written: each a 1-element stand-in of its own
        outs = tuple(self._scratch((1,), x.dtype, slot=("batchnorm-unused", j)) if a is None
                     else a for j, a in enumerate((dgamma, dbeta, dx)))
        arrays = (x, dy, dy if fy is None else fy, gamma, mean, inv_std, *outs, sums)
        site = self._cached(("bn-bwd",) + tuple(map(id, arrays)), arrays, self._bind_rows,
                            "batchnorm_backward_rows", arrays, 4)
        if site is None or activation not in FUSED_ACTIVATIONS:
            return super().batchnorm_backward(x, dy, gamma, mean, inv_std, dgamma, dbeta, dx,
                                              fy, activation, alpha)
        fn, _, px, pdy, pfy, pg, pm, ps, pdg, pdb, pdx, psums = site[:12]
        fn(1, px, pdy, pfy, pg, pm, ps, n, k, 1, *map(int, wanted),
           FUSED_ACTIVATIONS.index(activation), alpha, pdg, pdb, pdx, psums)

    def _bind_rows(self, kernel, arrays, outputs):
        """The site of a row kernel: every array but the float64 work space of x's dtype; x
        (and dy, fy) (n, k) C-contiguous, the per-feature arrays (k,)."""
        x = arrays[0]
        if getattr(x, "ndim", 0) != 2 or x.dtype not in (np.float32, np.float64):
            return None
        n, k = x.shape
        if any(a.shape not in ((n, k), (k,), (1,)) for a in arrays[:-1]):
            return None
        return self._site(kernel, arrays, outputs, (x.dtype,) * (len(arrays) - 1) + (_F64,))
