"""The optimizer options on a real GPU (skipped without one; bench/gpu_check.sh runs them): the
CuPy backend's ema_update and accumulate_gradients against NumPy, and a fit whose steps are
captured as CUDA graphs (both forms of an accumulating step, the EMA overwrite between them)
against the same fit run eagerly."""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.backend.kernel_source import load_kernels
from conftest import require_cuda
from test_gpu_backend import GUARD, _LaunchLog, _placed

pytestmark = [pytest.mark.gpu, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


@pytest.fixture(scope="module")
def gpu():
    return require_cuda()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,offset", [(407_050, 0), (407_050, 1), (4097, 0), (3, 0)])
def test_option_ops_match_numpy(gpu, monkeypatch, dtype, size, offset):
    """Six batches (accumulate, accumulate, average; twice) and the EMA after each: NumPy's
    bits (--fmad=false), the vector forms on aligned buffers, nothing written outside."""
    rng = np.random.default_rng(4)
    cpu = NumpyBackend()
    host = [rng.standard_normal(size).astype(dtype), np.zeros(size, dtype), np.zeros(size, dtype)]
    placed = [_placed(gpu, a, offset) for a in host]
    log = _LaunchLog(gpu._kernels)
    monkeypatch.setattr(gpu, "_kernels", log)
    for step in range(6):
        g = rng.standard_normal(size).astype(dtype)
        rate = np.array([0.0 if step == 0 else 0.9], dtype)
        dg = _placed(gpu, g, offset)[1]
        cpu.accumulate_gradients(g, host[2], 3, step % 3 == 2)
        gpu.accumulate_gradients(dg, placed[2][1], 3, step % 3 == 2)
        cpu.ema_update(host[0], host[1], rate)
        gpu.ema_update(placed[0][1], placed[1][1], gpu.from_host(rate))
    gpu.synchronize()
    for (buf, view), want in zip(placed, host):
        np.testing.assert_array_equal(gpu.to_host(view), want)
        whole = gpu.to_host(buf)
        assert np.isnan(whole[:GUARD + offset]).all() and \
            np.isnan(whole[GUARD + offset + size:]).all()
    kernels = load_kernels()
    names = {kernels[k].vector if offset == 0 else k
             for k in ("ema_update", "accumulate_gradients", "average_gradients")}
    assert set(log.names) == names and len(log.names) == 12


def _fit(monkeypatch, graphs):
    monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", "1" if graphs else "0")
    monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if graphs else "0")
    gpudnn.set_seed(5)
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((200, 32)), rng.standard_normal((200, 4))
    model = models.Sequential([layers.Dense(64, activation="tanh", input_shape=(32,), name="a"),
                               layers.Dense(64, activation="tanh", name="b"),
                               layers.Dense(4, name="c")], dtype="float64", device="cuda")
    model.layers[1].trainable = False
    optimizer = optimizers.AdamW(learning_rate=0.01, weight_decay=0.1, use_ema=True,
                                 ema_momentum=0.9, ema_overwrite_frequency=3,
                                 gradient_accumulation_steps=2, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)  # 6 + a batch of 8
    return model


def test_captured_steps_with_every_option_equal_eager_steps(gpu, monkeypatch):
    captured, eager = _fit(monkeypatch, True), _fit(monkeypatch, False)
    assert captured._steps.graphs >= 3, "the steps were not captured as CUDA graphs"
    assert captured.optimizer.iterations == eager.optimizer.iterations == 21
    for a, b in zip(captured.get_weights(), eager.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    for name, slot in captured.optimizer.slots.items():
        np.testing.assert_allclose(gpu.to_host(slot), gpu.to_host(eager.optimizer.slots[name]),
                                   rtol=1e-9, atol=1e-12)
