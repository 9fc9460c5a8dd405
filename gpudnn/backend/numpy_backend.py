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

from ..dtype_policies import is_half
from .base import SELU_ALPHA, SELU_SCALE, Backend, dropout_threshold
from .counter_rng import GOLDEN, random_bits
from .flushing import FlushedArray, emulating, flush_in_place
from .numpy_losses import NumpyLosses
from .numpy_metrics import NumpyMetrics
from .numpy_more_activations import MORE_ACTIVATIONS, MoreActivations
from .numpy_mixed import NumpyMixedPrecision, quiet_overflow, mixed
from .numpy_noise import NumpyNoise
from .numpy_updates import NumpyUpdates

HUGE_PAGE = 2 << 20
#: Distance between the start addresses of successive flat buffers, modulo 4 KiB: 17 cache lines.
#: Buffers whose addresses agree modulo 4096 make the CPU mistake loads for dependent stores
#: ("4K aliasing") when one loop streams through all of them, as an optimizer update does.
STAGGER = 17 * 64

_U64 = np.uint64


class NumpyBackend(NumpyMixedPrecision, NumpyNoise, NumpyLosses, NumpyMetrics, NumpyUpdates,
                   MoreActivations, Backend):
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
        # a 16-bit dtype (ml_dtypes.bfloat16 is no NumPy float kind) takes a rounding cast
        if is_half(dst.dtype) or is_half(np.asarray(src).dtype):
            with np.errstate(over="ignore"):  # an overflow to inf is loss scaling's business
                self._cast_into(dst, np.asarray(src))
        else:
            np.copyto(dst, src)

    def fill(self, array, value):
        array.fill(value)

    # ----------------------------------------------------------------- linear algebra
    def matmul(self, a, b, out):
        if mixed(a, b, out):
            return self._half_matmul(a, b, out)
        np.matmul(a, b, out=out)

    def sum_rows(self, a, out):
        if mixed(a, out):
            return self._half_sum_rows(a, out)
        np.sum(a, axis=0, out=out)

    def take_rows_at(self, src, order, position, out):
        start = int(position[0])
        # mode="clip": with the default "raise", NumPy gathers into a temporary and copies it
        # to out (a whole batch allocated per step); the indices are in range by construction
        np.take(src, order[start:start + out.shape[0]], axis=0, out=out, mode="clip")

    # ----------------------------------------------------------------- activations
    def activation_forward(self, kind, z, bias, out, alpha=0.0):
        if mixed(z, bias, out):
            return self._half_activation_forward(NumpyBackend.activation_forward, kind, z, bias,
                                                 out, alpha)
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
        elif kind == "selu":
            one = x.dtype.type
            neg = self._scratch(x.shape, x.dtype)
            np.minimum(x, 0, out=neg)
            np.expm1(neg, out=neg)
            neg *= one(SELU_ALPHA)
            neg *= one(SELU_SCALE)
            np.maximum(x, 0, out=x)
            x *= one(SELU_SCALE)
            x += neg
        elif kind == "softplus":  # max(x, 0) + log1p(exp(-|x|))
            tail = self._scratch(x.shape, x.dtype)
            np.abs(x, out=tail)
            np.negative(tail, out=tail)
            np.exp(tail, out=tail)
            np.log1p(tail, out=tail)
            np.maximum(x, 0, out=x)
            x += tail
        elif kind == "softmax":
            self._row_softmax(x, x)
        elif kind in MORE_ACTIVATIONS:
            self._more_forward(kind, x)
        else:
            raise ValueError(f"unknown activation kind {kind!r}")

    def activation_backward(self, kind, y, dy, out, alpha=0.0):
        if mixed(y, dy, out):
            return self._half_activation_backward(NumpyBackend.activation_backward, kind, y, dy,
                                                  out, alpha)
        if kind == "linear":
            if out is not dy:
                np.copyto(out, dy)
        elif kind == "relu":
            mask = self._scratch(y.shape, np.bool_)
            np.greater(y, 0, out=mask)
            np.multiply(dy, mask, out=out)
        elif kind in ("leaky_relu", "elu", "selu"):
            positive = self._scratch(y.shape, np.bool_)
            np.greater(y, 0, out=positive)
            slope = self._scratch(y.shape, y.dtype)
            if kind == "elu":
                np.add(y, alpha, out=slope)
            elif kind == "selu":  # y + scale alpha, or scale where y > 0
                np.add(y, y.dtype.type(SELU_SCALE * SELU_ALPHA), out=slope)
            else:
                slope.fill(alpha)
            np.copyto(slope, y.dtype.type(SELU_SCALE) if kind == "selu" else 1, where=positive)
            np.multiply(dy, slope, out=out)
        elif kind == "softplus":  # dy sigmoid(x) = dy (-expm1(-y))
            slope = self._scratch(y.shape, y.dtype)
            np.negative(y, out=slope)
            np.expm1(slope, out=slope)
            np.negative(slope, out=slope)
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
        elif kind in MORE_ACTIVATIONS:
            self._more_backward(kind, y, dy, out)
        elif kind == "softmax":
            prod = self._scratch(y.shape, y.dtype)
            row = self._scratch((y.shape[0], 1), y.dtype)
            np.multiply(dy, y, out=prod)
            np.sum(prod, axis=1, keepdims=True, out=row)
            np.subtract(dy, row, out=out)
            out *= y
        else:
            raise ValueError(f"unknown activation kind {kind!r}")

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

    @quiet_overflow  # an inf gradient of a float16 step that will be skipped: inf * 0, no warning
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

