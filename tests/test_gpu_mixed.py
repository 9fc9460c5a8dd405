"""Mixed precision on a real GPU (skipped without one; bench/gpu_check.sh runs it): the 16-bit
kernels and GemmEx against the NumPy reference's rounding points, a mixed model's step on the
GPU (eager and captured) against the CPU's, and loss scaling's device-side skip.

bfloat16 needs ml_dtypes on the GPU machine (``pip install ml_dtypes``; the bfloat16 cases
skip, even under GPUDNN_REQUIRE_GPU, where it is missing: float16 needs nothing)."""

import importlib.util

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from conftest import require_cuda

pytestmark = pytest.mark.gpu


def half_dtypes():
    dtypes = [np.dtype(np.float16)]
    if importlib.util.find_spec("ml_dtypes") is not None:
        import ml_dtypes

        dtypes.append(np.dtype(ml_dtypes.bfloat16))
    return dtypes


HALVES = half_dtypes()


@pytest.fixture(scope="module")
def gpu():
    return require_cuda()


def on(gpu, array):
    return gpu.from_host(np.asarray(array)) if array.dtype.itemsize > 2 else \
        gpu.from_host(np.asarray(array).view(np.uint16)).view(array.dtype)


def back(gpu, array):
    return gpu.to_host(array)


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("kind", ["relu", "tanh", "sigmoid", "elu", "leaky_relu", "linear"])
def test_activations_in_16_bits_match_the_reference(gpu, kind, dtype):
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((64, 33)) * 3).astype(dtype)
    bias = rng.standard_normal(33).astype(np.float32)
    want = np.empty_like(z)
    NumpyBackend().activation_forward(kind, z, bias, want, alpha=0.2)
    out = gpu.empty(z.shape, dtype)
    gpu.activation_forward(kind, on(gpu, z), on(gpu, bias), out, alpha=0.2)
    got = back(gpu, out).astype(np.float64)
    gap = np.abs(want.astype(np.float64)) * float(np.finfo(dtype).eps) + 1e-6
    assert (np.abs(got - want.astype(np.float64)) <= gap).all(), kind


@pytest.mark.parametrize("dtype", HALVES, ids=lambda d: d.name)
@pytest.mark.parametrize("out_dtype", ["float32", "half"])
@pytest.mark.parametrize("layout", ["nn", "tn", "nt"])
def test_gemm_ex_multiplies_16_bit_values_in_float32(gpu, dtype, out_dtype, layout):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((96, 80) if layout != "tn" else (80, 96)).astype(dtype)
    b = rng.standard_normal((80, 48) if layout != "nt" else (48, 80)).astype(dtype)
    da, db = on(gpu, a), on(gpu, b)
    a64 = a.astype(np.float64).T if layout == "tn" else a.astype(np.float64)
    b64 = b.astype(np.float64).T if layout == "nt" else b.astype(np.float64)
    da = da.T if layout == "tn" else da
    db = db.T if layout == "nt" else db
    odt = np.dtype(np.float32) if out_dtype == "float32" else dtype
    out = gpu.empty((96, 48), odt)
    gpu.matmul(da, db, out)
    want = a64 @ b64
    got = back(gpu, out).astype(np.float64)
    tol = 1e-4 if out_dtype == "float32" else float(np.finfo(dtype).eps)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def mixed_model(device, policy, scale=None):
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(256, activation="relu", input_shape=(64,),
                                            dtype=policy),
                               layers.Dropout(0.1, dtype=policy),
                               layers.Dense(10, activation="softmax", dtype=policy)],
                              device=device)
    optimizer = optimizers.Adam(1e-3)
    if scale is not None:
        optimizer = optimizers.LossScaleOptimizer(optimizer, initial_scale=scale)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=1024):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, n)
    centers = rng.standard_normal((10, 64)) * 2
    x = (centers[labels] + rng.standard_normal((n, 64))).astype(np.float32)
    return x, np.eye(10, dtype=np.float32)[labels]


@pytest.mark.parametrize("graphs", ["1", "0"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_model_trains_on_the_gpu_as_on_the_cpu(gpu, monkeypatch, policy, graphs):
    if policy == "mixed_bfloat16" and len(HALVES) < 2:
        pytest.skip("ml_dtypes is not installed")
    monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", graphs)
    x, y = data()
    results = {}
    for device in ("cpu", "cuda"):
        model = mixed_model(device, policy)
        history = model.fit(x, y, epochs=3, batch_size=128, verbose=0)
        results[device] = (model.get_weights(), history.history["accuracy"][-1],
                           model.predict(x, verbose=0))
    assert results["cuda"][2].dtype == np.float32
    assert abs(results["cuda"][1] - results["cpu"][1]) < 0.02
    for a, b in zip(results["cuda"][0], results["cpu"][0]):
        assert np.abs(a - b).max() < 0.05 * max(1.0, np.abs(b).max())


def test_loss_scaling_skips_on_the_device_as_on_the_cpu(gpu):
    x, y = data(512)
    skipped = {}
    for device in ("cpu", "cuda"):
        model = mixed_model(device, "mixed_float16", scale=2.0 ** 40)
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        skipped[device] = (model.optimizer.skipped_steps, model.optimizer.dynamic_scale)
        assert all(np.isfinite(w).all() for w in model.get_weights())
    assert skipped["cuda"] == skipped["cpu"] and skipped["cuda"][0] > 10
