"""The CPU backend: every op of :class:`~gpudnn.backend.base.Backend` in NumPy.

It is also the reference the CUDA kernels are tested against, so each op is the plain statement
of its math. Ops write into ``out=`` and reuse cached scratch buffers (one per shape and dtype) so
that a training step allocates no array memory after its first batch.

The optimizer updates reach the compiled kernels' results to the bit while subnormals are
flushed (:func:`gpudnn.set_flush_denormal`, on by default): the kernels run with FTZ|DAZ, so every
subnormal operand reads as a zero of its sign and every subnormal result is written as one. Where
:mod:`~gpudnn.backend.fp_mode` can set that mode from Python (x86-64, glibc) an update runs in it
(:func:`_flushing`); elsewhere :meth:`NumpyBackend._flush` emulates it: on the inputs (the
gradient through :meth:`NumpyBackend._flushed`, a copy) and after each operation whose result can
be subnormal (products, quotients and sums; not ``sqrt`` of a flushed value, ``sqrt + eps`` or
``max``). Flushing the inputs and outputs alone is not enough: ``g - m``, ``g * g`` or
``lr * g`` can underflow inside an update and change a normal result.
"""

import functools
import mmap
import threading

import numpy as np

from .. import config
from . import fp_mode
from .base import EPSILON, Backend

HUGE_PAGE = 2 << 20
#: Distance between the start addresses of successive flat buffers, modulo 4 KiB: 17 cache lines.
#: Buffers whose addresses agree modulo 4096 make the CPU mistake loads for dependent stores
#: ("4K aliasing") when one loop streams through all of them, as an optimizer update does.
STAGGER = 17 * 64


#: ``hardware``: True while this thread runs an update in the hardware flush mode (the mode is
#: per thread, so is the flag: another thread's update must still set it or emulate it).
_thread = threading.local()


def _in_hardware_flush():
    return getattr(_thread, "hardware", False)


def _flushing(update):
    """``update`` run with subnormals flushed in hardware (FTZ|DAZ on the calling thread, the
    caller's mode restored after) where :mod:`fp_mode` can set it; its ``_flush`` calls are then
    no-ops. Elsewhere, or while flushing is off, ``update`` runs as it is."""
    @functools.wraps(update)
    def run(self, *args, **kwargs):
        if _in_hardware_flush() or not config.flush_denormal():
            return update(self, *args, **kwargs)
        saved = fp_mode.enter()
        if saved is None:
            return update(self, *args, **kwargs)
        _thread.hardware = True
        try:
            return update(self, *args, **kwargs)
        finally:
            _thread.hardware = False
            fp_mode.leave(saved)
    return run


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
    def _flush(self, *arrays):
        """Each subnormal element of ``arrays`` becomes a zero of its sign, in place: what the
        compiled kernels' FTZ (results) and DAZ (operands) do; nothing while
        ``gpudnn.set_flush_denormal(False)``. NaN, inf and normal values are kept. Three passes:
        ``keep = |a| >= tiny`` (1.0 or 0.0; False for NaN, whose ``NaN * 0`` stays NaN), ``a *= keep``.
        """
        if _in_hardware_flush() or not config.flush_denormal():
            return
        for a in arrays:
            keep = self._scratch(a.shape, a.dtype, slot="flush")
            np.abs(a, out=keep)
            np.greater_equal(keep, np.finfo(a.dtype).tiny, out=keep)
            np.multiply(a, keep, out=a)

    def _flushed(self, grad):
        """``grad`` as a flushing kernel reads it: a flushed copy in a work array (the caller's
        gradient is left as it is), or ``grad`` itself while flushing is off."""
        if _in_hardware_flush() or not config.flush_denormal():
            return grad
        copy = self._scratch(grad.shape, grad.dtype, slot="flushed-grad")
        np.copyto(copy, grad)
        self._flush(copy)
        return copy

    # ----------------------------------------------------------------- optimizer updates
    # ``flush`` after an operation: the kernels' FTZ; on the inputs first: their DAZ.
    @_flushing
    def sgd_update(self, param, grad, lr):
        flush, grad = self._flush, self._flushed(grad)
        flush(param)
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, lr, out=t)
        flush(t)
        param -= t
        flush(param)

    @_flushing
    def momentum_update(self, param, grad, velocity, lr, momentum, nesterov):
        flush, grad = self._flush, self._flushed(grad)
        flush(param, velocity)
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, lr, out=t)
        flush(t)
        velocity *= momentum
        flush(velocity)
        velocity -= t
        flush(velocity)
        if nesterov:
            param -= t
            flush(param)
            np.multiply(velocity, momentum, out=t)
            flush(t)
        else:
            np.copyto(t, velocity)
        param += t
        flush(param)

    @_flushing
    def rmsprop_update(self, param, grad, velocity, lr, rho, epsilon, momentum=0.0, mom=None):
        flush, grad = self._flush, self._flushed(grad)
        flush(param, velocity, *(() if mom is None else (mom,)))
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, grad, out=t)
        flush(t)
        t *= 1 - rho
        flush(t)
        velocity *= rho
        flush(velocity)
        velocity += t
        flush(velocity)
        np.add(velocity, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        flush(t)
        t *= lr
        flush(t)
        if mom is not None:
            mom *= momentum
            flush(mom)
            mom += t
            flush(mom)
            param -= mom
        else:
            param -= t
        flush(param)

    @_flushing
    def adam_update(self, param, grad, m, v, alpha, beta1, beta2, epsilon, vhat=None, decay=0.0):
        flush, grad = self._flush, self._flushed(grad)
        flush(param, m, v, *(() if vhat is None else (vhat,)))
        t = self._scratch(param.shape, param.dtype)
        if decay:
            np.multiply(param, decay, out=t)
            flush(t)
            param -= t
            flush(param)
        np.subtract(grad, m, out=t)
        flush(t)
        t *= 1 - beta1
        flush(t)
        m += t
        flush(m)
        np.multiply(grad, grad, out=t)
        flush(t)
        t -= v
        flush(t)
        t *= 1 - beta2
        flush(t)
        v += t
        flush(v)
        if vhat is not None:
            np.maximum(vhat, v, out=vhat)
            np.sqrt(vhat, out=t)
        else:
            np.sqrt(v, out=t)
        t += epsilon
        np.divide(m, t, out=t)
        flush(t)
        t *= alpha
        flush(t)
        param -= t
        flush(param)

    @_flushing
    def adagrad_update(self, param, grad, accumulator, lr, epsilon):
        flush, grad = self._flush, self._flushed(grad)
        flush(param, accumulator)
        t = self._scratch(param.shape, param.dtype)
        np.multiply(grad, grad, out=t)
        flush(t)
        accumulator += t
        flush(accumulator)
        np.add(accumulator, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        flush(t)
        t *= lr
        flush(t)
        param -= t
        flush(param)
