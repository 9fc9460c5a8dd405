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

from .base import EPSILON, Backend, dropout_threshold, smoothing_terms
from .flushing import FlushedArray, emulating, flush_in_place, flushing

HUGE_PAGE = 2 << 20
#: Distance between the start addresses of successive flat buffers, modulo 4 KiB: 17 cache lines.
#: Buffers whose addresses agree modulo 4096 make the CPU mistake loads for dependent stores
#: ("4K aliasing") when one loop streams through all of them, as an optimizer update does.
STAGGER = 17 * 64

#: splitmix64's constants (kernels/random.cu): the golden-ratio increment and the two multipliers.
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_WORD = (1 << 64) - 1
_U64 = np.uint64


def mix64(z):
    """splitmix64's finaliser on a Python int (a 64-bit word)."""
    z &= _WORD
    z = ((z ^ (z >> 30)) * MIX1) & _WORD
    z = ((z ^ (z >> 27)) * MIX2) & _WORD
    return z ^ (z >> 31)


def _mix64_inplace(z, t):
    """mix64 on a uint64 array ``z`` in place (``t`` a scratch of its shape); uint64 array
    arithmetic wraps modulo 2^64 as the C code does."""
    for shift, mult in ((30, MIX1), (27, MIX2), (31, None)):
        np.right_shift(z, _U64(shift), out=t)
        z ^= t
        if mult is not None:
            z *= _U64(mult)


def random_bits(seed, step, size, out=None, scratch=None, index=None):
    """The random words of kernels/random.cu for elements 0..size-1 of (seed, step), as uint64:
    ``mix64(mix64(mix64(seed) ^ step) + GOLDEN * (i + 1))``. ``index`` may hold the precomputed
    ``GOLDEN * (i + 1)``; ``out``/``scratch`` uint64 buffers of ``size`` (allocated when None)."""
    key = mix64(mix64(int(seed)) ^ (int(step) & _WORD))
    if index is None:
        index = np.arange(1, size + 1, dtype=np.uint64)
        index *= _U64(GOLDEN)
    z = np.empty(size, np.uint64) if out is None else out
    t = np.empty(size, np.uint64) if scratch is None else scratch
    np.add(index, _U64(key), out=z)
    _mix64_inplace(z, t)
    return z


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

    def take_rows_at(self, src, order, position, out):
        start = int(position[0])
        # mode="clip": with the default "raise", NumPy gathers into a temporary and copies it
        # to out (a whole batch allocated per step); the indices are in range by construction
        np.take(src, order[start:start + out.shape[0]], axis=0, out=out, mode="clip")

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
            self._row_softmax(x, x)
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

    def _smoothed(self, kind, y, smoothing):
        """The target the cross-entropy sees: y itself without smoothing, else ``y keep + shift``
        (see :func:`~gpudnn.backend.base.smoothing_terms`) in a work array."""
        keep, shift = smoothing_terms(kind, smoothing, y.shape[1])
        if keep == 1.0 and shift == 0.0:
            return y
        t = self._scratch(y.shape, y.dtype, slot=2)
        np.multiply(y, keep, out=t)
        t += shift
        return t

    def _row_softmax(self, x, out):
        """``out = exp(x - max x) / sum exp(x - max x)`` row by row (out may be x)."""
        row = self._scratch((x.shape[0], 1), x.dtype, slot="row")
        np.max(x, axis=1, keepdims=True, out=row)
        np.subtract(x, row, out=out)
        np.exp(out, out=out)
        np.sum(out, axis=1, keepdims=True, out=row)
        out /= row

    def loss_value(self, kind, y_pred, y_true, smoothing=0.0):
        n = y_pred.shape[0]
        if kind in ("mse", "mae"):
            d = self._scratch(y_pred.shape, y_pred.dtype)
            np.subtract(y_pred, y_true, out=d)
            if kind == "mse":
                return np.vdot(d, d) / d.size
            np.abs(d, out=d)
            return np.sum(d) / d.size
        t = self._smoothed(kind, y_true, smoothing)
        if kind == "bce_logits":
            # max(x, 0) - x t + log1p(exp(-|x|))
            l = self._scratch(y_pred.shape, y_pred.dtype)
            u = self._scratch(y_pred.shape, y_pred.dtype, slot=3)
            np.maximum(y_pred, 0, out=l)
            np.multiply(y_pred, t, out=u)
            l -= u
            np.abs(y_pred, out=u)
            np.negative(u, out=u)
            np.exp(u, out=u)
            np.log1p(u, out=u)
            l += u
            return np.sum(l) / l.size
        if kind == "cce_logits":
            # t (logsumexp(x) - x), logsumexp(x) = m + log(sum exp(x - m)), m = max x
            l = self._scratch(y_pred.shape, y_pred.dtype)
            m = self._scratch((n, 1), y_pred.dtype, slot="row")
            lse = self._scratch((n, 1), y_pred.dtype, slot="row-lse")
            np.max(y_pred, axis=1, keepdims=True, out=m)
            np.subtract(y_pred, m, out=l)
            np.exp(l, out=l)
            np.sum(l, axis=1, keepdims=True, out=lse)
            np.log(lse, out=lse)
            lse += m
            np.subtract(lse, y_pred, out=l)
            l *= t
            return np.sum(l) / n
        p = self._clipped(y_pred)
        if kind == "cce":
            np.log(p, out=p)
            return -np.vdot(t, p) / n
        if kind == "bce":
            u = self._scratch(p.shape, p.dtype)
            np.subtract(1, p, out=u)
            np.log(u, out=u)
            np.log(p, out=p)
            # t log p + (1 - t) log(1 - p) = t (log p - log(1 - p)) + log(1 - p)
            total = np.sum(u)
            p -= u
            total += np.vdot(t, p)
            return -total / p.size
        raise ValueError(f"unknown loss kind {kind!r}")

    def loss_grad(self, kind, y_pred, y_true, out, smoothing=0.0):
        n = y_pred.shape[0]
        if kind in ("mse", "mae"):
            np.subtract(y_pred, y_true, out=out)
            if kind == "mae":
                np.sign(out, out=out)
                out *= 1.0 / y_pred.size
            else:
                out *= 2.0 / y_pred.size
            return
        t = self._smoothed(kind, y_true, smoothing)
        if kind == "bce_logits":  # sigmoid(x) - t, sigmoid as 0.5 tanh(x / 2) + 0.5
            np.multiply(y_pred, 0.5, out=out)
            np.tanh(out, out=out)
            out *= 0.5
            out += 0.5
            out -= t
            out *= 1.0 / y_pred.size
            return
        if kind == "cce_logits":  # softmax(x) S - t, S = sum_j t_j per row
            self._row_softmax(y_pred, out)
            total = self._scratch((n, 1), y_pred.dtype, slot="row-total")
            np.sum(t, axis=1, keepdims=True, out=total)
            out *= total
            out -= t
            out *= 1.0 / n
            return
        p = self._clipped(y_pred)
        inside = self._scratch(p.shape, np.bool_)
        np.equal(p, y_pred, out=inside)  # the clip is inactive: the gradient flows
        if kind == "cce":
            np.divide(t, p, out=out)
            out *= -1.0 / n
        elif kind == "bce":
            u = self._scratch(p.shape, p.dtype)
            np.subtract(1, p, out=u)
            u *= p
            np.subtract(p, t, out=out)
            out /= u
            out *= 1.0 / p.size
        else:
            raise ValueError(f"unknown loss kind {kind!r}")
        out *= inside

    def logit_grad(self, kind, y_pred, y_true, out, smoothing=0.0):
        if kind not in ("bce", "cce"):
            raise ValueError(f"no fused gradient for loss kind {kind!r}")
        scale = 1.0 / (y_pred.shape[0] if kind == "cce" else y_pred.size)
        t = self._smoothed(kind, y_true, smoothing)
        np.subtract(y_pred, t, out=out)
        out *= scale

    def penalty_value(self, param, l1, l2):
        a = self._scratch(param.shape, param.dtype)
        np.abs(param, out=a)
        return l1 * np.sum(a) + l2 * np.vdot(param, param)

    def add_penalty_grad(self, param, grad, l1, l2):
        # (g + l1 sign(w)) + 2 l2 w, in the kernel's order
        a = self._scratch(param.shape, param.dtype)
        np.sign(param, out=a)
        a *= l1
        grad += a
        np.multiply(param, 2.0 * l2, out=a)
        grad += a

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

    # ----------------------------------------------------------------- randomness and counters
    def _golden_index(self, size):
        """``GOLDEN * (i + 1)`` for i < size as uint64, computed once per size and kept."""
        cache = self.__dict__.setdefault("_golden_cache", {})
        index = cache.get(size)
        if index is None:
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            index = cache[size] = np.arange(1, size + 1, dtype=np.uint64)
            index *= _U64(GOLDEN)
        return index

    def dropout(self, x, seed, step, rate, out):
        size = x.size
        bits = random_bits(seed, int(step[0]), size,
                           out=self._scratch((size,), np.uint64, slot="dropout-bits"),
                           scratch=self._scratch((size,), np.uint64, slot="dropout-t"),
                           index=self._golden_index(size))
        np.right_shift(bits, _U64(32), out=bits)
        keep = self._scratch(x.shape, np.bool_, slot="dropout-keep")
        np.greater_equal(bits.reshape(x.shape), _U64(dropout_threshold(rate)), out=keep)
        np.multiply(x, x.dtype.type(1.0 / (1.0 - rate)), out=out)
        out *= keep

    def increment(self, counter, by=1):
        counter += by

    def sum_squares(self, a):
        flat = a.reshape(-1)
        return np.asarray(np.dot(flat, flat))

    def all_finite(self, a):
        return bool(np.isfinite(a).all())

    # ----------------------------------------------------------------- flushing subnormals
    def _scratch(self, shape, dtype, slot=0, fill=None):
        buf = super()._scratch(shape, dtype, slot, fill)
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
    def _decay(self, param, hyper, t):
        """Weight decay first: ``param -= param * hyper[1]`` when hyper[1] is not 0."""
        decay = hyper[1]
        if decay != 0:
            np.multiply(param, decay, out=t)
            param -= t

    # @flushing: subnormals flushed as the compiled kernels flush them (backend/flushing.py)
    @flushing
    def sgd_update(self, param, grad, hyper):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, hyper[0], out=t)
        param -= t

    @flushing
    def momentum_update(self, param, grad, velocity, hyper, momentum, nesterov):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, hyper[0], out=t)
        velocity *= momentum
        velocity -= t
        if nesterov:
            param -= t
            np.multiply(velocity, momentum, out=t)
        else:
            np.copyto(t, velocity)
        param += t

    @flushing
    def rmsprop_update(self, param, grad, velocity, hyper, rho, epsilon, momentum=0.0, mom=None,
                       average=None):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, grad, out=t)
        t *= 1 - rho
        velocity *= rho
        velocity += t
        if average is not None:  # centered: v - a^2 with a the running mean of g
            np.multiply(grad, 1 - rho, out=t)
            average *= rho
            average += t
            np.multiply(average, average, out=t)
            np.subtract(velocity, t, out=t)
            t += epsilon
        else:
            np.add(velocity, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= hyper[0]
        if mom is not None:
            mom *= momentum
            mom += t
            param -= mom
        else:
            param -= t

    def _moments(self, grad, m, v, beta1, beta2, t):
        """Adam's moments in place: ``m += (1 - beta1)(g - m)``; ``v += (1 - beta2)(g^2 - v)``."""
        np.subtract(grad, m, out=t)
        t *= 1 - beta1
        m += t
        np.multiply(grad, grad, out=t)
        t -= v
        t *= 1 - beta2
        v += t

    @flushing
    def adam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, vhat=None):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        self._moments(grad, m, v, beta1, beta2, t)
        if vhat is not None:
            np.maximum(vhat, v, out=vhat)
            np.sqrt(vhat, out=t)
        else:
            np.sqrt(v, out=t)
        t += epsilon
        np.divide(m, t, out=t)
        t *= hyper[0]
        param -= t

    @flushing
    def nadam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon):
        t = self._scratch(param.shape, param.dtype)
        u = self._scratch(param.shape, param.dtype, slot=1)
        self._decay(param, hyper, t)
        self._moments(grad, m, v, beta1, beta2, t)
        np.multiply(m, hyper[2], out=u)          # m_hat = c_m m + c_g g
        np.multiply(grad, hyper[3], out=t)
        u += t
        u *= hyper[0]                            # lr m_hat
        np.multiply(v, hyper[4], out=t)          # v_hat = c_v v
        np.sqrt(t, out=t)
        t += epsilon
        np.divide(u, t, out=t)
        param -= t

    @flushing
    def adamax_update(self, param, grad, m, u, hyper, beta1, beta2, epsilon):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.subtract(grad, m, out=t)
        t *= 1 - beta1
        m += t
        u *= beta2
        np.abs(grad, out=t)
        np.maximum(u, t, out=u)
        np.add(u, epsilon, out=t)
        np.divide(m, t, out=t)
        t *= hyper[0]
        param -= t

    @flushing
    def adagrad_update(self, param, grad, accumulator, hyper, epsilon):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, grad, out=t)
        accumulator += t
        np.add(accumulator, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= hyper[0]
        param -= t

    # ----------------------------------------------------------------- gradient clipping
    def clip_by_value(self, grad, limit):
        np.clip(grad, -limit, limit, out=grad)

    def sum_squares_into(self, a, out):
        flat = a.reshape(-1)
        out[...] = np.dot(flat, flat)

    def clip_by_norm(self, grad, norm2, clipnorm):
        norm = np.sqrt(norm2[0])
        grad *= clipnorm
        grad /= np.maximum(norm, norm.dtype.type(clipnorm))

    def clip_by_global_norm(self, grad, norm2, clipnorm):
        dtype = grad.dtype.type
        norm = np.sqrt(norm2[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = dtype(1) / norm
            cap = dtype(1) / dtype(clipnorm)
            scale = dtype(clipnorm) * (inv if inv < cap else cap) + (norm - norm)
        grad *= scale
