"""The compiled CPU backend against the NumPy backend, op by op, and its selection and fallback.

Every op CompiledCpuBackend overrides runs on random inputs with edge values (0, -0, huge, tiny,
inf, NaN), in float32 and float64, at sizes below the OpenMP threshold (serial loop) and above it
(both threads, odd sizes so the chunks are uneven), and with a build without OpenMP. The updates
and piecewise-linear ops must match NumPy to the bit; tanh, sigmoid, elu and softmax call the C
library's transcendental functions and may differ by a few ulp.
"""

import gc
import os
import stat
import warnings

import numpy as np
import pytest

import gpudnn
import gpudnn.backend as backend_module
import kernel_harness
from gpudnn import layers, models, optimizers
from gpudnn.backend import (ACTIVATION_KINDS, NumpyBackend, backend_for, host_kernels,
                            native_routing)
from gpudnn.backend.native_backend import CompiledCpuBackend
from kernel_harness.loss_cases import loss_cases
from kernel_harness.ulp import assert_backward_matches, assert_loss_grad_matches, assert_ulp
from kernel_harness.updates import UPDATES, with_ema

from conftest import TEST_PARALLEL_MIN

# NumPy on inf and NaN; and a compiled-backend test that NumPy passed in its place would prove
# nothing: kernels_only fails it
pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.usefixtures("kernels_only")]

DTYPES = (np.float32, np.float64)
EDGES = [0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e30, -1e30, 88.0, -88.0, np.inf, -np.inf, np.nan]
#: ulp allowed: 0 where the kernel does NumPy's arithmetic; glibc's tanh/expm1 against NumPy's
#: own; softmax sums a row in order where NumPy sums pairwise, an error growing with k (4 + k/4).
FORWARD_ULP = {"linear": 0, "relu": 0, "leaky_relu": 0, "elu": 4, "selu": 4, "softplus": 4, "tanh": 4,
               "softsign": 0, "hard_sigmoid": 0, "relu6": 0, "exponential": 4, "silu": 4,
               "gelu": 4}
#: (rows, columns): 117 elements run serially; 520 x 257 = 133,640 >= TEST_PARALLEL_MIN on both
#: threads (the tests build with a lower threshold than the default, to keep the arrays small).
SHAPES = {"small": (9, 13), "large": (520, 257)}


@pytest.fixture(scope="module")
def reference():
    return NumpyBackend()


def batch(rng, dtype, shape, scale=3.0, edges=EDGES):
    """Random normals with the edge values along the last row."""
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    x[-1, : len(edges)] = np.array(edges[: shape[1]], dtype=dtype)
    return x


def test_large_shapes_take_the_parallel_branch():
    rows, cols = SHAPES["large"]
    assert rows * cols >= TEST_PARALLEL_MIN > np.prod(SHAPES["small"])


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("in_place", [False, True])
def test_activation_forward(compiled, reference, kind, dtype, with_bias, in_place, size):
    rng = np.random.default_rng(1)
    z = batch(rng, dtype, SHAPES[size])
    bias = rng.standard_normal(z.shape[1]).astype(dtype) if with_bias else None
    expected = np.empty_like(z)
    reference.activation_forward(kind, z, bias, expected, alpha=0.3)
    got = z.copy()
    out = got if in_place else np.empty_like(z)
    compiled.activation_forward(kind, got, bias, out, alpha=0.3)
    if kind in native_routing.LIBM_FORWARD:  # NumPy's by design (its SIMD tanh / exp)
        np.testing.assert_array_equal(out, expected)
        return
    if kind == "softplus":  # e^x for x << 0: subnormal in NumPy, flushed to 0 by the kernels
        expected = np.where(np.abs(expected) < np.finfo(dtype).tiny, 0, expected).astype(dtype)
    if kind == "sigmoid":  # 0.5 tanh(x/2) + 0.5 cancels for x << 0: absolute error
        np.testing.assert_allclose(out, expected, rtol=0, atol=4 * np.finfo(dtype).eps)
        assert np.array_equal(np.isnan(out), np.isnan(expected))
    else:
        ulp = 4 + z.shape[1] // 4 if kind == "softmax" else FORWARD_ULP[kind]
        assert_ulp(out, expected, ulp, f"{kind} forward {np.dtype(dtype)}")


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
@pytest.mark.parametrize("in_place", [False, True])
def test_activation_backward(compiled, reference, kind, dtype, in_place, size):
    rng = np.random.default_rng(2)
    y = np.empty(SHAPES[size], dtype)
    reference.activation_forward(kind, batch(rng, dtype, y.shape, edges=EDGES[:-3]), None, y,
                                 alpha=0.3)
    y[0, :3] = [np.nan, np.inf, 0.0]
    y[np.abs(y) < np.finfo(dtype).tiny] = 0  # softplus(-88): the kernels read subnormals as 0
    dy = batch(rng, dtype, y.shape)
    expected = np.empty_like(dy)
    reference.activation_backward(kind, y, dy, expected, alpha=0.3)
    got = dy.copy()
    out = got if in_place else np.empty_like(dy)
    compiled.activation_backward(kind, y, got, out, alpha=0.3)
    if kind in native_routing.LIBM_BACKWARD:  # NumPy's by design
        np.testing.assert_array_equal(out, expected)
        return
    assert_backward_matches(kind, out, expected, y, dy)


def probabilities(rng, dtype, shape):
    """Predictions in (0, 1) with values on and beyond the clip bounds, and a NaN."""
    p = rng.uniform(0, 1, shape).astype(dtype)
    p[-1, :9] = [0.0, 1.0, 1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.5, 2e-7, np.nan]
    return p


#: (kind, parameter): every loss kind, and the cross-entropies and Huber with a second value.
LOSS_CASES = loss_cases()


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_loss_grad(compiled, reference, kind, smoothing, dtype, size):
    rng = np.random.default_rng(3)
    if kind.endswith("_logits"):
        p = batch(rng, dtype, SHAPES[size])
    else:
        p = probabilities(rng, dtype, SHAPES[size])
    if kind.startswith("cce"):
        y = np.eye(p.shape[1], dtype=dtype)[rng.integers(0, p.shape[1], p.shape[0])]
    else:
        y = rng.integers(0, 2, p.shape).astype(dtype)
    expected, out = np.empty_like(p), np.empty_like(p)
    reference.loss_grad(kind, p, y, expected, smoothing)
    compiled.loss_grad(kind, p, y, out, smoothing)
    assert_loss_grad_matches(kind, out, expected)


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["bce", "cce"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_logit_grad(compiled, reference, kind, smoothing, dtype, size):
    rng = np.random.default_rng(5)
    p, y = batch(rng, dtype, SHAPES[size]), batch(rng, dtype, SHAPES[size])
    expected, out = np.empty_like(p), np.empty_like(p)
    reference.logit_grad(kind, p, y, expected, smoothing)
    compiled.logit_grad(kind, p, y, out, smoothing)
    assert_ulp(out, expected, 0, "logit_grad")


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_penalty_grad(compiled, reference, dtype, size):
    rng = np.random.default_rng(12)
    w = batch(rng, dtype, SHAPES[size], edges=[0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, np.nan])
    g = batch(rng, dtype, SHAPES[size])
    expected, got = g.copy(), g.copy()
    reference.add_penalty_grad(w, expected, 0.02, 0.5)
    compiled.add_penalty_grad(w, got, 0.02, 0.5)
    assert_ulp(got, expected, 0, "penalty gradient")


@pytest.mark.parametrize("size", [1000, 140_001])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UPDATES))
@pytest.mark.parametrize("ema", [False, True])
def test_update_matches_numpy_bit_for_bit(compiled, reference, name, dtype, size, ema):
    """Each update, and with ``ema=`` its EMA form (one compiled call) against NumPy's update
    followed by its ema_update; the EMA momentum 0 on the first step, then 0.9, as Keras's."""
    slots, values, step = UPDATES[name]
    hyper, rate = np.array(values, dtype), np.zeros(1, dtype)
    if ema:
        slots, step = slots + 1, with_ema(step, rate)
    rng = np.random.default_rng(6)
    param = rng.standard_normal(size).astype(dtype)
    param[:4] = [0.0, 1e30, -1e-30, np.nan]
    param[-3:] = [-0.0, 1e-30, -1e30]  # the last chunk's tail
    want = [param.copy()] + [np.zeros(size, dtype) for _ in range(slots)]
    got = [a.copy() for a in want]
    compiled._sites.clear()
    for k in range(5):
        rate[0] = 0.0 if k == 0 else 0.9
        g = rng.standard_normal(size).astype(dtype)
        g[4:7] = [0.0, 1e-20, np.nan]
        step(reference, want[0], g, want[1:], hyper)
        step(compiled, got[0], g, got[1:], hyper)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_ulp(a, b, 0, f"{name} buffer {i}")
    assert np.isnan(got[0][3]) and np.isnan(got[0][6])
    kernels = {key[0] for key in compiled._sites}  # the compiled calls bound (none fell back)
    assert len(kernels) == 1 and next(iter(kernels)).endswith("_ema") == ema, kernels
    if ema:
        # the average lags the weights (equal_nan: the NaN planted at [3] is in both)
        assert not np.array_equal(got[-1], got[0], equal_nan=True)


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_place", [False, True])
def test_dropout_matches_numpy_bit_for_bit(compiled, reference, dtype, in_place, size):
    rng = np.random.default_rng(13)
    x = batch(rng, dtype, SHAPES[size])
    step = np.array([7], np.int64)
    expected = np.empty_like(x)
    reference.dropout(x, 99, step, 0.25, expected)
    got = x.copy()
    out = got if in_place else np.empty_like(x)
    compiled.dropout(got, 99, step, 0.25, out)
    assert_ulp(out, expected, 0, "dropout")
    step[0] = 8  # the kernel reads the step from memory: a new step, a new mask
    compiled.dropout(x, 99, step, 0.25, out)
    reference.dropout(x, 99, step, 0.25, expected)
    assert_ulp(out, expected, 0, "dropout at the next step")


def test_model_views_of_flat_buffers_update_in_place(compiled, reference):
    """The shapes a model hands over: params a flat buffer, biases 1-d views of it."""
    rng = np.random.default_rng(8)
    flat = rng.standard_normal(40 * 7 + 7).astype(np.float32)
    z = rng.standard_normal((5, 7)).astype(np.float32)
    bias = flat[280:]
    want, got = np.empty_like(z), np.empty_like(z)
    reference.activation_forward("relu", z, bias, want)
    compiled.activation_forward("relu", z, bias, got)
    assert_ulp(got, want, 0, "relu with a bias view")


def test_arrays_the_kernels_cannot_take_are_done_by_numpy(compiled, reference, kernels_only):
    kernels_only.allowed |= {("fwd", "tanh"), ("fwd", "relu"), ("fwd", "swish")}
    rng = np.random.default_rng(9)
    z = rng.standard_normal((8, 6)).astype(np.float32)
    strided = np.asfortranarray(z)  # not C-contiguous
    for args in [(strided, None), (z.astype(np.float16), None), (z, np.zeros(6, np.float64))]:
        want, got = np.empty_like(args[0]), np.empty_like(args[0])
        reference.activation_forward("tanh", args[0], args[1], want)
        compiled.activation_forward("tanh", args[0], args[1], got)
        np.testing.assert_array_equal(got, want)
    # out overlapping z by one row: NumPy's buffered semantics, not a kernel's
    buf = rng.standard_normal((9, 6)).astype(np.float32)
    want_buf, got_buf = buf.copy(), buf.copy()
    reference.activation_forward("relu", want_buf[:8], None, want_buf[1:])
    compiled.activation_forward("relu", got_buf[:8], None, got_buf[1:])
    np.testing.assert_array_equal(got_buf, want_buf)
    with pytest.raises(ValueError, match="unknown activation"):
        compiled.activation_forward("swish", z, None, np.empty_like(z))


def test_a_new_array_at_a_recycled_id_is_not_served_a_stale_pointer(compiled, reference):
    """The call-site cache is keyed by ids; arrays freed and reallocated reuse ids."""
    rng = np.random.default_rng(10)
    ids = set()
    for _ in range(50):
        param, grad = rng.standard_normal(300).astype(np.float32), np.ones(300, np.float32)
        ids.add(id(param))
        want = param.copy()
        hyper = np.array([0.5, 0.0], np.float32)
        reference.sgd_update(want, grad, hyper)
        compiled.sgd_update(param, grad, hyper)
        np.testing.assert_array_equal(param, want)
        del param, grad
        gc.collect()
    assert len(ids) < 50  # ids were indeed recycled, so the cache was exercised on them


def _course_model(backend, monkeypatch, activation, loss, optimizer):
    monkeypatch.setattr(models.sequential, "current_backend", lambda device=None: backend)
    gpudnn.set_seed(7)
    model = models.Sequential([layers.Dense(512, activation=activation, input_shape=(784,)),
                               layers.Dense(10, activation="softmax" if loss.startswith("cat")
                                            else "sigmoid")])
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    return model


@pytest.mark.parametrize("activation, loss, make_optimizer", [
    ("relu", "categorical_crossentropy", lambda: optimizers.Adam(1e-3)),
    ("tanh", "binary_crossentropy", lambda: optimizers.RMSprop(1e-3, momentum=0.5)),
    ("elu", "mse", lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True)),
])
def test_training_matches_the_numpy_backend(compiled, reference, monkeypatch, activation, loss,
                                            make_optimizer):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 1, (384, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 384)]
    histories = []
    for backend in (reference, compiled):
        model = _course_model(backend, monkeypatch, activation, loss, make_optimizer())
        histories.append(model.fit(x, y, batch_size=128, epochs=3, verbose=0, shuffle=False)
                         .history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-5)
    assert histories[0][-1] < histories[0][0]


# ------------------------------------------------------------------ selection and fallback
@pytest.fixture
def fresh_selection(monkeypatch, tmp_path):
    """backend_for("cpu") decides anew: empty backend and library caches, a private disk cache."""
    monkeypatch.setattr(backend_module, "_backends", {})
    monkeypatch.setattr(host_kernels, "_loaded", {})
    monkeypatch.setenv("GPUDNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("GPUDNN_CPU_KERNELS", raising=False)
    return tmp_path


def test_cpu_is_the_compiled_backend_built_in_the_cache_dir(fresh_selection):
    kernel_harness.require("g++", kernel_harness.have_gxx())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend = backend_for("cpu")
    assert isinstance(backend, CompiledCpuBackend) and backend.name == "cpu"
    built = sorted(p.name for p in (fresh_selection / "cache" / "host-kernels").iterdir())
    assert len(built) == 1 and built[0].startswith("gpudnn-float32-omp-"), built


def test_kernels_off_gives_numpy_without_a_warning(fresh_selection, monkeypatch):
    monkeypatch.setenv("GPUDNN_CPU_KERNELS", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        backend = backend_for("cpu")
    assert type(backend) is NumpyBackend and backend.name == "cpu"
    assert not (fresh_selection / "cache").exists()


def test_missing_compiler_warns_once_and_gives_numpy(fresh_selection, monkeypatch):
    monkeypatch.setenv("PATH", str(fresh_selection))  # an empty folder: no g++
    with pytest.warns(RuntimeWarning, match=r"(?s)compiled CPU kernels are unavailable.*g\+\+") \
            as record:
        first = backend_for("cpu")
        second = backend_for("cpu")
    assert type(first) is NumpyBackend and second is first
    assert len([w for w in record if "compiled CPU kernels" in str(w.message)]) == 1


def test_a_compiler_error_is_in_the_warning(fresh_selection, monkeypatch):
    fake = fresh_selection / "fake-cxx"
    fake.write_text('#!/bin/sh\nif [ "$1" = --version ]; then echo "fake 1.0"; exit 0; fi\n'
                    'echo "kernels.cpp:1: error: no such luck" >&2\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("GPUDNN_CXX", str(fake))
    with pytest.warns(RuntimeWarning, match="no such luck"):
        backend = backend_for("cpu")
    assert type(backend) is NumpyBackend
    leftovers = list((fresh_selection / "cache" / "host-kernels").iterdir())
    assert leftovers == []  # the failed build's temporary folder is gone


def test_the_cache_key_covers_the_flags(fresh_selection):
    kernel_harness.require("g++", kernel_harness.have_gxx())
    a = host_kernels.build(np.float32, openmp=True)
    b = host_kernels.build(np.float32, openmp=False)
    assert a != b and a.exists() and b.exists()
    assert host_kernels.build(np.float32, openmp=True) == a  # cached: same file, no rebuild
    assert "#pragma omp" in host_kernels.translation_unit(np.float32, openmp=True)
    assert "#pragma omp" not in host_kernels.translation_unit(np.float32, openmp=False)
    assert os.path.getmtime(a) <= os.path.getmtime(b)


def test_libgomp_loads_with_a_passive_wait_policy_and_the_environment_is_restored(monkeypatch):
    seen = []
    monkeypatch.setattr(host_kernels.ctypes, "CDLL",
                        lambda path: seen.append(os.environ.get("OMP_WAIT_POLICY")) or path)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    host_kernels._open("lib.so", openmp=True)
    host_kernels._open("lib.so", openmp=False)
    assert seen == ["passive", None] and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "active")  # the user's choice is kept
    host_kernels._open("lib.so", openmp=True)
    assert seen[-1] == "active" and os.environ["OMP_WAIT_POLICY"] == "active"


def test_a_call_site_dies_with_the_zero_bias_it_reads(compiled):
    """An activation without a bias reads a cached zero vector: when the scratch cache evicts
    and frees it, the call site that holds its address must go too (it read freed memory)."""
    from gpudnn.backend.base import MAX_SCRATCH

    z = np.random.default_rng(0).standard_normal((4, 512)).astype(np.float32)
    out = np.empty_like(z)
    compiled.activation_forward("relu", z, None, out)
    for j in range(MAX_SCRATCH + 1):  # evicts the zero vector, the oldest
        compiled._scratch((3,), np.float32, slot=("evict", j))
    reuse = [np.full(512, 1e6, np.float32) for _ in range(64)]  # noqa: F841 (takes the memory)
    compiled.activation_forward("relu", z, None, out)
    np.testing.assert_array_equal(out, np.maximum(z, 0))


def test_a_cast_of_a_transposed_square_matrix_is_not_the_matrix(compiled, kernels_only):
    """W and W.T share their memory and shape; the cast site tells them apart by strides (W.T,
    not C-contiguous, is NumPy's)."""
    kernels_only.allowed.add(("cast",))
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    dst = np.empty((4, 4), np.float16)
    compiled.copy_into(dst, w)
    np.testing.assert_array_equal(dst, w.astype(np.float16))
    compiled.copy_into(dst, w.T)
    np.testing.assert_array_equal(dst, w.T.astype(np.float16))
