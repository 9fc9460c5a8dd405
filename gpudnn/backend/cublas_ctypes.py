"""cuBLAS GEMMs through cuBLAS's C API on a handle of gpudnn's own, for a CUDA graph capture.

CuPy's matmul (and every wrapper in ``cupy_backends.cuda.libs.cublas``) calls
``cublasSetStream`` on each call, and CuPy refuses that while a stream is capturing (CuPy <=
14.2: "calling cuBLAS API during stream capture is currently unsupported"). cuBLAS itself
supports capture when the handle's stream and workspace are set *before* the capture begins
(cuBLAS docs, "CUDA Graphs Support"). So the captured step's GEMMs go through
``cublasSgemm_v2`` / ``cublasDgemm_v2`` via ``ctypes`` on the libcublas that CuPy has already
loaded (found in ``/proc/self/maps``, so both libraries are one), on a handle bound to the
capture stream with a preallocated workspace. Eager steps keep ``cupy.matmul``.

Row-major ``C (m, n) = A (m, k) @ B (k, n)`` is column-major ``C^T = B^T A^T``:
``gemm(opB, opA, n, m, k, 1, B, ldb, A, lda, 0, C, n)``, where a C-contiguous operand of shape
(r, c) is passed with ``op = N, ld = c`` and a transposed view (F-contiguous) with
``op = T, ld = r``.
"""

import ctypes

import numpy as np

OP_N, OP_T = 0, 1
DEFAULT_MATH, TF32_TENSOR_OP_MATH = 0, 3
#: cublasMath_t flag: a 16-bit output is rounded once, from float32 (no split-K partial sums
#: reduced in 16 bits): the NumPy reference's rounding point
DISALLOW_REDUCED_PRECISION_REDUCTION = 16
#: cudaDataType_t of the GemmEx operands (library_types.h), by NumPy dtype name
CUDA_TYPES = {"float32": 0, "float16": 2, "bfloat16": 14}
#: cublasComputeType_t: accumulate in float32; cublasGemmAlgo_t: cuBLAS's heuristic
COMPUTE_32F, GEMM_DEFAULT = 68, -1
#: cuBLAS's recommended workspace on Hopper is 32 MiB.
WORKSPACE_BYTES = 32 << 20


class CublasUnavailable(RuntimeError):
    """No libcublas is loaded in this process, or a cuBLAS call failed."""


def _mapped_cublas():
    """The path of a libcublas.so* mapped into this process, or None."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.rstrip("\n").split(" ")[-1]
                if path.rsplit("/", 1)[-1].startswith("libcublas.so"):
                    return path
    except OSError:
        return None
    return None


def _loaded_cublas_path():
    """The libcublas CuPy uses: the one mapped into this process once CuPy has made its own
    cuBLAS handle (CuPy may load the library lazily), else the one ``cuda.pathfinder`` finds
    (how CuPy 14 locates the pip-installed CUDA libraries), else None."""
    path = _mapped_cublas()
    if path is None:
        try:
            import cupy

            cupy.cuda.device.get_cublas_handle()  # makes CuPy load libcublas
        except Exception:  # noqa: BLE001 -- any failure here just means "look elsewhere"
            pass
        path = _mapped_cublas()
    if path is None:
        try:
            from cuda import pathfinder

            path = pathfinder.load_nvidia_dynamic_lib("cublas").abs_path
        except Exception:  # noqa: BLE001
            path = None
    return path


def _library():
    path = _loaded_cublas_path()
    if path is None:
        raise CublasUnavailable("no libcublas.so is loaded by CuPy in this process, and "
                                "cuda.pathfinder found none")
    try:
        lib = ctypes.CDLL(path)
    except OSError as exc:
        raise CublasUnavailable(f"cannot load {path}: {exc}") from None
    handle_p, int_, ptr = ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p
    lib.cublasCreate_v2.argtypes = [ctypes.POINTER(handle_p)]
    lib.cublasDestroy_v2.argtypes = [handle_p]
    lib.cublasSetStream_v2.argtypes = [handle_p, ptr]
    lib.cublasSetWorkspace_v2.argtypes = [handle_p, ptr, ctypes.c_size_t]
    lib.cublasSetMathMode.argtypes = [handle_p, int_]
    for name in ("cublasSgemm_v2", "cublasDgemm_v2"):
        getattr(lib, name).argtypes = [handle_p, int_, int_, int_, int_, int_, ptr, ptr, int_,
                                       ptr, int_, ptr, ptr, int_]
    for name in ("cublasSgemv_v2", "cublasDgemv_v2"):
        getattr(lib, name).argtypes = [handle_p, int_, int_, int_, ptr, ptr, int_, ptr, int_,
                                       ptr, ptr, int_]
    lib.cublasGemmEx.argtypes = [handle_p, int_, int_, int_, int_, int_, ptr, ptr, int_, int_,
                                 ptr, int_, int_, ptr, ptr, int_, int_, int_, int_]
    return lib


def _check(status, what):
    if status != 0:
        raise CublasUnavailable(f"{what} failed with cuBLAS status {status}")


def operand(x):
    """``(op, ld)`` of a row-major operand for the column-major call (see the module doc)."""
    if x.flags.c_contiguous:
        return OP_N, max(1, x.shape[1])
    if x.flags.f_contiguous:
        return OP_T, max(1, x.shape[0])
    raise ValueError("a GEMM operand must be C-contiguous or a transposed C-contiguous matrix")


class CublasHandle:
    """A cuBLAS handle bound to ``stream`` with its own workspace; :meth:`gemm` is
    ``out = a @ b`` for float32 or float64 CuPy matrices."""

    def __init__(self, stream, tf32=False):
        import cupy

        self._lib = _library()
        self._handle = ctypes.c_void_p()
        _check(self._lib.cublasCreate_v2(ctypes.byref(self._handle)), "cublasCreate")
        self._workspace = cupy.empty(WORKSPACE_BYTES, np.uint8)
        self._stream_ptr = None
        self.use_stream(stream)
        self.tf32 = None
        self.set_tf32(tf32)
        #: the 16-bit dtypes warm_up also runs GemmEx for (set by the CuPy backend)
        self.half_dtypes = ()
        self._one = {np.dtype(np.float32): ctypes.c_float(1.0),
                     np.dtype(np.float64): ctypes.c_double(1.0)}
        self._zero = {np.dtype(np.float32): ctypes.c_float(0.0),
                      np.dtype(np.float64): ctypes.c_double(0.0)}

    def use_stream(self, stream):
        """Bind the handle to ``stream`` (with its own workspace again: cublasSetStream resets
        it). Not during a capture. A change of stream first waits for the device, so that no
        GEMM still queued on the previous stream shares the workspace with the next one."""
        if stream.ptr != self._stream_ptr:
            if self._stream_ptr is not None:
                import cupy

                cupy.cuda.runtime.deviceSynchronize()
            _check(self._lib.cublasSetStream_v2(self._handle, ctypes.c_void_p(stream.ptr)),
                   "cublasSetStream")
            _check(self._lib.cublasSetWorkspace_v2(self._handle,
                                                   ctypes.c_void_p(self._workspace.data.ptr),
                                                   WORKSPACE_BYTES), "cublasSetWorkspace")
            self._stream_ptr = stream.ptr

    def set_tf32(self, tf32):
        """Let float32 GEMMs use TF32 tensor cores (as ``cupy_backend.enable_tf32`` does for
        ``cupy.matmul``), or not. Not during a capture."""
        if bool(tf32) != self.tf32:
            mode = (TF32_TENSOR_OP_MATH if tf32 else DEFAULT_MATH) | \
                DISALLOW_REDUCED_PRECISION_REDUCTION
            _check(self._lib.cublasSetMathMode(self._handle, mode), "cublasSetMathMode")
            self.tf32 = bool(tf32)

    def warm_up(self):
        """One small GEMM per dtype and operand layout, so that nothing is loaded or set up
        for the first time inside a capture."""
        import cupy

        for dtype in (np.float32, np.float64):
            a = cupy.ones((4, 3), dtype)
            for x, y in ((a, a.T), (a.T, a), (a, cupy.ones((3, 5), dtype))):
                self.gemm(x, y, cupy.empty((x.shape[0], y.shape[1]), dtype))
            self.sum_rows(a, cupy.ones(4, dtype), cupy.empty(3, dtype))
        for half in self.half_dtypes:  # mixed precision's GEMMs, once a model asked for them
            a = cupy.zeros((4, 3), half)
            for x, y in ((a, a.T), (a.T, a), (a, cupy.zeros((3, 5), half))):
                for out in (np.float32, half):
                    self.gemm_ex(x, y, cupy.empty((x.shape[0], y.shape[1]), out))

    def gemm(self, a, b, out):
        """``out = a @ b``; a (m, k), b (k, n), out (m, n) C-contiguous, one float dtype."""
        dtype = np.dtype(out.dtype)
        if dtype not in self._one or a.dtype != dtype or b.dtype != dtype \
                or not out.flags.c_contiguous:
            raise ValueError("gemm takes float32 or float64 operands of one dtype and a "
                             "C-contiguous output")
        m, k = a.shape
        n = b.shape[1]
        op_b, ld_b = operand(b)
        op_a, ld_a = operand(a)
        fn = self._lib.cublasSgemm_v2 if dtype == np.float32 else self._lib.cublasDgemm_v2
        _check(fn(self._handle, op_b, op_a, n, m, k, ctypes.byref(self._one[dtype]),
                  ctypes.c_void_p(b.data.ptr), ld_b, ctypes.c_void_p(a.data.ptr), ld_a,
                  ctypes.byref(self._zero[dtype]), ctypes.c_void_p(out.data.ptr), max(1, n)),
               "cublas gemm")

    def gemm_ex(self, a, b, out):
        """``out = a @ b`` with 16-bit operands (float16 or bfloat16, both the same) and a
        float32 or same-16-bit output, accumulated in float32 (cublasGemmEx, compute type
        CUBLAS_COMPUTE_32F): mixed precision's GEMMs."""
        half = np.dtype(a.dtype).name
        if half not in ("float16", "bfloat16") or b.dtype != a.dtype \
                or np.dtype(out.dtype).name not in ("float32", half) \
                or not out.flags.c_contiguous:
            raise ValueError("gemm_ex takes two float16 or two bfloat16 operands and a "
                             "C-contiguous float32 or same 16-bit output")
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k or out.shape != (m, n):
            raise ValueError(f"gemm_ex: shapes {a.shape} @ {b.shape} -> {out.shape} do not fit")
        op_b, ld_b = operand(b)
        op_a, ld_a = operand(a)
        one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)  # compute type 32F: float scalars
        _check(self._lib.cublasGemmEx(
            self._handle, op_b, op_a, n, m, k, ctypes.byref(one),
            ctypes.c_void_p(b.data.ptr), CUDA_TYPES[half], ld_b,
            ctypes.c_void_p(a.data.ptr), CUDA_TYPES[half], ld_a, ctypes.byref(zero),
            ctypes.c_void_p(out.data.ptr), CUDA_TYPES[np.dtype(out.dtype).name], max(1, n),
            COMPUTE_32F, GEMM_DEFAULT), "cublasGemmEx")

    def sum_rows(self, a, ones, out):
        """``out[j] = sum_i a[i, j]``: a (n, k) C-contiguous, ones (n,) of 1, out (k,), one
        float dtype. A matrix-vector product (gemv, never on tensor cores, so plain float32 or
        float64 whatever the TF32 setting): row-major a is the column-major (k, n) matrix with
        leading dimension k, and out = that matrix @ ones, read along its contiguous columns."""
        dtype = np.dtype(out.dtype)
        n, k = a.shape
        if dtype not in self._one or a.dtype != dtype or ones.dtype != dtype \
                or not a.flags.c_contiguous or ones.shape != (n,) or out.shape != (k,):
            raise ValueError("sum_rows takes a C-contiguous (n, k) matrix, (n,) ones and a (k,) "
                             "output of one float dtype")
        fn = self._lib.cublasSgemv_v2 if dtype == np.float32 else self._lib.cublasDgemv_v2
        _check(fn(self._handle, OP_N, k, n, ctypes.byref(self._one[dtype]),
                  ctypes.c_void_p(a.data.ptr), max(1, k), ctypes.c_void_p(ones.data.ptr), 1,
                  ctypes.byref(self._zero[dtype]), ctypes.c_void_p(out.data.ptr), 1),
               "cublas gemv")

    def __del__(self):
        lib, handle = getattr(self, "_lib", None), getattr(self, "_handle", None)
        if lib is not None and handle is not None and handle.value:
            lib.cublasDestroy_v2(handle)
