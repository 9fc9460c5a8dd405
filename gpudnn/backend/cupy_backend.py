"""The GPU backend: every op of :class:`~gpudnn.backend.base.Backend` in CuPy.

Matrix products go through cuBLAS (``cupy.matmul(a, b, out=out)``); every elementwise op
(activations, loss gradients, optimizer updates) is one ``cupy.ElementwiseKernel`` launch whose
CUDA body lives in ``kernels/*.cu``. Kernels are built lazily, on first use, and cached for the
process; CuPy caches the compiled binaries on disk under ``CUPY_CACHE_DIR`` (default
``~/.cupy/kernel_cache``). The semantics of every op are those of
:class:`~gpudnn.backend.numpy_backend.NumpyBackend`; the kernels keep its order of operations, and
are compiled with ``--fmad=false`` so that float32 optimizer updates match it to the bit.

TF32: float32 matmuls run in full float32 unless TF32 tensor cores are enabled, either with
``GPUDNN_TF32=1`` in the environment (read when the backend is created) or by calling
:func:`enable_tf32` before the first matmul. TF32 is about 2-8x faster for large GEMMs on Ampere
and later GPUs and keeps a 10-bit mantissa in the products (about 1e-3 relative error).

Only modules of gpudnn.backend import CuPy (this one, tf32, cuda_graph, cublas_ctypes), and
only when a CUDA backend is made; ``import gpudnn`` never needs it.
"""

import functools
import warnings

import cupy
import cupyx
import numpy as np

from ..errors import InvalidInputError, KernelCompileError
from ..config import env_flag
from .base import ACTIVATION_KINDS, Backend, dropout_threshold
from .cupy_noise import CupyNoise
from .cupy_losses import CCE_STEP_THREADS, CupyLosses  # noqa: F401 (tests read it here)
from .cupy_metrics import CupyMetrics
from .cupy_mixed import CupyMixedPrecision
from .cupy_normalization import CupyBatchNorm
from .cupy_updates import CupyUpdates
from .cupy_foreign import CupyForeignArrays
from .cupy_staging import CupyBatchStaging
from .kernel_half import GATED_FORM_KERNELS, find_kernel, input_count
from .mixed_precision import is_half_cast, mixed
from .tf32 import enable_tf32, tf32_enabled  # noqa: F401 (gpudnn.backend.cupy_backend.enable_tf32 is documented)

#: NVRTC options of every gpudnn kernel: no fused multiply-add contraction, so the arithmetic is
#: the CPU reference's operation for operation (the updates are memory-bound: FMA buys nothing).
KERNEL_OPTIONS = ("--fmad=false",)

_ELEMENTWISE_ACTIVATIONS = tuple(kind for kind in ACTIVATION_KINDS if kind != "softmax")
#: The dtypes the vector forms of kernels load 16 bytes at a time (4 float32, 2 float64).
_VECTOR_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


#: Depth of the pinned ring that per-step values are copied from, and the bytes of one slot.
STEP_SLOTS = 64
STEP_SLOT_BYTES = 256


class _PinnedRing:
    """STEP_SLOTS pinned host buffers used in turn, each with the event of its last copy."""

    def __init__(self, slots, slot_bytes):
        self._bytes = cupyx.empty_pinned((slots * slot_bytes,), np.uint8)
        self._slot_bytes = slot_bytes
        self._events = [None] * slots
        self._index = -1

    def next_slot(self, count, dtype):
        """A host array of ``count`` values of ``dtype`` whose previous copy has completed."""
        dtype = np.dtype(dtype)
        if count * dtype.itemsize > self._slot_bytes:
            raise ValueError(f"{count} step values do not fit a {self._slot_bytes}-byte slot")
        self._index = (self._index + 1) % len(self._events)
        event = self._events[self._index]
        if event is not None:
            event.synchronize()
        start = self._index * self._slot_bytes
        return self._bytes[start:start + count * dtype.itemsize].view(dtype)

    def mark_used(self, stream):
        event = self._events[self._index]
        if event is None:
            event = self._events[self._index] = cupy.cuda.Event(block=False,
                                                                disable_timing=True)
        event.record(stream)


def make_kernel(spec):
    """The ``cupy.ElementwiseKernel`` for a :class:`~gpudnn.backend.kernel_source.KernelSpec`
    (building it compiles nothing: CuPy compiles at the first launch, per dtype)."""
    return cupy.ElementwiseKernel(
        spec.in_params, spec.out_params, spec.body, name=spec.name,
        preamble=spec.preamble, no_return=True, options=KERNEL_OPTIONS)


@functools.lru_cache(maxsize=None)
def _vector_plan(name):
    """For a kernel with a vector form: (the argument positions of its element-wise arrays, the
    number of in-params, the vector form's name, its lanes); else None. Worked out once per
    kernel, not per launch (parsing the param strings costs more than the launch itself)."""
    spec = find_kernel(name)
    if not spec.vector:
        return None
    params = spec.inputs + spec.outputs
    positions = tuple(j for j, p in enumerate(params) if not (p.raw or p.scalar))
    return positions, len(spec.inputs), spec.vector, find_kernel(spec.vector).lanes


def _copy_from_host(dst, host):
    """Copy the C-contiguous host array into ``dst`` on the current stream, ordered with the
    kernels queued on it: during ``fit`` that is the non-blocking training stream, which a
    plain (legacy default stream) copy would not be ordered with."""
    if host.size:
        if dst.ndim == 0 or host.ndim == 0:  # a value: (), (1,) or 1 element either way
            host = host.reshape(dst.shape)
        dst.set(host, stream=cupy.cuda.get_current_stream())


class CupyBackend(CupyMixedPrecision, CupyForeignArrays, CupyBatchStaging, CupyLosses,
                  CupyMetrics, CupyUpdates, CupyNoise, CupyBatchNorm, Backend):
    """CUDA device ``index`` through CuPy. Arrays are ``cupy.ndarray`` on that device."""

    is_gpu = True

    def __init__(self, index=0):
        self.index = index
        self.name = f"cuda:{index}"
        self._device = cupy.cuda.Device(index)
        self._kernels = {}
        self._graphs = None
        self._capture_blas = None  # gpudnn's own cuBLAS handle while a step is being captured
        self._capture_keep = None  # the work arrays a capture uses (kept by its graph)
        if env_flag("GPUDNN_TF32", False):
            enable_tf32()

    # ----------------------------------------------------------------- plumbing
    def _launch(self, name, *args, **kwargs):
        """Launch the kernel ``name`` from kernels/ (built on first use) with ``args``, or its
        vector form (``lanes: L`` in its header) when :meth:`_vector_elements` allows: the same
        arguments with the element count n after the in-params, one thread per L elements.
        Inside ``run_if_finite`` (loss scaling) a kernel with a gated form launches that form,
        the finite flag after its in-params: it changes nothing when the flag is 0
        (kernel_half.py)."""
        gate = self._update_gate if name in GATED_FORM_KERNELS else None
        plan = _vector_plan(name)
        if plan is not None and not kwargs:
            positions, split, vector_name, lanes = plan
            n = self._vector_elements([args[j] for j in positions])
            if n:
                name, args = vector_name, args[:split] + (n,) + args[split:]
                kwargs = {"size": -(-n // lanes)}
                split += 1
        if gate is not None:  # loss scaling's skip: the gated form, gate after the in-params
            split = split if plan is not None and name == plan[2] else input_count(name)
            name, args = f"{name}_g", args[:split] + (gate,) + args[split:]
        kernel = self._kernels.get(name)
        if kernel is None:
            kernel = self._kernels[name] = make_kernel(find_kernel(name))
        try:
            kernel(*args, **kwargs)
        except cupy.cuda.compiler.CompileException as exc:
            family = find_kernel(name).family
            raise KernelCompileError(
                f"CUDA kernel {name!r} (kernels/{family}.cu) failed to compile with NVRTC:\n"
                f"{exc}") from exc

    def _vector_elements(self, arrays):
        """The element count n when a launch whose element-wise arrays are ``arrays`` can take
        its vector form: all float32 or all float64, C-contiguous, n > 0 elements each, at
        addresses that are multiples of 16 bytes (the vector loads'); else 0."""
        first = arrays[0]
        n = first.size
        if n == 0 or first.dtype not in _VECTOR_DTYPES:
            return 0
        for a in arrays:
            if (a.size != n or a.dtype != first.dtype or not a.flags.c_contiguous
                    or self._address(a) % 16):
                return 0
        return n

    @staticmethod
    def _address(array):
        """The device address of ``array``'s first element."""
        return array.data.ptr

    def _reduce_sum(self, a, scale):
        """``sum(a) * scale`` as a new 0-d device array (the only reduction of the loss path)."""
        total = cupy.sum(a)
        total *= scale
        return total

    # ----------------------------------------------------------------- arrays and transfers
    def empty(self, shape, dtype):
        with self._device:
            return cupy.empty(shape, dtype)

    def zeros(self, shape, dtype):
        with self._device:
            return cupy.zeros(shape, dtype)

    def from_host(self, array, dtype=None):
        host = np.ascontiguousarray(array, dtype=dtype)
        if np.ndim(array) == 0:  # ascontiguousarray makes a 0-d array (1,); keep it 0-d
            host = host.reshape(())
        with self._device:
            out = cupy.empty(host.shape, host.dtype)
            _copy_from_host(out, host)
            return out

    def to_host(self, array):
        with self._device:
            return cupy.asnumpy(array)

    def copy_into(self, dst, src):
        with self._device:
            if isinstance(src, cupy.ndarray) and is_half_cast(dst.dtype, src.dtype):
                self._cast_into(dst, src)  # float32 <-> 16 bits: the cast kernels
            elif isinstance(src, cupy.ndarray):
                cupy.copyto(dst, src)
            elif dst.flags.c_contiguous:
                _copy_from_host(dst, np.ascontiguousarray(src, dtype=dst.dtype))
            else:
                cupy.copyto(dst, cupy.asarray(src, dtype=dst.dtype))

    def fill(self, array, value):
        with self._device:
            array.fill(value)

    def write_step_values(self, dst, values):
        """An asynchronous copy from a ring of pinned host slots: a copy from pageable memory
        (``ndarray.set``) would first wait for the stream, i.e. for every queued kernel, once
        per training step. A slot is reused only after the event recorded behind its previous
        copy has passed (in practice at once: the ring is STEP_SLOTS steps deep)."""
        ring = self.__dict__.get("_step_ring")
        if ring is None:
            try:
                ring = self._step_ring = _PinnedRing(STEP_SLOTS, STEP_SLOT_BYTES)
            except Exception as exc:  # no pinned memory to be had (a locked-memory limit...)
                warnings.warn(f"gpudnn: no pinned host memory for the per-step values ({exc}); "
                              f"they are copied synchronously", RuntimeWarning, stacklevel=3)
                ring = self._step_ring = False
        if ring is False:
            return super().write_step_values(dst, values)
        host = ring.next_slot(len(values), dst.dtype)
        host[:] = values
        with self._device:
            stream = cupy.cuda.get_current_stream()
            dst.data.copy_from_host_async(host.ctypes.data, host.nbytes, stream)
            ring.mark_used(stream)

    def synchronize(self):
        self._device.synchronize()

    # ----------------------------------------------------------------- CUDA graphs
    def _scratch(self, shape, dtype, slot=0, fill=None):
        buf = super()._scratch(shape, dtype, slot, fill)
        if self._capture_keep is not None:  # a graph being captured bakes this address in
            self._capture_keep.append(buf)
        return buf

    def graphs(self):
        """The :class:`~gpudnn.backend.cuda_graph.CudaGraphs` of this device when
        CUDA graphs are on (the default; ``GPUDNN_CUDA_GRAPHS=0`` turns them off), else None."""
        from . import cuda_graph

        if not cuda_graph.graphs_requested():
            return None
        if self._graphs is None:
            self._graphs = cuda_graph.CudaGraphs(self._device)
        return self._graphs

    def capture_key(self):
        """Graphs on or off, and TF32 (a graph keeps the math mode it was captured with)."""
        return (self.graphs() is not None, tf32_enabled())

    def training_stream(self):
        graphs = self.graphs()
        return graphs.training() if graphs is not None else super().training_stream()

    # ----------------------------------------------------------------- linear algebra
    def matmul(self, a, b, out):
        if mixed(a, b, out):
            with self._device:
                return self._half_matmul(a, b, out)
        if self._capture_blas is not None:  # inside a graph capture: CuPy's cuBLAS refuses
            self._capture_blas.gemm(a, b, out)
            return
        with self._device:
            cupy.matmul(a, b, out=out)

    def sum_rows(self, a, out):
        """A cuBLAS gemv with a vector of ones (see ``CublasHandle.sum_rows``): CuPy's
        ``sum(axis=0)`` reads a C-contiguous (n, k) matrix down its columns, uncoalesced
        (87 us for (8192, 512) float32 on an H200, where the data takes 5 us to read)."""
        n = a.shape[0]
        if mixed(a, out):
            with self._device:
                return self._half_sum_rows(a, out)
        if self._capture_blas is not None:
            self._capture_blas.sum_rows(a, self._ones(n, a.dtype), out)
            return
        with self._device:
            blas = self._rows_blas()
            if blas is None or not a.flags.c_contiguous or n == 0:
                cupy.sum(a, axis=0, out=out)
                return
            blas.use_stream(cupy.cuda.get_current_stream())
            blas.sum_rows(a, self._ones(n, a.dtype), out)

    def _ones(self, n, dtype):
        """A cached (n,) vector of ones: sum_rows' gemv operand (a work array: a graph being
        captured keeps it)."""
        return self._scratch((n,), dtype, slot="ones", fill=1)

    def _rows_blas(self):
        """The cuBLAS handle of the eager sum_rows, made on first use; None (CuPy's sum then
        serves) if libcublas cannot be driven through ctypes here."""
        if "_rows_blas_handle" not in self.__dict__:
            from .cublas_ctypes import CublasHandle, CublasUnavailable

            try:
                self._rows_blas_handle = CublasHandle(cupy.cuda.get_current_stream())
            except (CublasUnavailable, OSError, AttributeError) as exc:
                warnings.warn(f"gpudnn: cuBLAS's C API is not reachable ({exc}); bias "
                              f"gradients use CuPy's sum", RuntimeWarning, stacklevel=4)
                self._rows_blas_handle = None
        return self._rows_blas_handle

    def take_rows_at(self, src, order, position, out):
        if out.size == 0:
            return
        width = src.size // src.shape[0]
        with self._device:
            self._launch("take_rows_at", src.reshape(-1), order, position, width,
                         out.reshape(-1))

    # ----------------------------------------------------------------- activations
    def activation_forward(self, kind, z, bias, out, alpha=0.0):
        n, k = z.shape
        if mixed(z, bias, out):
            with self._device:
                return self._half_activation_forward(kind, z, bias, out, alpha)
        with self._device:
            if bias is None:
                bias = self._zero_bias(k, z.dtype)
            if kind == "softmax":
                self._launch("softmax_fwd", z.reshape(-1), bias, k, out.reshape(-1), size=n)
            elif kind in ("leaky_relu", "elu"):
                self._launch(f"{kind}_fwd", z, bias, k, alpha, out)
            elif kind in _ELEMENTWISE_ACTIVATIONS:
                self._launch(f"{kind}_fwd", z, bias, k, out)
            else:
                raise InvalidInputError(f"unknown activation kind {kind!r}")

    def activation_backward(self, kind, y, dy, out, alpha=0.0):
        if mixed(y, dy, out):
            with self._device:
                return self._half_activation_backward(kind, y, dy, out, alpha)
        with self._device:
            if kind == "linear":
                if out is not dy:
                    self._launch("linear_bwd", dy, out)
            elif kind == "softmax":
                n, k = y.shape
                self._launch("softmax_bwd", y.reshape(-1), dy.reshape(-1), k, out.reshape(-1),
                             size=n)
            elif kind in ("leaky_relu", "elu"):
                self._launch(f"{kind}_bwd", y, dy, alpha, out)
            elif kind in _ELEMENTWISE_ACTIVATIONS:
                self._launch(f"{kind}_bwd", y, dy, out)
            else:
                raise InvalidInputError(f"unknown activation kind {kind!r}")

    # ----------------------------------------------------------------- randomness and counters
    def dropout(self, x, seed, step, rate, out):
        with self._device:
            self._launch("dropout", x, step, int(seed), dropout_threshold(rate),
                         1.0 / (1.0 - rate), out)

    def increment(self, counter, by=1):
        with self._device:
            self._launch("increment_counter", by, counter)

    def sum_squares(self, a):
        with self._device:
            flat = a.reshape(-1)
            return cupy.dot(flat, flat)

    def all_finite(self, a):
        with self._device:
            return bool(cupy.isfinite(a).all())
