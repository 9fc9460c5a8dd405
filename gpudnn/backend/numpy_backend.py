"""The CPU backend: every op of :class:`~gpudnn.backend.base.Backend` in NumPy.

It is also the reference the CUDA kernels are tested against, so each op is the plain statement
of its math. Ops write into ``out=`` and reuse cached scratch buffers (one per shape and dtype) so
that a training step allocates no array memory after its first batch.

The optimizer updates are decorated with :func:`~gpudnn.backend.flushing.flushing`: while
subnormals are flushed (:func:`gpudnn.set_flush_denormal`, the default) they reach the compiled
kernels' results to the bit, in the hardware FTZ|DAZ mode where Python can set it, else by
emulation (see that module).
"""

import mmap

import numpy as np

from .base import EPSILON, Backend
from .flushing import FlushedArray, emulating, flush_in_place, flushing

HUGE_PAGE = 2 << 20
#: Distance between the start addresses of successive flat buffers, modulo 4 KiB: 17 cache lines.
#: Buffers whose addresses agree modulo 4096 make the CPU mistake loads for dependent stores
#: ("4K aliasing") when one loop streams through all of them, as an optimizer update does.
STAGGER = 17 * 64


class NumpyBackend(Backend):
    name = "cpu"
    is_gpu = False

    # ----------------------------------------------------------------- arrays and transfers
    def empty(self, shape, dtype):
        return np.empty(shape, dtype)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype)

    def flat_zeros(self, size, dtype, slot=0):
        """A buffer starting ``slot * STAGGER`` bytes past a 2 MiB boundary when it is large
        (Linux then backs it with transparent huge pages: fewer TLB misses), past a page
        boundary otherwise. Adam over 407,050 float32 params took 125 us on buffers placed so,
        against 350 us on plain ``np.zeros`` (2 cores, median of 9 rounds of 100)."""
        dtype = np.dtype(dtype)
        nbytes, offset = size * dtype.itemsize, slot * STAGGER
        align = HUGE_PAGE if nbytes >= HUGE_PAGE // 2 else 4096
        raw = None
        if align == HUGE_PAGE and hasattr(mmap, "MAP_ANONYMOUS"):
            region = mmap.mmap(-1, nbytes + offset + align,
                               flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            if hasattr(mmap, "MADV_HUGEPAGE"):
                region.madvise(mmap.MADV_HUGEPAGE)
            raw = np.frombuffer(region, np.uint8)  # zero-filled; the array keeps the mapping
        if raw is None:
            raw = np.zeros(nbytes + offset + align, np.uint8)
        start = (-raw.ctypes.data) % align + offset
        return raw[start:start + nbytes].view(dtype)

    def from_host(self, array, dtype=None):
        return np.array(array, dtype=dtype, order="C", copy=True)

    def to_host(self, array):
        return np.array(array, copy=True)

    def copy_into(self, dst, src):
        np.copyto(dst, src)

    def fill(self, array, value):
        array.fill(value)

    # ----------------------------------------------------------------- linear algebra
    def matmul(self, a, b, out):
        np.matmul(a, b, out=out)

    def sum_rows(self, a, out):
        np.sum(a, axis=0, out=out)

    def take_rows(self, src, index, out):
        # mode="clip": with the default "raise", NumPy gathers into a temporary and copies it
        # to out (a whole batch allocated per step); the indices are in range by construction
        np.take(src, index, axis=0, out=out, mode="clip")

    # ----------------------------------------------------------------- activations
    def activation_forward(self, kind, z, bias, out, alpha=0.0):
        if bias is not None:
            np.add(z, bias, out=out)
        elif out is not z:
            np.copyto(out, z)
        x = out
        if kind == "linear":
            pass
        elif kind == "relu":
            np.maximum(x, 0, out=x)
        elif kind == "sigmoid":
            x *= 0.5
            np.tanh(x, out=x)
            x *= 0.5
            x += 0.5
        elif kind == "tanh":
            np.tanh(x, out=x)
        elif kind == "leaky_relu":
            neg = self._scratch(x.shape, x.dtype)
            np.minimum(x, 0, out=neg)
            neg *= alpha
            np.maximum(x, 0, out=x)
            x += neg
        elif kind == "elu":
            neg = self._scratch(x.shape, x.dtype)
            np.minimum(x, 0, out=neg)
            np.expm1(neg, out=neg)
            neg *= alpha
            np.maximum(x, 0, out=x)
            x += neg
        elif kind == "softmax":
            row = self._scratch((x.shape[0], 1), x.dtype)
            np.max(x, axis=1, keepdims=True, out=row)
            x -= row
            np.exp(x, out=x)
            np.sum(x, axis=1, keepdims=True, out=row)
            x /= row
        else:
            raise ValueError(f"unknown activation kind {kind!r}")

    def activation_backward(self, kind, y, dy, out, alpha=0.0):
        if kind == "linear":
            if out is not dy:
                np.copyto(out, dy)
        elif kind == "relu":
            mask = self._scratch(y.shape, np.bool_)
            np.greater(y, 0, out=mask)
            np.multiply(dy, mask, out=out)
        elif kind in ("leaky_relu", "elu"):
            positive = self._scratch(y.shape, np.bool_)
            np.greater(y, 0, out=positive)
            slope = self._scratch(y.shape, y.dtype)
            if kind == "elu":
                np.add(y, alpha, out=slope)
            else:
                slope.fill(alpha)
            np.copyto(slope, 1, where=positive)
            np.multiply(dy, slope, out=out)
        elif kind == "sigmoid":
            slope = self._scratch(y.shape, y.dtype)
            np.subtract(1, y, out=slope)
            slope *= y
            np.multiply(dy, slope, out=out)
        elif kind == "tanh":
            slope = self._scratch(y.shape, y.dtype)
            np.multiply(y, y, out=slope)
            np.subtract(1, slope, out=slope)
            np.multiply(dy, slope, out=out)
        elif kind == "softmax":
            prod = self._scratch(y.shape, y.dtype)
            row = self._scratch((y.shape[0], 1), y.dtype)
            np.multiply(dy, y, out=prod)
            np.sum(prod, axis=1, keepdims=True, out=row)
            np.subtract(dy, row, out=out)
            out *= y
        else:
            raise ValueError(f"unknown activation kind {kind!r}")

    # ----------------------------------------------------------------- losses and metrics
    def _clipped(self, p):
        c = self._scratch(p.shape, p.dtype, slot=1)
        np.clip(p, EPSILON, 1 - EPSILON, out=c)
        return c

    def loss_value(self, kind, y_pred, y_true):
        n = y_pred.shape[0]
        if kind == "mse":
            d = self._scratch(y_pred.shape, y_pred.dtype)
            np.subtract(y_pred, y_true, out=d)
            return np.vdot(d, d) / d.size
        p = self._clipped(y_pred)
        if kind == "cce":
            np.log(p, out=p)
            return -np.vdot(y_true, p) / n
        if kind == "bce":
            t = self._scratch(p.shape, p.dtype)
            np.subtract(1, p, out=t)
            np.log(t, out=t)
            np.log(p, out=p)
            # y log p + (1 - y) log(1 - p) = y (log p - log(1 - p)) + log(1 - p)
            total = np.sum(t)
            p -= t
            total += np.vdot(y_true, p)
            return -total / p.size
        raise ValueError(f"unknown loss kind {kind!r}")

    def loss_grad(self, kind, y_pred, y_true, out):
        n = y_pred.shape[0]
        if kind == "mse":
            np.subtract(y_pred, y_true, out=out)
            out *= 2.0 / y_pred.size
            return
        p = self._clipped(y_pred)
        inside = self._scratch(p.shape, np.bool_)
        np.equal(p, y_pred, out=inside)  # the clip is inactive: the gradient flows
        if kind == "cce":
            np.divide(y_true, p, out=out)
            out *= -1.0 / n
        elif kind == "bce":
            t = self._scratch(p.shape, p.dtype)
            np.subtract(1, p, out=t)
            t *= p
            np.subtract(p, y_true, out=out)
            out /= t
            out *= 1.0 / p.size
        else:
            raise ValueError(f"unknown loss kind {kind!r}")
        out *= inside

    def logit_grad(self, y_pred, y_true, scale, out):
        np.subtract(y_pred, y_true, out=out)
        out *= scale

    def count_correct(self, y_pred, y_true, mode):
        if mode == "categorical":
            n = y_pred.shape[0]
            predicted = self._scratch((n,), np.intp, slot=0)
            expected = self._scratch((n,), np.intp, slot=1)
            np.argmax(y_pred, axis=1, out=predicted)
            np.argmax(y_true, axis=1, out=expected)
            hits = self._scratch((n,), np.bool_)
            np.equal(predicted, expected, out=hits)
        elif mode == "binary":
            predicted = self._scratch(y_pred.shape, np.bool_, slot=0)
            expected = self._scratch(y_pred.shape, np.bool_, slot=1)
            np.greater(y_pred, 0.5, out=predicted)
            np.greater(y_true, 0.5, out=expected)
            hits = self._scratch(y_pred.shape, np.bool_, slot=2)
            np.equal(predicted, expected, out=hits)
        else:
            raise ValueError(f"unknown accuracy mode {mode!r}")
        return np.asarray(np.count_nonzero(hits), dtype=np.float64)

    def sum_squares(self, a):
        flat = a.reshape(-1)
        return np.asarray(np.dot(flat, flat))

    def all_finite(self, a):
        return bool(np.isfinite(a).all())

    # ----------------------------------------------------------------- flushing subnormals
    def _scratch(self, shape, dtype, slot=0, zeroed=False):
        buf = super()._scratch(shape, dtype, slot, zeroed)
        return buf.view(FlushedArray) if emulating(self) else buf

    def _flush(self, *arrays):
        """Each subnormal element of ``arrays`` becomes a zero of its sign, in place (what the
        compiled kernels' FTZ and DAZ do); NaN, inf and normal values are kept."""
        flush_in_place([a.view(np.ndarray) for a in arrays],
                       lambda shape, dtype: Backend._scratch(self, shape, dtype, slot="flush"))

    def _flushed_copy(self, grad):
        """A flushed copy of ``grad`` in a work array (the caller's gradient is left as it is)."""
        copy = Backend._scratch(self, grad.shape, grad.dtype, slot="flushed-grad")
        np.copyto(copy, grad)
        self._flush(copy)
        return copy

    # ----------------------------------------------------------------- optimizer updates
    # @flushing: subnormals flushed as the compiled kernels flush them (gpudnn/backend/flushing.py)
    @flushing
    def sgd_update(self, param, grad, lr):
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, lr, out=t)
        param -= t

    @flushing
    def momentum_update(self, param, grad, velocity, lr, momentum, nesterov):
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, lr, out=t)
        velocity *= momentum
        velocity -= t
        if nesterov:
            param -= t
            np.multiply(velocity, momentum, out=t)
        else:
            np.copyto(t, velocity)
        param += t

    @flushing
    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon, momentum=0.0, mom=None):
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, grad, out=t)
        t *= 1 - rho
        velocity *= rho
        velocity += t
        np.add(velocity, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= lr
        if mom is not None:
            mom *= momentum
            mom += t
            param -= mom
        else:
            param -= t

    @flushing
    def adam_update(self, param, grad, m, v, alpha, beta1, beta2, epsilon, vhat=None, decay=0.0):
        t = self._scratch(param.shape, param.dtype)
        if decay:
            np.multiply(param, decay, out=t)
            param -= t
        np.subtract(grad, m, out=t)
        t *= 1 - beta1
        m += t
        np.multiply(grad, grad, out=t)
        t -= v
        t *= 1 - beta2
        v += t
        if vhat is not None:
            np.maximum(vhat, v, out=vhat)
            np.sqrt(vhat, out=t)
        else:
            np.sqrt(v, out=t)
        t += epsilon
        np.divide(m, t, out=t)
        t *= alpha
        param -= t

    @flushing
    def adagrad_update(self, param, grad, accumulator, lr, epsilon):
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, grad, out=t)
        accumulator += t
        np.add(accumulator, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= lr
        param -= t
