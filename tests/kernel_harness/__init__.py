"""A CPU harness that runs the CUDA bodies of ``kernels/*.cu`` with ElementwiseKernel semantics.

The kernels are the library's own host build (:mod:`gpudnn.backend.host_kernels`: g++ compiles
every body into one shared library per dtype, ``extern "C" void NAME(ptrdiff_t n, params...)``
looping ``i`` over ``[0, n)``), so the harness checks exactly the code the compiled CPU backend
runs.

:class:`HostArray` is a NumPy array that carries CuPy's ``__cupy_override_elementwise_kernel__``
hook: when the real ``cupy.ElementwiseKernel`` objects of the CuPy backend are called with it they
hand their arguments here instead of touching a GPU, which runs the same body on the CPU.
"""

import ctypes
import os
import shutil

import numpy as np
import pytest

from gpudnn.backend import host_kernels
from gpudnn.backend.kernel_half import find_kernel

_CTYPES_PY = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
              np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64,
              np.dtype(np.bool_): ctypes.c_bool}
#: Names of the kernels that ran through the override hook in this process (coverage check).
SEEN = set()
#: Every launch through the hook, in order, by kernel name (tests clear it and read it back).
LAUNCHES = []


def require(what, available):
    """Skip when a tool is missing, unless GPUDNN_REQUIRE_KERNEL_CHECKS is set: then fail."""
    if available:
        return
    message = f"{what} is not available"
    if os.environ.get("GPUDNN_REQUIRE_KERNEL_CHECKS"):
        pytest.fail(f"{message}, and GPUDNN_REQUIRE_KERNEL_CHECKS is set")
    pytest.skip(message)


def have_gxx():
    return shutil.which(host_kernels.compiler()) is not None


def library(dtype):
    """The library's own compiled kernels for ``dtype`` (float32 or float64, or float16 and
    bfloat16 for the 16-bit forms): the very code the compiled CPU backend runs, OpenMP branch
    included (these tests' sizes take the serial one)."""
    return host_kernels.load(dtype)


def run(spec, args, size=None):
    """Run ``spec`` on host ``args`` (in-params then out-params, as CuPy takes them)."""
    params = spec.inputs + spec.outputs
    if len(args) != len(params):
        raise TypeError(f"{spec.name} takes {len(params)} arguments, got {len(args)}")
    t_dtypes = {np.asarray(a).dtype for p, a in zip(params, args) if not p.scalar and p.type == "T"}
    if len(t_dtypes) > 1:
        raise TypeError(f"{spec.name}: the T arrays disagree in dtype: {t_dtypes}")
    # a kernel without T arrays (a step counter) is the same code in either library
    t_dtype = t_dtypes.pop() if t_dtypes else np.dtype(np.float32)
    # a 16-bit form (gpudnn/backend/kernel_half.py): its library is its H arrays' dtype
    h_dtypes = {np.asarray(a).dtype for p, a in zip(params, args) if not p.scalar and p.type == "H"}
    if len(h_dtypes) > 1:
        raise TypeError(f"{spec.name}: the H arrays disagree in dtype: {h_dtypes}")
    h_dtype = h_dtypes.pop() if h_dtypes else None
    lib = library(t_dtype if h_dtype is None else h_dtype)
    nonraw = [np.asarray(a) for p, a in zip(params, args) if not p.scalar and not p.raw]
    if size is None:
        if not nonraw:
            raise ValueError(f"{spec.name}: size= is required when every array is raw")
        shape = np.broadcast_shapes(*(a.shape for a in nonraw))
        size = int(np.prod(shape))
    elif nonraw:
        raise ValueError(f"{spec.name}: size= given although some arrays are not raw")
    c_args, write_back = [ctypes.c_ssize_t(size)], []
    for p, a in zip(params, args):
        dtype = {"T": t_dtype, "H": h_dtype}.get(p.type) or np.dtype(p.type)
        if p.scalar:
            if np.ndim(a) != 0 or isinstance(a, np.ndarray):
                raise TypeError(f"{spec.name}: {p.name} must be a Python scalar, got {type(a)}")
            c_args.append(_CTYPES_PY[dtype](dtype.type(a)))
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{spec.name}: {p.name} must be an array, got {type(a)}")
        a = a.view(np.ndarray)
        if a.dtype != dtype:
            raise TypeError(f"{spec.name}: {p.name} is {a.dtype}, expected {dtype}")
        if p in spec.outputs:
            if not p.raw and a.shape != shape:
                raise ValueError(f"{spec.name}: out shape {a.shape} is not the loop shape {shape}")
            buf = a if a.flags.c_contiguous else np.ascontiguousarray(a)
            if buf is not a:
                write_back.append((a, buf))
        elif p.raw:
            buf = np.ascontiguousarray(a)
        else:
            buf = np.ascontiguousarray(np.broadcast_to(a, shape))
        c_args.append(ctypes.c_void_p(buf.ctypes.data))
        write_back.append((None, buf))  # keeps buf alive during the call
    getattr(lib, spec.name)(*c_args)
    for dst, buf in write_back:
        if dst is not None:
            dst[...] = buf


class HostArray(np.ndarray):
    """A host array that makes ``cupy.ElementwiseKernel.__call__`` run the kernel here."""

    def __cupy_override_elementwise_kernel__(self, kernel, *args, **kwargs):
        try:
            spec = find_kernel(kernel.name)
        except KeyError:
            raise AssertionError(f"kernel {kernel.name!r} is not one of kernels/*.cu nor a "
                                 f"generated form") from None
        # The object must be built from the source as written: same body, preamble, params.
        assert kernel.operation == spec.body, kernel.name
        assert kernel.preamble == spec.preamble, kernel.name
        assert [p.name for p in kernel.in_params] == [p.name for p in spec.inputs]
        assert [p.name for p in kernel.out_params] == [p.name for p in spec.outputs]
        if kwargs:
            raise TypeError(f"unexpected launch arguments {kwargs}")
        size = None
        if spec.is_row_kernel:
            # CuPy pops size= before it calls the hook, so a row kernel's size is recovered
            # from the row-kernel conventions of kernels/*.cu: n = len(first array) / k, the
            # thread count a strided kernel is told, or ceil(n / lanes) in a vector form.
            named = dict(zip([p.name for p in spec.inputs + spec.outputs], args))
            if spec.lanes > 1:  # a vector form: one thread per `lanes` of the n elements
                size = -(-int(named["n"]) // spec.lanes)
            elif "threads" in named:
                size = int(named["threads"])
            else:
                first = next(p.name for p in spec.inputs if p.raw)
                size = np.asarray(named[first]).size // named["k"]
        SEEN.add(kernel.name)
        LAUNCHES.append(kernel.name)
        run(spec, args, size=size)


def placed(array, offset=0, guard=16):
    """A :class:`HostArray` copy of the flat ``array`` at a 64-byte-aligned address plus
    ``offset`` elements, inside a larger buffer whose ``guard`` elements on either side hold
    a sentinel; ``guards_intact(view)`` says whether a kernel left them alone."""
    array = np.asarray(array)
    raw = np.full(array.size + 64 // array.itemsize + offset + 2 * guard, GUARD, array.dtype)
    start = (-raw.ctypes.data % 64) // array.itemsize + offset + guard
    view = raw[start:start + array.size]
    view[...] = array.reshape(-1)
    return view.view(HostArray)


GUARD = -12345.0


def guards_intact(view):
    """True when every element of ``view``'s buffer outside ``view`` still holds the sentinel
    that :func:`placed` wrote there."""
    raw = np.asarray(view)
    while raw.base is not None:
        raw = raw.base
    raw = np.asarray(raw).view(np.ndarray)
    start = (np.asarray(view).ctypes.data - raw.ctypes.data) // raw.itemsize
    outside = np.concatenate([raw[:start], raw[start + np.asarray(view).size:]])
    return bool(np.all(outside == raw.dtype.type(GUARD)))


def host(array):
    """``array`` as a :class:`HostArray` (a view when it already is a NumPy array)."""
    return np.asarray(array).view(HostArray)
