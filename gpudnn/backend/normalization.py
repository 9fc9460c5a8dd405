"""Batch normalization over the batch axis of an (n, k) batch (Keras 3's ``BatchNormalization``
with ``axis=-1``): the ops and their NumPy reference, a mixin of Backend. The NumPy backend runs
these; the CuPy backend runs ``kernels/normalization.cu`` (cupy_normalization.py), one thread per
feature, each walking its column, so one launch does a layer's whole forward or backward; on
the CPU that loop order loses to NumPy's row-wise passes (0.95 against 0.15 ms for a forward
pass at (128, 512) on this 2-core machine), so the compiled CPU backend runs the same file's row
forms (native_normalization.py), the reference's results to the bit.

Training, per feature j over the n rows (biased variance, as Keras), from one pass of sums
about the column's first element c_j (small sums, so no cancellation worth the name):
    d_ij = x_ij - c_j,  mean_j = c_j + sum_i d_ij / n
    var_j = max(sum_i d_ij^2 / n - (sum_i d_ij / n)^2, 0),  s_j = 1 / sqrt(var_j + eps)
    y_ij = f(gamma_j (x_ij - mean_j) s_j + beta_j)
    moving_mean_j = moving_mean_j momentum + mean_j (1 - momentum)   (moving_var likewise)
f is the activation of an Activation layer that follows, fused into the pass (linear when
none): one of FUSED_ACTIVATIONS, computed as the backend's activation_forward computes it.
Inference: y_ij = gamma_j (x_ij - moving_mean_j) / sqrt(moving_var_j + eps) + beta_j.
Backward of training, with xhat_ij = (x_ij - mean_j) s_j and g = dy f'(.) (the backend's
activation_backward from f's output):
    dbeta_j = sum_i g_ij,  dgamma_j = sum_i g_ij xhat_ij
    dx_ij = gamma_j s_j (g_ij - dbeta_j / n - xhat_ij dgamma_j / n)
Backward of inference (a frozen layer): dx_ij = dy_ij gamma_j / sqrt(moving_var_j + eps).
Column sums are accumulated in float64 and rounded once, here and in the kernels.
"""

import numpy as np

#: The activations a training pass can fuse, in the kernels' order (``act`` is the index;
#: linear, 0, is the pass without one).
FUSED_ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus")


class BatchNormOps:
    """Mixin of Backend: batch normalization (see the module docstring for the math)."""

    def batchnorm_forward(self, x, gamma, beta, moving_mean, moving_var, momentum, epsilon, out,
                          mean, inv_std, activation="linear", alpha=0.0):
        """Training forward: ``out`` (n, k) from x (n, k) and gamma, beta (k,), through the
        fused ``activation`` (a name of FUSED_ACTIVATIONS, with its ``alpha``); writes the
        batch's ``mean`` and ``inv_std`` (k,) for the backward pass and updates ``moving_mean``
        and ``moving_var`` (k,) in place. ``out`` may not be ``x``."""
        n = x.shape[0]
        dtype = x.dtype.type
        c = x[0].astype(np.float64)
        d = x.astype(np.float64) - c
        s1, s2 = np.sum(d, axis=0), np.sum(d * d, axis=0)
        m = s1 / n
        v = s2 / n - m * m
        v = np.where(v < 0, 0.0, v).astype(x.dtype)  # 0 for rounding below it, NaN kept
        mean[...] = c + m
        inv_std[...] = dtype(1) / np.sqrt(v + dtype(epsilon))
        np.subtract(x, mean, out=out)
        out *= inv_std * gamma
        out += beta
        if activation != "linear":
            self.activation_forward(activation, out, None, out, alpha)
        keep = dtype(momentum)
        moving_mean *= keep
        moving_mean += mean * (dtype(1) - keep)
        moving_var *= keep
        moving_var += v * (dtype(1) - keep)

    def batchnorm_inference(self, x, gamma, beta, moving_mean, moving_var, epsilon, out):
        """Inference forward: ``out = gamma (x - moving_mean) / sqrt(moving_var + eps) +
        beta``, all per feature; ``out`` (n, k) may be ``x``."""
        scale = gamma / np.sqrt(moving_var + x.dtype.type(epsilon))
        np.subtract(x, moving_mean, out=out)
        out *= scale
        out += beta

    def batchnorm_backward(self, x, dy, gamma, mean, inv_std, dgamma, dbeta, dx, fy=None,
                           activation="linear", alpha=0.0):
        """Backward of the training forward: ``dgamma``, ``dbeta`` (k,) (None: not wanted, a
        layer without that weight) and ``dx`` (n, k) (None: not wanted); ``dy`` is read only.
        With a fused ``activation``, ``dy`` is the gradient of its output ``fy`` (n, k)."""
        n = x.shape[0]
        dy = self._through_activation(dy, fy, activation, alpha)
        xhat = (x - mean) * inv_std
        sum_dy = np.sum(dy, axis=0, dtype=np.float64)
        sum_dy_xhat = np.sum(dy * xhat, axis=0, dtype=np.float64)
        if dbeta is not None:
            dbeta[...] = sum_dy
        if dgamma is not None:
            dgamma[...] = sum_dy_xhat
        if dx is not None:
            a = (sum_dy / n).astype(x.dtype)
            b = (sum_dy_xhat / n).astype(x.dtype)
            np.subtract(dy, a, out=dx)
            dx -= xhat * b
            dx *= gamma * inv_std

    def _through_activation(self, dy, fy, activation, alpha):
        """The gradient through a fused ``activation`` from its output ``fy``, ``dy f'``, in a
        work array (``dy`` itself for linear)."""
        if activation == "linear":
            return dy
        g = self._scratch(dy.shape, dy.dtype, slot="batchnorm-through-activation")
        self.activation_backward(activation, fy, dy, g, alpha)
        return g

    def batchnorm_inference_backward(self, dy, gamma, moving_var, epsilon, dx):
        """Backward of the inference forward (a frozen layer): ``dx = dy gamma /
        sqrt(moving_var + eps)``; ``dx`` may be ``dy``."""
        np.multiply(dy, gamma / np.sqrt(moving_var + dy.dtype.type(epsilon)), out=dx)

    # Two small per-feature ops, as ufuncs writing into ``out`` (no temporaries, so a CUDA graph
    # can capture them): ``xp`` is NumPy here, CuPy for CuPy arrays (cupy_normalization.py).
    def floor_into(self, values, floor, out, xp=np):
        """``out = max(values, floor)`` element by element (Normalization's variance floor,
        Keras's ``max(sqrt(variance), 1e-7)`` as ``sqrt(max(variance, 1e-14))``)."""
        xp.maximum(values, values.dtype.type(floor), out=out)

    def inverse_sqrt_into(self, values, epsilon, out, xp=np):
        """``out = 1 / sqrt(values + epsilon)`` element by element, rounded as the inference
        kernel's scale (BatchNormalization's ``s`` for training in inference mode)."""
        xp.add(values, values.dtype.type(epsilon), out=out)
        xp.sqrt(out, out=out)
        xp.divide(1, out, out=out)
