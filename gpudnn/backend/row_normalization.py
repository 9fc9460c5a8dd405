"""Normalization of each sample over its features (Keras 3's ``LayerNormalization`` and
``RMSNormalization`` with ``axis=-1``): the ops, a mixin of Backend, written once for NumPy and
CuPy (``xp``, the arrays' module; the CuPy backend passes ``cupy``). No state is kept between
forward and backward: backward recomputes each row's statistics from ``x`` with the same
operations, so both passes see the same bits, and any batch size needs no buffer of its own.

For row i of an (n, k) batch, the statistics accumulated in float64 and rounded once:
    centered (LayerNormalization):  mu_i = sum_j x_ij / k,  var_i = sum_j (x_ij - mu_i)^2 / k
    not centered (RMSNormalization): mu_i = 0,             var_i = sum_j x_ij^2 / k
    r_i = 1 / sqrt(var_i + eps),  xhat_ij = (x_ij - mu_i) r_i
    y_ij = gamma_j xhat_ij + beta_j           (gamma 1 and beta 0 when absent)
Backward, with g_ij = dy_ij gamma_j:
    dgamma_j = sum_i dy_ij xhat_ij,  dbeta_j = sum_i dy_ij
    dx_ij = r_i (g_ij - a_i - xhat_ij b_i),  b_i = sum_j g_ij xhat_ij / k,
    a_i = sum_j g_ij / k when centered, else 0
The column sums (dgamma, dbeta) and the row means a, b are accumulated in float64.
"""

import numpy as np


class RowNormOps:
    """Mixin of Backend: per-sample normalization (see the module docstring for the math)."""

    def row_norm_forward(self, x, gamma, beta, epsilon, centered, out, xp=np):
        """``out`` (n, k) from ``x`` (n, k), ``gamma`` and ``beta`` (k,) or None; ``out`` may
        be ``x``."""
        mean, inv_std = _row_statistics(x, epsilon, centered, xp)
        xp.subtract(x, mean, out=out)
        out *= inv_std
        if gamma is not None:
            out *= gamma
        if beta is not None:
            out += beta

    def row_norm_backward(self, x, dy, gamma, epsilon, centered, dgamma, dbeta, dx, xp=np):
        """``dgamma``, ``dbeta`` (k,) and ``dx`` (n, k), each None when not wanted; ``dx`` may
        be ``dy``."""
        k = x.shape[1]
        mean, inv_std = _row_statistics(x, epsilon, centered, xp)
        xhat = (x - mean) * inv_std
        if dgamma is not None:
            dgamma[...] = xp.sum(dy * xhat, axis=0, dtype=np.float64)
        if dbeta is not None:
            dbeta[...] = xp.sum(dy, axis=0, dtype=np.float64)
        if dx is None:
            return
        g = dy if gamma is None else dy * gamma
        b = (xp.sum(g * xhat, axis=1, keepdims=True, dtype=np.float64) / k).astype(x.dtype)
        if centered:
            a = (xp.sum(g, axis=1, keepdims=True, dtype=np.float64) / k).astype(x.dtype)
            xp.subtract(g, a, out=dx)
        else:
            dx[...] = g
        xhat *= b
        dx -= xhat
        dx *= inv_std


def _row_statistics(x, epsilon, centered, xp):
    """Each row's mean (0 when not ``centered``) and ``1 / sqrt(var + eps)``, (n, 1) in x's
    dtype."""
    wide = x.astype(np.float64)
    k = x.shape[1]
    if centered:
        mean = xp.sum(wide, axis=1, keepdims=True) / k
        wide -= mean
    else:
        mean = xp.zeros((x.shape[0], 1), np.float64)
    var = xp.sum(wide * wide, axis=1, keepdims=True) / k
    inv_std = 1.0 / xp.sqrt(var + epsilon)
    return mean.astype(x.dtype), inv_std.astype(x.dtype)
