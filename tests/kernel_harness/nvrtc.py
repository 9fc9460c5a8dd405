"""The exact CUDA source CuPy generates for a gpudnn kernel, compiled by NVRTC without a GPU.

``cupy.ElementwiseKernel.__call__`` needs a device, but the steps it takes to produce source are
importable: ``_decide_params_type`` types the params, ``_get_elementwise_kernel_code`` writes the
kernel, ``core._cupy_header_list`` and ``core.assemble_cupy_compiler_options`` add CuPy's headers
and options, and ``compiler._compile_with_cache_cuda`` adds ``-ftz=true``, the arch and
``--device-as-default-execution-space``. These are private: the pinned CuPy version is checked
and any change surfaces as an error, never as a skipped or vacuous check.
"""

import numpy as np

#: The CuPy release these internals were read from (CI pins it).
CUPY_VERSION = "14.2.0"

ARG_NDARRAY, ARG_INDEXER, ARG_SCALAR = 1, 2, 3


def _param_dtype(p, dtype, half):
    """The dtype of param ``p`` in a launch: ``T`` is ``dtype``, ``H`` (a 16-bit form of
    kernel_half.py) is ``half``, a fixed type is itself."""
    if p.type == "T":
        return np.dtype(dtype)
    if p.type == "H":
        return np.dtype(half)
    return np.dtype(p.type)


def arginfos(spec, kernel, dtype, index_32_bits=True, half=None):
    """CuPy's ``_ArgInfo`` tuple for a launch of ``spec`` as the backend makes it: arrays flat
    C-contiguous 1-d, scalars as CScalar, then the 1-d indexer."""
    import cupy
    from cupy._core import _carray, _kernel, _scalar

    infos = []
    for p in spec.inputs + spec.outputs:
        pdtype = _param_dtype(p, dtype, half)
        if p.scalar:
            infos.append(_kernel._ArgInfo(ARG_SCALAR, _scalar.CScalar, pdtype, 0, True, True))
        else:
            infos.append(_kernel._ArgInfo(ARG_NDARRAY, cupy.ndarray, pdtype, 1, True,
                                          index_32_bits))
    infos.append(_kernel._ArgInfo(ARG_INDEXER, _carray.Indexer, None, 1, True, index_32_bits))
    return tuple(infos)


def generated_source(spec, dtype, index_32_bits=True, half=None):
    """``(source, options)`` as CuPy would hand them to NVRTC, minus the arch option; ``half``:
    the dtype of a 16-bit form's ``H`` arrays (float16, ml_dtypes.bfloat16)."""
    from cupy._core import _kernel, core

    from gpudnn.backend.cupy_backend import make_kernel

    kernel = make_kernel(spec)
    in_dtypes = tuple(None if p.scalar else _param_dtype(p, dtype, half) for p in spec.inputs)
    out_dtypes = tuple(_param_dtype(p, dtype, half) for p in spec.outputs)
    _, _, type_map = kernel._decide_params_type(in_dtypes, out_dtypes)
    code = _kernel._get_elementwise_kernel_code(
        arginfos(spec, kernel, dtype, index_32_bits, half), type_map, kernel.params,
        kernel.operation,
        kernel.name, kernel.preamble, **kernel.kwargs)
    source = "".join(f"#include <{h}>\n" for h in core._cupy_header_list) + code
    options = core.assemble_cupy_compiler_options(kernel.kwargs.get("options", ()))
    options += ("-ftz=true", "--device-as-default-execution-space")
    return source, options


def compile_cubin(source, options, arch):
    """Compile to a cubin for ``sm_{arch}``; raises CuPy's CompileException with NVRTC's log."""
    from cupy.cuda import compiler

    program = compiler._NVRTCProgram(source, "kern.cu", method="cubin")
    cubin, _ = program.compile(options + (f"-arch=sm_{arch}",))
    return cubin


def compile_ptx(source, options, arch):
    """The PTX text for ``compute_{arch}`` (to read which loads and stores a kernel issues)."""
    from cupy.cuda import compiler

    program = compiler._NVRTCProgram(source, "kern.cu", method="ptx")
    ptx, _ = program.compile(options + (f"-arch=compute_{arch}",))
    return ptx.decode() if isinstance(ptx, bytes) else ptx
