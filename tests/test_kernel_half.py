"""The 16-bit forms of the kernels (gpudnn/backend/kernel_half.py), run on the CPU by their g++
build, against NumPy: the float32 reference on the widened inputs, rounded once to the 16-bit
dtype with ml_dtypes / NumPy (round to nearest even). Where the float32 arithmetic is NumPy's
(relu, linear, leaky ReLU, their backward passes, dropout, the updates) the results match to
the bit; where the kernel's libm differs from NumPy's in the last float32 bit (tanh, exp) the
16-bit results may differ by one unit in the last 16-bit place (the format's epsilon). NVRTC
compiles every form for sm_90 and sm_75 (tests/test_kernel_nvrtc.py)."""

import ml_dtypes
import numpy as np
import pytest

import kernel_harness
from gpudnn import errors as gpudnn_errors
from gpudnn.backend import NumpyBackend
from gpudnn.backend.kernel_half import (HALF_FORM_KERNELS, MASTER_FORM_KERNELS, half_form,
                                        load_half_kernels)
from gpudnn.backend.kernel_source import load_kernels

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on inf and NaN

HALVES = (np.dtype(np.float16), np.dtype(ml_dtypes.bfloat16))
KINDS = ("linear", "relu", "sigmoid", "tanh", "leaky_relu", "elu")
#: 16-bit units in the last place allowed (0: NumPy's arithmetic, bit for bit)
ULPS = {"linear": 0, "relu": 0, "leaky_relu": 0, "sigmoid": 1, "tanh": 1, "elu": 1}
ALPHA = {"leaky_relu": 0.2, "elu": 1.0}


@pytest.fixture(scope="module", autouse=True)
def _gxx():
    kernel_harness.require("g++", kernel_harness.have_gxx())


def spacing(values, dtype):
    """The gap from |values| to the next 16-bit value above: one unit in the last place."""
    magnitude = np.abs(values.astype(np.float32)).astype(dtype)
    up = np.nextafter(magnitude, np.full_like(magnitude, np.inf))
    return up.astype(np.float64) - magnitude.astype(np.float64)


def test_spacing_is_one_unit_in_the_last_16_bit_place():
    for dtype, unit in ((np.dtype(np.float16), 2.0 ** -10), (HALVES[1], 2.0 ** -7)):
        np.testing.assert_array_equal(spacing(np.array([1.0, -1.5, 2.0], np.float32), dtype),
                                      [unit, unit, 2 * unit])


def assert_close_in_16_bits(got, want, ulps, what):
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    same_nan = np.isnan(got64) == np.isnan(want64)
    assert same_nan.all(), f"{what}: NaN in different places"
    finite = ~np.isnan(want64)
    if ulps == 0:
        np.testing.assert_array_equal(got.view(np.uint16)[finite], want.view(np.uint16)[finite],
                                      err_msg=what)
        return
    gap = spacing(want, want.dtype)
    with np.errstate(invalid="ignore"):  # inf - inf: those are compared for equality
        close = (got64 == want64) | (np.abs(got64 - want64) <= ulps * gap + 1e-30)
    assert close[finite].all(), f"{what}: {got64[~close & finite]} vs {want64[~close & finite]}"


def inputs(rng, dtype, n=17, k=23):
    z = (rng.standard_normal((n, k)) * 3).astype(dtype)
    z[-1, :6] = np.array([0.0, -0.0, 60000.0, -60000.0, np.inf, np.nan]).astype(dtype)
    return z


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("kind", KINDS)
def test_activation_forward_in_16_bits(kind, dtype):
    rng = np.random.default_rng(3)
    z, bias = inputs(rng, dtype), rng.standard_normal(23).astype(np.float32)
    want32 = np.empty(z.shape, np.float32)
    NumpyBackend().activation_forward(kind, z.astype(np.float32), bias, want32,
                                      alpha=ALPHA.get(kind, 0.0))
    spec = load_half_kernels()[f"{kind}_fwd_h"]
    got = np.empty_like(z)
    kernel_harness.run(spec, [z, bias, 23] + ([ALPHA[kind]] if kind in ALPHA else []) + [got])
    assert_close_in_16_bits(got, want32.astype(dtype), ULPS[kind], f"{kind}_fwd_h {dtype}")


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("kind", KINDS)
def test_activation_backward_in_16_bits(kind, dtype):
    rng = np.random.default_rng(4)
    y = inputs(rng, dtype)
    if kind == "sigmoid":
        y = (1 / (1 + np.exp(-y.astype(np.float32)))).astype(dtype)
    elif kind == "tanh":
        y = np.tanh(y.astype(np.float32)).astype(dtype)
    dy = inputs(rng, dtype)
    want32 = np.empty(y.shape, np.float32)
    NumpyBackend().activation_backward(kind, y.astype(np.float32), dy.astype(np.float32),
                                       want32, alpha=ALPHA.get(kind, 0.0))
    spec = load_half_kernels()[f"{kind}_bwd_h"]
    got = np.empty_like(y)
    ins = [dy] if kind == "linear" else [y, dy]
    kernel_harness.run(spec, ins + ([ALPHA[kind]] if kind in ALPHA else []) + [got])
    # the backward passes are products and sums of NumPy's order: bit for bit
    assert_close_in_16_bits(got, want32.astype(dtype), 0, f"{kind}_bwd_h {dtype}")


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_in_16_bits_draws_the_same_mask(dtype, rate):
    rng = np.random.default_rng(5)
    x = inputs(rng, dtype, n=31, k=29)
    want32 = np.empty(x.shape, np.float32)
    step = np.array([7], np.int64)
    NumpyBackend().dropout(x.astype(np.float32), 99, step, rate, want32)
    from gpudnn.backend.base import dropout_threshold

    got = np.empty_like(x)
    kernel_harness.run(load_half_kernels()["dropout_h"],
                       [x, step, 99, dropout_threshold(rate), 1.0 / (1.0 - rate), got])
    assert_close_in_16_bits(got, want32.astype(dtype), 0, f"dropout_h {dtype}")


#: the updates' fixed hyperparameters, by parameter name
SCALARS = {"rho": 0.9, "one_minus_rho": 0.1, "epsilon": 1e-7, "momentum": 0.5, "nesterov": 1,
           "one_minus_beta1": 0.1, "one_minus_beta2": 0.001, "beta2": 0.999}


def update_arguments(spec, rng, size):
    """In-params and out-params of an update kernel: random gradients, positive slots, weights
    of either sign, per-step values with weight decay on."""
    ins, outs = [], []
    for p in spec.inputs:
        if p.scalar:
            ins.append(SCALARS[p.name])
        elif p.raw:  # hyper: step size, decay, Nadam's factors
            ins.append(np.array([0.01, 1e-4, 1.3, 0.06, 1.0005], np.float32))
        else:
            ins.append(rng.standard_normal(size).astype(np.float32))
    for p in spec.outputs:
        value = rng.standard_normal(size).astype(np.float32)
        outs.append(value if p.name == "param" else np.abs(value))
    return ins, outs


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("name", MASTER_FORM_KERNELS)
def test_an_update_writes_its_16_bit_copy_in_the_same_launch(name, dtype):
    """The master form updates the float32 weights and slots exactly as the float32 kernel
    does, and its copy is the updated weight rounded to 16 bits."""
    plain = load_kernels()[name]
    ins, outs = update_arguments(plain, np.random.default_rng(6), 37)
    plain_outs = [o.copy() for o in outs]
    kernel_harness.run(plain, ins + plain_outs)
    copy = np.empty(37, dtype)
    kernel_harness.run(load_half_kernels()[f"{name}_h"], ins + outs + [copy])
    for a, b in zip(outs, plain_outs):
        np.testing.assert_array_equal(a, b)
    assert [p.name for p in plain.outputs][0] == "param"
    np.testing.assert_array_equal(copy.view(np.uint16), outs[0].astype(dtype).view(np.uint16))


def test_every_form_comes_from_its_kernel_and_rejects_what_it_cannot_take():
    forms = load_half_kernels()
    assert set(forms) == {f"{n}_h" for n in HALF_FORM_KERNELS + MASTER_FORM_KERNELS} | \
        {"to_half", "from_half"}
    relu = forms["relu_fwd_h"]
    assert [p.type for p in relu.inputs] == ["H", "float32", "int32"]
    assert "float x = z + bias[i % k];" in relu.body and "y_h = (H)y;" in relu.body
    with pytest.raises(ValueError, match="element-wise"):
        half_form(load_kernels()["softmax_fwd"])


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
def test_the_casts_round_to_nearest_even_and_widen_exactly(dtype):
    rng = np.random.default_rng(10)
    x = np.concatenate([rng.standard_normal(200).astype(np.float32) * 100,
                        np.array([0.0, -0.0, 1e-30, 70000.0, -np.inf, np.nan], np.float32)])
    half = np.empty(x.shape, dtype)
    kernel_harness.run(load_half_kernels()["to_half"], [x, half])
    assert_close_in_16_bits(half, x.astype(dtype), 0, f"to_half {dtype}")
    back = np.empty(x.shape, np.float32)
    kernel_harness.run(load_half_kernels()["from_half"], [half, back])
    np.testing.assert_array_equal(back, half.astype(np.float32))



@pytest.fixture(scope="module")
def gpu():
    """The CuPy backend with its launches run on the CPU (tests/kernel_harness)."""
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("kind", KINDS)
def test_the_cuda_backend_launches_the_16_bit_forms(gpu, kind, dtype):
    """The CuPy backend's own activation calls on 16-bit arrays (a float32 bias) launch the
    16-bit forms, and their results are the compiled CPU backend's (the same bodies)."""
    from gpudnn.backend.native_backend import CompiledCpuBackend
    from kernel_harness import LAUNCHES, host

    rng = np.random.default_rng(11)
    z, bias = inputs(rng, dtype), rng.standard_normal(23).astype(np.float32)
    alpha = ALPHA.get(kind, 0.0)
    want, got = np.empty_like(z), host(np.empty_like(z))
    cpu = CompiledCpuBackend()
    cpu.activation_forward(kind, z, bias, want, alpha=alpha)
    LAUNCHES.clear()
    gpu.activation_forward(kind, host(z), host(bias), got, alpha=alpha)
    assert LAUNCHES == [f"{kind}_fwd_h"]
    assert_close_in_16_bits(np.asarray(got), want, 0, f"{kind} forward {dtype}")
    dy = inputs(rng, dtype)
    want_dx, got_dx = np.empty_like(z), host(np.empty_like(z))
    cpu.activation_backward(kind, want, dy, want_dx, alpha=alpha)
    LAUNCHES.clear()
    gpu.activation_backward(kind, got, host(dy), got_dx, alpha=alpha)
    assert LAUNCHES == [f"{kind}_bwd_h"]
    assert_close_in_16_bits(np.asarray(got_dx), want_dx, 0, f"{kind} backward {dtype}")


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
def test_the_cuda_backend_casts_with_its_kernels(gpu, dtype):
    from kernel_harness import LAUNCHES, host

    x = np.random.default_rng(12).standard_normal((5, 7)).astype(np.float32)
    half, back = host(np.empty(x.shape, dtype)), host(np.empty(x.shape, np.float32))
    LAUNCHES.clear()
    gpu._cast_into(half, host(x))
    gpu._cast_into(back, half)
    assert LAUNCHES == ["to_half", "from_half"]
    np.testing.assert_array_equal(np.asarray(back), x.astype(dtype).astype(np.float32))
    with pytest.raises(gpudnn_errors.InvalidInputError, match="float32 and float16"):
        gpu._cast_into(host(np.empty(3, np.float64)), host(np.empty(3, dtype)))
