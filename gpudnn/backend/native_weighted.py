"""The compiled CPU backend's weighted loss ops (per-sample weights, ``weights=`` (n, 1)).

A mixin of :class:`~gpudnn.backend.native_backend.CompiledCpuBackend`: the weighted twins
``NAME_w`` of the loss kernels of ``kernels/losses.cu``, compiled for the host, run the weighted
gradients (one pass, each row's weight read as ``w[i / k]``) and the weighted loss terms, which
NumPy then sums in float64 (the unweighted loss stays NumPy's, as before). The weighted correct
counts are NumPy's. A call the kernels cannot take (see ``CompiledCpuBackend._site``) is done by
the NumPy reference, :class:`~gpudnn.backend.numpy_losses.NumpyLosses`.
"""

import numpy as np

from .base import EPSILON, check_weights, smoothing_terms

#: The kernel of each loss kind's gradient (cce_logits is a row kernel over (n, k)).
GRAD_KERNELS = {"mse": "scaled_diff", "mae": "mae_grad", "cce": "cce_grad", "bce": "bce_grad",
                "bce_logits": "bce_logits_grad", "cce_logits": "cce_logits_grad",
                "huber": "huber_grad", "log_cosh": "log_cosh_grad", "kld": "kld_grad",
                "poisson": "poisson_grad", "mape": "mape_grad", "msle": "msle_grad",
                "hinge": "hinge_grad", "squared_hinge": "squared_hinge_grad"}
#: The weighted gradient kernel of each loss kind (cce_logits_grad_w is a row kernel).
WEIGHTED_GRAD_KERNELS = {"mse": "scaled_diff_w", "mae": "mae_grad_w", "cce": "cce_grad_w",
                         "bce": "bce_grad_w", "bce_logits": "bce_logits_grad_w",
                         "cce_logits": "cce_logits_grad_w", "huber": "huber_grad_w",
                         "log_cosh": "log_cosh_grad_w", "kld": "kld_grad_w",
                         "poisson": "poisson_grad_w", "mape": "mape_grad_w",
                         "msle": "msle_grad_w", "hinge": "hinge_grad_w",
                         "squared_hinge": "squared_hinge_grad_w"}



def grad_scalars(kind, smoothing, n, k):
    """The scalars of loss ``kind``'s gradient kernel (and its weighted twin) between y (or w)
    and k: label smoothing's keep and shift or huber's delta, the probability clip, and the
    mean's scale, 1 / (n k) (2 / (n k) for mse) or -1 / n and 1 / n for the categorical ones (a
    row's sum)."""
    keep, shift = smoothing_terms(kind, smoothing, k)
    size = n * k
    if kind == "mse":
        return (2.0 / size,)
    if kind in ("mae", "log_cosh", "hinge", "squared_hinge"):
        return (1.0 / size,)
    if kind == "huber":  # smoothing is its delta
        return (float(smoothing), 1.0 / size)
    if kind in ("kld", "poisson", "mape", "msle"):
        return (EPSILON, -1.0 / n if kind == "kld" else 1.0 / size)
    if kind == "cce":
        return (keep, shift, EPSILON, 1 - EPSILON, -1.0 / n)
    if kind == "bce":
        return (keep, shift, EPSILON, 1 - EPSILON, 1.0 / size)
    if kind == "bce_logits":
        return (keep, shift, 1.0 / size)
    return (keep, shift, 1.0 / n)  # cce_logits

class NativeWeightedLosses:
    """Mixin of CompiledCpuBackend: the weighted loss gradients and loss sums."""

    def _weighted_site(self, kernel, y_pred, y_true, w, out):
        """The cached site ``(fn, size, p, y, w, out, ...)`` of the weighted ``kernel`` over
        y_pred, y_true and out (n, k) and the n weights w, or None (NumPy does the op)."""
        arrays = (y_pred, y_true, w, out)
        return self._cached((kernel,) + tuple(map(id, arrays)), arrays, self._bind_weighted,
                            kernel, arrays)

    def _bind_weighted(self, kernel, arrays):
        y_pred, y_true, w, out = arrays
        shape = getattr(y_pred, "shape", ())
        if len(shape) != 2 or getattr(y_true, "shape", None) != shape or \
                getattr(out, "shape", None) != shape or getattr(w, "size", None) != shape[0]:
            return None
        return self._site(kernel, arrays, 1)

    def _weighted_loss_grad(self, kind, y_pred, y_true, out, smoothing, weights):
        w = check_weights(weights, y_pred)
        kernel = WEIGHTED_GRAD_KERNELS.get(kind)
        site = self._weighted_site(kernel, y_pred, y_true, w, out) if kernel else None
        if site is None:
            return super().loss_grad(kind, y_pred, y_true, out, smoothing, weights=w)
        fn, size, pp, py, pw, po = site[:6]
        n, k = y_pred.shape
        # the unweighted kernel's scalars (native_backend.grad_scalars), w after y, k last
        fn(n if kind == "cce_logits" else size, pp, py, pw, *grad_scalars(kind, smoothing, n, k),
           k, po)

    def _weighted_logit_grad(self, kind, y_pred, y_true, out, smoothing, weights):
        w = check_weights(weights, y_pred)
        site = self._weighted_site("smoothed_diff_w", y_pred, y_true, w, out) \
            if kind in ("bce", "cce") else None
        if site is None:
            return super().logit_grad(kind, y_pred, y_true, out, smoothing, weights=w)
        fn, size, pp, py, pw, po = site[:6]
        n, k = y_pred.shape
        keep, shift = smoothing_terms(kind, smoothing, k)
        fn(size, pp, py, pw, keep, shift, 1.0 / (n if kind == "cce" else size), k, po)

    def accumulate_loss(self, kind, y_pred, y_true, total, smoothing=0.0, weights=None):
        if weights is None:
            return super().accumulate_loss(kind, y_pred, y_true, total, smoothing)
        w = check_weights(weights, y_pred)
        terms = self._scratch(y_pred.shape, y_pred.dtype, slot="terms")
        site = self._weighted_site(f"{kind}_terms_w", y_pred, y_true, w, terms) \
            if kind in WEIGHTED_GRAD_KERNELS else None
        if site is None:
            return super().accumulate_loss(kind, y_pred, y_true, total, smoothing, weights=w)
        fn, size, pp, py, pw, po = site[:6]
        n, k = y_pred.shape
        keep, shift = smoothing_terms(kind, smoothing, k)
        if kind in ("mse", "mae", "log_cosh", "hinge", "squared_hinge"):
            fn(size, pp, py, pw, k, po)
            scale = 1.0 / size
        elif kind == "huber":
            fn(size, pp, py, pw, float(smoothing), k, po)
            scale = 1.0 / size
        elif kind in ("kld", "poisson", "mape", "msle"):
            fn(size, pp, py, pw, EPSILON, k, po)
            scale = 1.0 / (n if kind == "kld" else size)
        elif kind in ("cce", "bce"):
            fn(size, pp, py, pw, keep, shift, EPSILON, 1 - EPSILON, k, po)
            scale = -1.0 / (n if kind == "cce" else size)
        elif kind == "bce_logits":
            fn(size, pp, py, pw, keep, shift, k, po)
            scale = 1.0 / size
        else:  # cce_logits: a row kernel
            fn(n, pp, py, pw, keep, shift, k, po)
            scale = 1.0 / n
        total += np.sum(terms, dtype=np.float64) * (scale * n)
