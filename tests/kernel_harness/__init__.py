"""A CPU harness that runs the CUDA bodies of ``kernels/*.cu`` with ElementwiseKernel semantics.

Each kernel family is compiled by g++ into a shared library per dtype (``T`` bound to float or
double): every kernel becomes ``extern "C" void NAME(ptrdiff_t n, params...)`` looping ``i`` over
``[0, n)``, where a non-raw array param is a reference to element ``i`` (``const T& x``, ``T& y``),
a ``raw`` param is a pointer indexed by hand, and a scalar param is a value. The library is cached
on disk under a hash of its source and flags, so only the first run pays the compile.

:class:`HostArray` is a NumPy array that carries CuPy's ``__cupy_override_elementwise_kernel__``
hook: when the real ``cupy.ElementwiseKernel`` objects of the CuPy backend are called with it they
hand their arguments here instead of touching a GPU, which runs the same body on the CPU.
"""

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from gpudnn.backend.kernel_source import load_kernels

SHIM = Path(__file__).with_name("cuda_shim.h")
CXXFLAGS = ["-O2", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off"]
_CTYPES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
           "bool": "bool"}
_CTYPES_PY = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
              np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64,
              np.dtype(np.bool_): ctypes.c_bool}
_libraries = {}
#: Names of the kernels that ran through the override hook in this process (coverage check).
SEEN = set()


def require(what, available):
    """Skip when a tool is missing, unless GPUDNN_REQUIRE_KERNEL_CHECKS is set: then fail."""
    if available:
        return
    message = f"{what} is not available"
    if os.environ.get("GPUDNN_REQUIRE_KERNEL_CHECKS"):
        pytest.fail(f"{message}, and GPUDNN_REQUIRE_KERNEL_CHECKS is set")
    pytest.skip(message)


def have_gxx():
    return shutil.which("g++") is not None


def _param_type(param, ctype):
    return ctype if param.type == "T" else _CTYPES[param.type]


def family_source(family, ctype):
    """The C++ translation unit of one family with T bound to ``ctype``."""
    specs = [s for s in load_kernels().values() if s.family == family]
    parts = ['#include "cuda_shim.h"', f"typedef {ctype} T;", specs[0].preamble]
    for spec in specs:
        args, refs = ["ptrdiff_t _n"], []
        for p in spec.inputs + spec.outputs:
            const = "const " if p in spec.inputs else ""
            t = _param_type(p, ctype)
            if p.scalar:
                args.append(f"const {t} {p.name}")
            elif p.raw:
                args.append(f"{const}{t}* {p.name}")
            else:
                args.append(f"{const}{t}* _raw_{p.name}")
                refs.append(f"    {const}{t}& {p.name} = _raw_{p.name}[i];")
        parts.append(f'extern "C" void {spec.name}({", ".join(args)}) {{\n'
                     "  for (ptrdiff_t i = 0; i < _n; ++i) {\n" + "\n".join(refs) +
                     f"\n{spec.body}\n;\n  }}\n}}")
    return "\n\n".join(parts) + "\n"


def library(family, dtype):
    """The compiled harness of ``family`` for ``dtype`` (float32 or float64), cached."""
    ctype = _CTYPES[np.dtype(dtype).name]
    key = (family, ctype)
    if key in _libraries:
        return _libraries[key]
    source = family_source(family, ctype)
    digest = hashlib.sha256("\0".join([source, SHIM.read_text(), " ".join(CXXFLAGS)]).encode())
    cache = Path(os.environ.get("GPUDNN_HARNESS_CACHE",
                                Path(tempfile.gettempdir()) / "gpudnn-kernel-harness"))
    cache.mkdir(parents=True, exist_ok=True)
    so = cache / f"{family}-{ctype}-{digest.hexdigest()[:20]}.so"
    if not so.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cpp = Path(tmp) / f"{family}.cpp"
            cpp.write_text(source)
            out = Path(tmp) / "lib.so"
            done = subprocess.run(["g++", *CXXFLAGS, f"-I{SHIM.parent}", str(cpp), "-o", str(out)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise AssertionError(f"g++ rejected the {family} kernels as {ctype}:\n"
                                     f"{done.stderr}\n--- source ---\n{source}")
            os.replace(out, so)  # atomic: parallel runs never see half a file
    _libraries[key] = ctypes.CDLL(str(so))
    return _libraries[key]


def run(spec, args, size=None):
    """Run ``spec`` on host ``args`` (in-params then out-params, as CuPy takes them)."""
    params = spec.inputs + spec.outputs
    if len(args) != len(params):
        raise TypeError(f"{spec.name} takes {len(params)} arguments, got {len(args)}")
    arrays = [np.asarray(a) for p, a in zip(params, args) if not p.scalar]
    t_dtypes = {np.asarray(a).dtype for p, a in zip(params, args) if not p.scalar and p.type == "T"}
    if len(t_dtypes) != 1:
        raise TypeError(f"{spec.name}: the T arrays disagree in dtype: {t_dtypes}")
    t_dtype = t_dtypes.pop()
    lib = library(spec.family, t_dtype)
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
        dtype = t_dtype if p.type == "T" else np.dtype(p.type)
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
        spec = load_kernels().get(kernel.name)
        if spec is None:
            raise AssertionError(f"kernel {kernel.name!r} is not one of kernels/*.cu")
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
            # from the row-kernel convention of kernels/activations.cu: n = len(out) / k.
            named = dict(zip([p.name for p in spec.inputs + spec.outputs], args))
            size = np.asarray(named[spec.outputs[0].name]).size // named["k"]
        SEEN.add(kernel.name)
        run(spec, args, size=size)


def host(array):
    """``array`` as a :class:`HostArray` (a view when it already is a NumPy array)."""
    return np.asarray(array).view(HostArray)
