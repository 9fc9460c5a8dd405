"""The captured training step on a real GPU (skipped without one; bench/gpu_check.sh runs it).

- gpudnn's own cuBLAS GEMM (the one used inside a capture) equals cupy.matmul for every operand
  layout the step uses (plain, x^T, W^T);
- 200 steps replayed as a CUDA graph equal 200 eager steps from the same state to a few ulp
  (losses and weights), with the optimizer's bias correction and learning rate changing every
  step and a dropout mask drawn anew each step;
- one epoch of the course model reaches the same accuracy either way.
"""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.utils import to_categorical
from conftest import require_cuda

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def gpu():
    return require_cuda()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["a@b", "a.T@b", "a@b.T"])
def test_own_cublas_gemm_equals_cupy_matmul(gpu, dtype, layout):
    import cupy

    from gpudnn.backend.cublas_ctypes import CublasHandle

    rng = np.random.default_rng(0)
    m, k, n = 37, 53, 29
    a_shape = (k, m) if layout == "a.T@b" else (m, k)
    b_shape = (n, k) if layout == "a@b.T" else (k, n)
    a = cupy.asarray(rng.standard_normal(a_shape).astype(dtype))
    b = cupy.asarray(rng.standard_normal(b_shape).astype(dtype))
    a_op = a.T if layout == "a.T@b" else a
    b_op = b.T if layout == "a@b.T" else b
    want = cupy.matmul(a_op, b_op)
    got = cupy.empty((m, n), dtype)
    stream = cupy.cuda.get_current_stream()
    CublasHandle(stream).gemm(a_op, b_op, got)
    stream.synchronize()
    np.testing.assert_allclose(cupy.asnumpy(got), cupy.asnumpy(want),
                               rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def _train(monkeypatch, graphs, steps=200, dropout=True):
    monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", "1" if graphs else "0")
    monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1")
    gpudnn.set_seed(11)
    rng = np.random.default_rng(2)
    n = 128 * steps
    x = rng.standard_normal((n, 64)).astype(np.float32)
    y = to_categorical((x[:, :3].sum(1) > 0).astype(int) + (x[:, 3] > 1), 3)
    stack = [layers.Dense(128, activation="relu", input_shape=(64,))]
    stack += [layers.Dropout(0.2)] if dropout else []
    stack += [layers.Dense(3, activation="softmax")]
    model = models.Sequential(stack, device="cuda")
    model.compile(optimizer=optimizers.Adam(learning_rate=optimizers.schedules.ExponentialDecay(
        1e-3, decay_steps=50, decay_rate=0.5)), loss="categorical_crossentropy",
        metrics=["accuracy"])
    history = model.fit(x, y, batch_size=128, epochs=1, shuffle=True, verbose=0)
    return model, history


def test_200_captured_steps_equal_200_eager_steps(gpu, monkeypatch):
    captured, h1 = _train(monkeypatch, True)
    eager, h2 = _train(monkeypatch, False)
    assert captured._steps.graphs == 1, "the step was not captured as a CUDA graph"
    assert captured._steps.replays == 198  # step 1 records, step 2 warms the capture
    for a, b in zip(captured.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert h1.history["loss"][0] == pytest.approx(h2.history["loss"][0], rel=1e-5)
    assert h1.history["accuracy"][0] == pytest.approx(h2.history["accuracy"][0], abs=2 / 25600)


def test_course_model_epoch_reaches_the_same_accuracy_captured(gpu, monkeypatch):
    from gpudnn.datasets import sample

    (x, labels), (xt, lt) = sample.load_data()
    x = x.reshape(len(x), -1).astype("float32") / 255
    xt = xt.reshape(len(xt), -1).astype("float32") / 255
    accuracy = {}
    for graphs in (True, False):
        monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", "1" if graphs else "0")
        gpudnn.set_seed(0)
        model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")], device="cuda")
        model.compile(optimizer=optimizers.Adam(1e-3), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, to_categorical(labels, 10), epochs=1, batch_size=128, verbose=0)
        accuracy[graphs] = model.evaluate(xt, to_categorical(lt, 10), verbose=0)[1]
    assert abs(accuracy[True] - accuracy[False]) <= 0.005
