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


def mixed_model(device, policy, scale=None, optimizer=None):
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(256, activation="relu", input_shape=(64,),
                                            dtype=policy),
                               layers.Dense(10, activation="softmax", dtype=policy)],
                              device=device)
    optimizer = optimizer or optimizers.Adam(1e-3)
    if scale is not None:
        optimizer = optimizers.LossScaleOptimizer(optimizer, initial_scale=scale)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"],
                  auto_scale_loss=scale is not None)
    return model


def data(n=1024):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, n)
    centers = rng.standard_normal((10, 64)) * 2
    x = (centers[labels] + rng.standard_normal((n, 64))).astype(np.float32)
    return x, np.eye(10, dtype=np.float32)[labels]


@pytest.mark.parametrize("graphs", ["1", "0"])
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_a_mixed_step_on_the_gpu_moves_the_weights_as_on_the_cpu(gpu, monkeypatch, policy,
                                                                graphs):
    """Two SGD steps from the same weights on the same batches: the weights' changes agree
    with the CPU's within the 16-bit rounding (a wrong gradient would change them by far
    more), eager and captured."""
    if policy == "mixed_bfloat16" and len(HALVES) < 2:
        pytest.skip("ml_dtypes is not installed")
    monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", graphs)
    x, y = data(256)
    moves, losses = {}, {}
    for device in ("cpu", "cuda"):
        model = mixed_model(device, policy, optimizer=optimizers.SGD(0.5))
        start = model.get_weights()
        history = model.fit(x, y, epochs=1, batch_size=128, shuffle=False, verbose=0)
        moves[device] = [w - w0 for w, w0 in zip(model.get_weights(), start)]
        losses[device] = history.history["loss"][0]
        assert model.predict(x, verbose=0).dtype == np.float32
    tol = 0.02 if policy == "mixed_bfloat16" else 0.005
    assert abs(losses["cuda"] - losses["cpu"]) <= tol * abs(losses["cpu"])
    for got, want in zip(moves["cuda"], moves["cpu"]):
        assert np.abs(want).max() > 0
        assert np.linalg.norm(got - want) <= 4 * tol * np.linalg.norm(want)


def test_loss_scaling_skips_then_applies_on_the_device_as_on_the_cpu(gpu):
    """From 2^26 the first steps overflow float16 and are skipped, the later ones apply: the
    same count on both devices, and the same weights within float16 rounding."""
    x, y = data(512)
    found = {}
    for device in ("cpu", "cuda"):
        model = mixed_model(device, "mixed_float16", scale=2.0 ** 26)
        start = model.get_weights()
        model.fit(x, y, epochs=1, batch_size=32, shuffle=False, verbose=0)
        opt = model.optimizer
        assert 0 < opt.skipped_steps < opt.iterations
        weights = model.get_weights()
        assert any(not np.array_equal(w, w0) for w, w0 in zip(weights, start))
        found[device] = (opt.skipped_steps, opt.dynamic_scale, weights, start)
    assert found["cuda"][:2] == found["cpu"][:2]
    for got, want, w0 in zip(found["cuda"][2], found["cpu"][2], found["cpu"][3]):
        assert np.linalg.norm(got - want) <= 0.05 * np.linalg.norm(want - w0) + 1e-6
