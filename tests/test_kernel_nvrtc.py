"""Every kernel compiled by NVRTC from the exact source CuPy generates for it, without a GPU.

Per kernel: float32 and float64 (and float16 for activations), for sm_90 (H100) and sm_75
(Turing), plus 64-bit indexing on sm_90. A kernel NVRTC rejects fails with NVRTC's log. See
``kernel_harness/nvrtc.py`` for the CuPy internals used; they are pinned, and a change in them
fails these tests rather than skipping them.
"""

import re

import ml_dtypes
import numpy as np
import pytest

from gpudnn.backend.kernel_half import load_ema_kernels, load_gated_kernels, load_half_kernels
from gpudnn.backend.kernel_source import load_kernels
from kernel_harness import nvrtc

ARCHS = (90, 75)
CASES = [(name, np.dtype(dt).name, arch, True)
         for name, spec in load_kernels().items()
         for dt in ((np.float16,) if spec.family == "activations" else ()) + (np.float32, np.float64)
         for arch in ARCHS]
CASES += [(name, "float32", 90, False) for name in load_kernels()]


def test_generated_source_is_cupys_kernel(cupy_nvrtc):
    """Guard against CuPy's generator changing shape under the pin: the code carries the
    kernel's entry point, the typedef of T, each param in CuPy's form and the body verbatim."""
    spec = load_kernels()["leaky_relu_fwd"]
    source, options = nvrtc.generated_source(spec, np.float32)
    assert source.startswith("#include <cupy/")
    assert 'extern "C" __global__ void leaky_relu_fwd(' in source
    assert "typedef float T;" in source
    assert "const float alpha" in source and "const int k" in source  # scalars
    assert "CArray<float, 1, 1, 1> bias" in source  # raw array
    assert "const T &z = _raw_z[_ind.get()];" in source  # per-element reference
    assert spec.body in source
    assert "--fmad=false" in options and "-ftz=true" in options


def test_a_broken_kernel_fails_with_nvrtcs_log(cupy_nvrtc):
    from cupy.cuda.compiler import CompileException

    from gpudnn.backend.kernel_source import KernelSpec

    spec = load_kernels()["sgd_update"]
    broken = KernelSpec("broken_update", spec.family, spec.in_params, spec.out_params,
                        spec.scalars, "param -= lr * undefined_name;", spec.preamble)
    source, options = nvrtc.generated_source(broken, np.float32)
    with pytest.raises(CompileException, match="undefined_name"):
        nvrtc.compile_cubin(source, options, 90)


def compiled(spec, dtype, arch, index_32_bits=True, half=None):
    """The cubin NVRTC makes of CuPy's source for ``spec``, or the test fails with NVRTC's log
    and the source."""
    from cupy.cuda.compiler import CompileException

    source, options = nvrtc.generated_source(spec, np.dtype(dtype), index_32_bits, half=half)
    try:
        cubin = nvrtc.compile_cubin(source, options, arch)
    except CompileException as exc:
        pytest.fail(f"NVRTC rejected {spec.name} ({np.dtype(dtype).name}"
                    f"{'' if half is None else ', H ' + np.dtype(half).name}, sm_{arch}):\n"
                    f"{exc}\n--- source ---\n{source}")
    assert spec.name.encode() in cubin
    return cubin


@pytest.mark.parametrize("name,dtype,arch,index_32_bits", CASES,
                         ids=[f"{n}-{d}-sm{a}" + ("" if i else "-idx64") for n, d, a, i in CASES])
def test_kernel_compiles(cupy_nvrtc, name, dtype, arch, index_32_bits):
    cubin = compiled(load_kernels()[name], dtype, arch, index_32_bits)
    assert len(cubin) > 1000  # an ELF with the kernel in it


HALF_CASES = [(name, half, arch) for name in load_half_kernels()
              for half in ("float16", "bfloat16") for arch in ARCHS]


@pytest.mark.parametrize("name,half,arch", HALF_CASES,
                         ids=[f"{n}-{h}-sm{a}" for n, h, a in HALF_CASES])
def test_16_bit_form_compiles(cupy_nvrtc, name, half, arch):
    """Every 16-bit and master form of kernel_half.py, and the casts, with H bound to CuPy's
    float16 or bfloat16 (ml_dtypes.bfloat16) and T to float32."""
    dtype = np.dtype(ml_dtypes.bfloat16) if half == "bfloat16" else np.dtype(half)
    compiled(load_half_kernels()[name], np.float32, arch, half=dtype)


EMA_CASES = [(name, dtype, arch) for name in load_ema_kernels()
             for dtype in ("float32", "float64") for arch in ARCHS]


@pytest.mark.parametrize("name,dtype,arch", EMA_CASES,
                         ids=[f"{n}-{d}-sm{a}" for n, d, a in EMA_CASES])
def test_ema_form_compiles(cupy_nvrtc, name, dtype, arch):
    """Every EMA form (the update and the weights' moving average in one launch) of
    kernel_half.py, vector forms included."""
    compiled(load_ema_kernels()[name], dtype, arch)


GATED_CASES = [(name, dtype, arch) for name in load_gated_kernels()
               for dtype in ("float32", "float64") for arch in ARCHS]


@pytest.mark.parametrize("name,dtype,arch", GATED_CASES,
                         ids=[f"{n}-{d}-sm{a}" for n, d, a in GATED_CASES])
def test_gated_form_compiles(cupy_nvrtc, name, dtype, arch):
    """Every gated form (loss scaling's skip) of kernel_half.py, vector forms included."""
    compiled(load_gated_kernels()[name], dtype, arch)


VECTOR_FORMS = sorted(name for name, spec in load_kernels().items() if spec.lanes > 1)


@pytest.mark.parametrize("dtype,vector", [("float32", "v4.f32"), ("float64", "v2.f64")])
@pytest.mark.parametrize("name", VECTOR_FORMS)
def test_vector_forms_move_16_bytes_per_access(cupy_nvrtc, name, dtype, vector):
    """In the PTX NVRTC makes of CuPy's source for sm_90, a vector form loads each of its
    element-wise arrays and stores each out-array with 16-byte accesses (one float4, or two
    double2, per array for 4 lanes), and keeps its lanes in registers (no local memory)."""
    spec = load_kernels()[name]
    arrays = [p for p in spec.inputs + spec.outputs if p.name.endswith("_buf")]
    outs = [p for p in spec.outputs if p.name.endswith("_buf")]
    per_array = spec.lanes * np.dtype(dtype).itemsize // 16
    source, options = nvrtc.generated_source(spec, np.dtype(dtype))
    ptx = nvrtc.compile_ptx(source, options, 90)
    loads = re.findall(rf"\bld\.global(?:\.\w+)*\.{re.escape(vector)}\b", ptx)
    stores = re.findall(rf"\bst\.global(?:\.\w+)*\.{re.escape(vector)}\b", ptx)
    assert len(loads) == per_array * len(arrays), (name, loads)
    assert len(stores) == per_array * len(outs), (name, stores)
    assert ".local" not in ptx, f"{name} keeps its lanes in local memory"
