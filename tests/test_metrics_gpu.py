"""The compiled metrics on a real GPU (skipped without one; bench/gpu_check.sh runs it).

- every metric op of the CuPy backend (kernels/metrics.cu, compiled by NVRTC, double atomics)
  against the NumPy reference on the same batch: counts equal, weighted sums to rounding (the
  atomics add in any order);
- a fit whose step is captured as a CUDA graph logs what the eager (uncaptured) fit logs, and
  evaluate on the GPU logs what the standalone metrics give on its predictions.
"""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, metrics, models
from gpudnn.backend import NumpyBackend

from test_metrics_ops import batch
from conftest import require_cuda

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu():
    return require_cuda()


OPS = {
    "matches": ((), lambda be, p, y, a, w: be.accumulate_matches(p, y, a, 0.5, weights=w)),
    "equal": ((), lambda be, p, y, a, w: be.accumulate_matches(p, y, a, None, weights=w)),
    "top_k": ((), lambda be, p, y, a, w: be.accumulate_top_k(p, y, 2, a, weights=w)),
    "confusion": ((4, 3), lambda be, p, y, a, w: be.accumulate_confusion(
        p, y, (0.25, 0.5, 0.9), a, weights=w, top_k=3)),
    "class_id": ((4, 1), lambda be, p, y, a, w: be.accumulate_confusion(
        p, y, (0.5,), a, weights=w, class_id=2)),
    "buckets": ((2, 1, 201), lambda be, p, y, a, w: be.accumulate_buckets(p, y, a, weights=w)),
    "multi_label": ((2, 5, 201), lambda be, p, y, a, w: be.accumulate_buckets(
        p, y, a, weights=w, multi_label=True)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("op", OPS)
def test_metric_ops_equal_numpy(gpu, op, weighted, dtype):
    import cupy

    shape, run = OPS[op]
    p, y, w = batch(dtype, n=3000)
    expected = np.zeros(shape)
    run(NumpyBackend(), p, y, expected, w if weighted else None)
    got = cupy.zeros(shape, np.float64)
    run(gpu, cupy.asarray(p), cupy.asarray(y), got, cupy.asarray(w) if weighted else None)
    if weighted:  # double atomics add in any order
        np.testing.assert_allclose(cupy.asnumpy(got), expected, rtol=1e-9, atol=1e-9)
    else:
        np.testing.assert_array_equal(cupy.asnumpy(got), expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("squared", [False, True])
def test_error_sums_equal_numpy(gpu, squared, dtype):
    import cupy

    p, y, w = batch(dtype, n=3000)
    p = np.nan_to_num(p, nan=0.1, posinf=3.0, neginf=-2.0)
    for weights in (None, w):
        got = cupy.zeros((), np.float64)
        gpu.accumulate_errors(cupy.asarray(p), cupy.asarray(y), squared, got,
                              weights=None if weights is None else cupy.asarray(weights))
        expected = np.zeros(())
        NumpyBackend().accumulate_errors(p, y, squared, expected, weights=weights)
        assert float(got) == pytest.approx(float(expected), rel=1e-9)


def _fit(monkeypatch, graphs):
    monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", "1" if graphs else "0")
    monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1")
    rng = np.random.default_rng(0)
    y = (rng.random(2048) < 0.15).astype(np.float32)
    x = rng.standard_normal((2048, 12)).astype(np.float32)
    x[:, 0] += 1.2 * y
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(12,)),
                               layers.Dense(1, activation="sigmoid")], device="cuda")
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["accuracy", "precision", "recall", "auc",
                           metrics.AUC(curve="PR", name="pr_auc"), "mse"],
                  weighted_metrics=["auc"])
    history = model.fit(x, y, epochs=3, batch_size=128, verbose=0,
                        sample_weight=np.where(y == 1, 3.0, 1.0), validation_split=0.25)
    return model, history.history, x, y


def test_a_captured_fit_logs_the_eager_values(gpu, monkeypatch):
    captured, h1, x, y = _fit(monkeypatch, True)
    eager, h2, _, _ = _fit(monkeypatch, False)
    assert captured._steps.graphs > 0 and eager._steps.graphs == 0
    assert h1.keys() == h2.keys()
    for name in h1:  # the same kernels; float atomics may add in another order
        np.testing.assert_allclose(h1[name], h2[name], rtol=1e-5, err_msg=name)
    p = captured.predict(x, batch_size=256, verbose=0)
    logs = dict(zip(["loss"] + captured.metric_names,
                    captured.evaluate(x, y, batch_size=256, verbose=0)))
    for name, metric in (("precision", metrics.Precision()), ("recall", metrics.Recall()),
                         ("auc", metrics.AUC()), ("pr_auc", metrics.AUC(curve="PR")),
                         ("mse", metrics.MeanSquaredError())):
        assert logs[name] == pytest.approx(metric(y, p), rel=1e-9), name
