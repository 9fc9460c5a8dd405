"""The CuPy backend's 16-bit arithmetic (see :mod:`gpudnn.backend.mixed_precision`). A mixin of
:class:`~gpudnn.backend.cupy_backend.CupyBackend`.

The same rounding points as the NumPy reference (numpy_mixed.py), with the GPU's own kernels:

- a GEMM with a 16-bit operand is ``cublasGemmEx`` with 16-bit A and B, float32 accumulation
  (CUBLAS_COMPUTE_32F) and a float32 or 16-bit C; a float32 operand is first rounded into a
  16-bit work array (the ``to_half`` cast), as Keras's autocast of a layer's input;
- the bias-gradient column sums of a 16-bit matrix are a GemmEx with a 16-bit vector of ones,
  into float32;
- an activation whose arrays are all 16-bit (a float32 bias) is the kernel's 16-bit form
  ``NAME_h`` (kernel_half.py); any other mix is widened into float32 work arrays
  (``from_half``), run by the float32 kernel and rounded back (``to_half``);
- ``copy_into`` between float32 and 16 bits is the cast kernel.

The GEMMs use gpudnn's own cuBLAS handle (cublas_ctypes.py), the capture's inside a CUDA-graph
capture (warmed up for the dtypes met here first), so a mixed step captures.
"""

import numpy as np

from ..dtype_policies import is_half
from ..errors import InvalidInputError
from .mixed_precision import HalfCasts

_F32 = np.dtype(np.float32)


class CupyMixedPrecision(HalfCasts):
    """Mixin of CupyBackend: ops on 16-bit arrays (see the module docstring)."""

    def _note_half(self, dtype):
        """Remember the 16-bit dtypes met: the capture's cuBLAS handle is warmed up for them."""
        seen = self.__dict__.setdefault("_halves_seen", set())
        seen.add(np.dtype(dtype))

    def _cast_into(self, dst, src):
        """``dst = src`` between float32 and a 16-bit dtype (round to nearest even, or exact
        widening), one launch."""
        if is_half(dst.dtype) and src.dtype == _F32:
            self._launch("to_half", src, dst)
        elif dst.dtype == _F32 and is_half(src.dtype):
            self._launch("from_half", src, dst)
        else:
            raise InvalidInputError(f"gpudnn casts between float32 and float16 / bfloat16, not "
                                    f"{src.dtype} to {dst.dtype}")

    def _half_matmul(self, a, b, out):
        half = next(x.dtype for x in (a, b, out) if is_half(x.dtype))
        self._note_half(half)
        a, b = self._in_dtype(a, half, "a"), self._in_dtype(b, half, "b")
        result = out if out.dtype in (_F32, half) else None
        if result is None:
            raise InvalidInputError(f"a {half} GEMM writes float32 or {half}, not {out.dtype}")
        self._half_blas().gemm_ex(a, b, result)

    def _half_blas(self):
        """The cuBLAS handle for GemmEx: the capture's while a step is captured, else the
        eager one on the current stream."""
        import cupy

        if self._capture_blas is not None:
            return self._capture_blas
        blas = self._rows_blas()
        if blas is None:
            raise InvalidInputError("the 16-bit GEMMs need cuBLAS's C API (libcublas), which "
                                    "this CuPy installation does not expose")
        blas.use_stream(cupy.cuda.get_current_stream())
        return blas

    def _half_sum_rows(self, a, out):
        """``out[j] = sum_i a[i, j]`` of a 16-bit (n, k) matrix into float32: (1, n) ones @ a."""
        n, k = a.shape
        self._note_half(a.dtype)
        kept = self.__dict__.setdefault("_half_ones", {})  # made once (the warm step), kept
        ones = kept.get((n, a.dtype))
        if ones is None:
            ones = kept[(n, a.dtype)] = self.empty((1, n), a.dtype)
            self._cast_into(ones, self._scratch((1, n), _F32, slot="ones-row", fill=1))
        work = out if out.dtype == _F32 else self._scratch((k,), _F32, slot=("work", "sum"))
        self._half_blas().gemm_ex(ones, a, work.reshape(1, k))
        if work is not out:
            self._cast_into(out, work)

    def _half_activation_forward(self, kind, z, bias, out, alpha):
        n, k = z.shape
        if kind != "softmax" and is_half(z.dtype) and out.dtype == z.dtype and \
                (bias is None or bias.dtype == _F32):
            bias = self._zero_bias(k, _F32) if bias is None else bias
            args = (z, bias, k) + ((alpha,) if kind in ("leaky_relu", "elu") else ()) + (out,)
            self._launch(f"{kind}_fwd_h", *args)
            return
        work = self._scratch(out.shape, _F32, slot=("work", "act"))
        if z.dtype == _F32:
            self._launch("linear_bwd", z, work)  # a copy
        else:
            self._cast_into(work, z)
        bias32 = None if bias is None else self._in_dtype(bias, _F32, "bias")
        self.activation_forward(kind, work, bias32, work, alpha=alpha)
        self._store(out, work)

    def _half_activation_backward(self, kind, y, dy, out, alpha):
        if kind == "linear" and is_half(dy.dtype) and out.dtype == dy.dtype:
            if out is not dy:
                self._launch("linear_bwd_h", dy, out)
            return
        if kind not in ("softmax", "linear") and is_half(y.dtype) and \
                dy.dtype == y.dtype == out.dtype:
            args = (y, dy) + ((alpha,) if kind in ("leaky_relu", "elu") else ()) + (out,)
            self._launch(f"{kind}_bwd_h", *args)
            return
        work = self._scratch(out.shape, _F32, slot=("work", "act"))
        self.activation_backward(kind, self._in_dtype(y, _F32, "y"),
                                 self._in_dtype(dy, _F32, "dy"), work, alpha=alpha)
        self._store(out, work)

    def _store(self, out, work):
        if out.dtype == _F32:
            self._launch("linear_bwd", work, out)  # a copy
        else:
            self._cast_into(out, work)
