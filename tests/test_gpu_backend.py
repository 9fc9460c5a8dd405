"""The CuPy backend against the NumPy backend, op by op, on a real GPU (skipped without one).

Elementwise kernels keep NumPy's order of operations and are compiled without FMA contraction,
so loss gradients and optimizer updates agree to an ulp or so; transcendental functions
(tanh, exp, expm1, log) and reductions in another order are held to float32 rounding. Inputs
avoid float32 subnormals: CuPy compiles with flush-to-zero.
"""


import numpy as np
import pytest

import gpudnn
from gpudnn.backend import ACTIVATION_KINDS, NumpyBackend
from kernel_harness.loss_cases import loss_cases
from kernel_harness.ulp import TRANSCENDENTAL_LOSS_GRADS, assert_loss_grad_matches, assert_ulp
from kernel_harness.updates import UPDATES
from conftest import require_cuda

pytestmark = [pytest.mark.gpu, pytest.mark.filterwarnings("ignore::RuntimeWarning")]
F32 = np.float32


@pytest.fixture(scope="module")
def gpu():
    return require_cuda()


@pytest.fixture(scope="module")
def cpu():
    return NumpyBackend()


def rand(rng, shape, dtype=F32, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def run_both(gpu, cpu, op, *host_args, out_shape=None, dtype=F32, **kwargs):
    """Call ``op`` on both backends (device copies of the array args); the two outputs."""
    dev_args = [gpu.from_host(a) if isinstance(a, np.ndarray) else a for a in host_args]
    if out_shape is None:
        return getattr(cpu, op)(*host_args, **kwargs), gpu.to_host(getattr(gpu, op)(*dev_args,
                                                                                    **kwargs))
    want, got = np.empty(out_shape, dtype), gpu.empty(out_shape, dtype)
    getattr(cpu, op)(*host_args, want, **kwargs)
    getattr(gpu, op)(*dev_args, got, **kwargs)
    return want, gpu.to_host(got)


def test_identity(gpu):
    assert gpu.is_gpu and gpu.name == "cuda:0"


def test_transfers_and_fill(gpu):
    host = np.arange(12, dtype=np.float64).reshape(3, 4)
    dev = gpu.from_host(host, dtype=F32)
    assert dev.dtype == F32 and dev.flags.c_contiguous
    np.testing.assert_array_equal(gpu.to_host(dev), host.astype(F32))
    gpu.copy_into(dev, np.ones((3, 4), F32))
    np.testing.assert_array_equal(gpu.to_host(dev), 1)
    other = gpu.zeros((3, 4), F32)
    gpu.copy_into(other, dev)
    gpu.fill(dev, 2.5)
    np.testing.assert_array_equal(gpu.to_host(other), 1)
    np.testing.assert_array_equal(gpu.to_host(dev), 2.5)
    assert gpu.empty((2, 5), np.float64).shape == (2, 5)
    gpu.synchronize()


@pytest.mark.parametrize("transpose", ["none", "a", "b"])
def test_matmul(gpu, cpu, transpose):
    rng = np.random.default_rng(0)
    a, b = rand(rng, (128, 784)), rand(rng, (784, 512))
    if transpose == "a":
        a = np.ascontiguousarray(a.T)
    if transpose == "b":
        b = np.ascontiguousarray(b.T)
    da, db = gpu.from_host(a), gpu.from_host(b)
    ha, hb = (a.T, b) if transpose == "a" else (a, b.T) if transpose == "b" else (a, b)
    va, vb = (da.T, db) if transpose == "a" else (da, db.T) if transpose == "b" else (da, db)
    want = np.empty((ha.shape[0], hb.shape[1]), F32)
    cpu.matmul(ha, hb, want)
    got = gpu.empty(want.shape, F32)
    gpu.matmul(va, vb, got)
    np.testing.assert_allclose(gpu.to_host(got), want, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("shape, dtype", [((300, 17), F32), ((1, 3), F32), ((8192, 512), F32),
                                          ((129, 10), np.float64)])
def test_sum_rows(gpu, cpu, shape, dtype):
    """The bias gradient: a cuBLAS gemv with ones (eager on CuPy's stream, and on the capture
    handle), against NumPy's sum; a transposed view takes CuPy's sum."""
    import cupy

    from gpudnn.backend.cublas_ctypes import CublasHandle

    rng = np.random.default_rng(1)
    a = (rng.standard_normal(shape)).astype(dtype)
    want = a.astype(np.float64).sum(axis=0)
    tol = dict(rtol=1e-5, atol=1e-6 * shape[0]) if dtype == F32 else dict(rtol=1e-12, atol=1e-12)
    got = gpu.empty(shape[1:], dtype)
    gpu.sum_rows(gpu.from_host(a), got)
    np.testing.assert_allclose(gpu.to_host(got), want, **tol)
    handle = CublasHandle(cupy.cuda.get_current_stream())
    got2 = cupy.empty(shape[1:], dtype)
    handle.sum_rows(gpu.from_host(a), cupy.ones(shape[0], dtype), got2)
    np.testing.assert_allclose(gpu.to_host(got2), want, **tol)
    at = gpu.from_host(np.ascontiguousarray(a.T)).T  # F-contiguous: not a gemv operand
    got3 = gpu.empty(shape[1:], dtype)
    gpu.sum_rows(at, got3)
    np.testing.assert_allclose(gpu.to_host(got3), want, **tol)


@pytest.mark.parametrize("shape, dtype", [((300, 17), F32), ((300, 4, 7), F32), ((300,), np.int64),
                                          ((300, 3), np.float64)])
def test_take_rows_at_gathers_the_batch_at_the_device_position(gpu, cpu, shape, dtype):
    rng = np.random.default_rng(1)
    src = (rng.random(shape) * 100).astype(dtype)
    order = rng.permutation(300).astype(np.int64)
    src_dev, order_dev = gpu.from_host(src), gpu.from_host(order)
    for start, n in ((0, 64), (128, 64), (256, 44)):
        want = np.empty((n,) + shape[1:], dtype)
        cpu.take_rows_at(src, order, np.array([start], np.int64), want)
        np.testing.assert_array_equal(want, src[order[start:start + n]])
        got = gpu.empty((n,) + shape[1:], dtype)
        gpu.take_rows_at(src_dev, order_dev, gpu.from_host(np.array([start], np.int64)), got)
        np.testing.assert_array_equal(gpu.to_host(got), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
def test_activations(gpu, cpu, kind, dtype):
    rng = np.random.default_rng(2)
    z, bias = rand(rng, (128, 10 if kind == "softmax" else 300), dtype, 3), rand(rng, (300,), dtype)
    bias = bias[: z.shape[1]]
    for b in (bias, None):
        want, got = run_both(gpu, cpu, "activation_forward", kind, z, b, out_shape=z.shape,
                             dtype=dtype, alpha=0.2)
        np.testing.assert_allclose(got, want, rtol=16 * np.finfo(dtype).eps,
                                   atol=8 * np.finfo(dtype).eps)
    dy = rand(rng, z.shape, dtype)
    want, got = run_both(gpu, cpu, "activation_backward", kind, want, dy, out_shape=z.shape,
                         dtype=dtype, alpha=0.2)
    np.testing.assert_allclose(got, want, rtol=16 * np.finfo(dtype).eps,
                               atol=32 * np.finfo(dtype).eps)


@pytest.mark.parametrize("kind,smoothing", loss_cases())
def test_losses(gpu, cpu, kind, smoothing):
    rng = np.random.default_rng(3)
    if kind.endswith("_logits"):
        p = rand(rng, (128, 10), scale=3)
    else:
        p = rng.uniform(0, 1, (128, 10)).astype(F32)
        p[0, :4] = [0, 1, 1e-9, 0.5]
    y = np.eye(10, dtype=F32)[rng.integers(0, 10, 128)]
    want, got = run_both(gpu, cpu, "loss_value", kind, p, y, smoothing=smoothing)
    assert got.shape == ()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    want, got = run_both(gpu, cpu, "loss_grad", kind, p, y, out_shape=p.shape,
                         smoothing=smoothing)
    if kind.endswith("_logits"):  # exp / tanh of CUDA's libdevice against NumPy's
        np.testing.assert_allclose(got, want, rtol=0, atol=16 * np.finfo(F32).eps / 128)
    elif kind in TRANSCENDENTAL_LOSS_GRADS:  # log_cosh: tanh, a few ulp
        assert_loss_grad_matches(kind, got, want)
    else:
        assert_ulp(got, want, 1, f"{kind} gradient")
    if kind in ("bce", "cce"):
        want, got = run_both(gpu, cpu, "logit_grad", kind, p, y, out_shape=p.shape,
                             smoothing=smoothing)
        assert_ulp(got, want, 0, "logit_grad")


def test_penalty(gpu, cpu):
    rng = np.random.default_rng(7)
    w, g = rand(rng, (300, 40)), rand(rng, (300, 40))
    want, got = cpu.penalty_value(w, 0.01, 0.3), gpu.penalty_value(gpu.from_host(w), 0.01, 0.3)
    np.testing.assert_allclose(gpu.to_host(got), want, rtol=1e-5)
    dev = gpu.from_host(g)
    cpu.add_penalty_grad(w, g, 0.01, 0.3)
    gpu.add_penalty_grad(gpu.from_host(w), dev, 0.01, 0.3)
    assert_ulp(gpu.to_host(dev), g, 0, "penalty gradient")


def test_metrics(gpu, cpu):
    rng = np.random.default_rng(4)
    p, y = rng.uniform(0, 1, (500, 10)).astype(F32), rng.uniform(0, 1, (500, 10)).astype(F32)
    for mode in ("categorical", "binary"):
        want, got = run_both(gpu, cpu, "count_correct", p, y, mode)
        assert got.shape == () and float(got) == float(want)
    want, got = run_both(gpu, cpu, "sum_squares", p)
    assert got.shape == ()
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert gpu.all_finite(gpu.from_host(p)) is True
    p[3, 3] = np.inf
    assert gpu.all_finite(gpu.from_host(p)) is False


@pytest.mark.parametrize("n", [1, 128, 513, 8192, 20000])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_hits", [True, False])
def test_softmax_cce_step_equals_the_three_ops_on_the_device(gpu, cpu, n, smoothing, with_hits):
    """The one launch of softmax_cce_step against accumulate_loss + accumulate_correct +
    logit_grad on the same device: the gradient bit for bit, the hits exactly, the loss to
    float64 rounding (double atomics add in any order); and against NumPy."""
    rng = np.random.default_rng(n)
    p = rng.uniform(0, 1, (n, 10)) ** 3
    p /= p.sum(axis=1, keepdims=True)
    p = p.astype(F32)
    y = np.eye(10, dtype=F32)[rng.integers(0, 10, n)]
    p[0, :3] = [0.4, 0.4, 0.2]  # a tie: the first maximum
    dp, dy = gpu.from_host(p), gpu.from_host(y)
    old, new = ([gpu.from_host(np.full((), 2.5)), gpu.from_host(np.full((), 7.0)),
                 gpu.empty(p.shape, F32)] for _ in range(2))
    ref = [np.full((), 2.5), np.full((), 7.0), np.empty_like(p)]
    for _ in range(2):
        gpu.accumulate_loss("cce", dp, dy, old[0], smoothing)
        gpu.accumulate_correct(dp, dy, "categorical", old[1])
        gpu.logit_grad("cce", dp, dy, old[2], smoothing)
        gpu.softmax_cce_step(dp, dy, new[2], new[0], new[1] if with_hits else None, smoothing)
        cpu.softmax_cce_step(p, y, ref[2], ref[0], ref[1], smoothing)
    old, new = [gpu.to_host(a) for a in old], [gpu.to_host(a) for a in new]
    assert_ulp(new[2], old[2], 0, "gradient against smoothed_diff")
    assert_ulp(new[2], ref[2], 0, "gradient against NumPy")
    assert float(new[1]) == (float(old[1]) if with_hits else 7.0)
    assert float(old[1]) == float(ref[1])
    np.testing.assert_allclose(float(new[0]), float(old[0]), rtol=1e-13)
    np.testing.assert_allclose(float(new[0]), float(ref[0]), rtol=2e-6)


@pytest.mark.parametrize("name", sorted(UPDATES))
def test_updates_agree_after_100_steps(gpu, cpu, name):
    slots, values, step = UPDATES[name]
    rng = np.random.default_rng(5)
    size = 10_000
    cpu_hyper = np.array(values, F32)
    gpu_hyper = gpu.from_host(cpu_hyper)
    host = [rand(rng, size)] + [np.zeros(size, F32) for _ in range(slots)]
    dev = [gpu.from_host(a) for a in host]
    for _ in range(100):
        g = rand(rng, size, scale=0.1)
        step(cpu, host[0], g, host[1:], cpu_hyper)
        step(gpu, dev[0], gpu.from_host(g), dev[1:], gpu_hyper)
    for i, (d, h) in enumerate(zip(dev, host)):
        assert_ulp(gpu.to_host(d), h, 4, f"{name} buffer {i} after 100 steps")


class _LaunchLog(dict):
    """The backend's kernel cache, noting the name of every kernel it is asked for (one per
    launch: CupyBackend._launch looks its kernel up each time)."""

    def __init__(self, kernels):
        super().__init__(kernels)
        self.names = []

    def get(self, name, default=None):
        self.names.append(name)
        return super().get(name, default)


GUARD = 16


def _placed(gpu, array, offset):
    """A device copy of ``array`` ``offset`` elements past a fresh allocation's start (CuPy's
    allocations are 256-byte aligned), with GUARD NaN elements on either side."""
    buf = gpu.from_host(np.full(array.size + offset + 2 * GUARD, np.nan, array.dtype))
    view = buf[GUARD + offset:GUARD + offset + array.size]
    gpu.copy_into(view, array)
    return buf, view


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size,offset", [(407_050, 0), (407_050, 1), (4097, 0), (3, 0)])
@pytest.mark.parametrize("name", sorted(UPDATES))
def test_updates_take_the_vector_form_when_aligned(gpu, cpu, monkeypatch, name, size, offset,
                                                   dtype):
    """Aligned buffers take the 4-lane vector form (16-byte accesses), one launch per update
    even when the size is not a multiple of 4; buffers one element off take the scalar kernel.
    Either way the result is NumPy's and nothing outside the buffers is written."""
    from gpudnn.backend.kernel_source import load_kernels

    slots, values, step = UPDATES[name]
    rng = np.random.default_rng(9)
    cpu_hyper = np.array(values, dtype)
    gpu_hyper = gpu.from_host(cpu_hyper)
    host = [rand(rng, size, dtype)] + [np.zeros(size, dtype) for _ in range(slots)]
    placed = [_placed(gpu, a, offset) for a in host]
    log = _LaunchLog(gpu._kernels)
    monkeypatch.setattr(gpu, "_kernels", log)
    for _ in range(10):
        g = rand(rng, size, dtype, scale=0.1)
        step(cpu, host[0], g, host[1:], cpu_hyper)
        step(gpu, placed[0][1], _placed(gpu, g, offset)[1], [v for _, v in placed[1:]],
             gpu_hyper)
    gpu.synchronize()
    assert len(log.names) == 10 and len(set(log.names)) == 1, log.names
    assert (load_kernels()[log.names[0]].lanes > 1) == (offset == 0), log.names[0]
    for i, ((buf, view), h) in enumerate(zip(placed, host)):
        assert_ulp(gpu.to_host(view), h, 4 if dtype == F32 else 0, f"{name} buffer {i}")
        outside = np.concatenate([gpu.to_host(buf[:GUARD + offset]),
                                  gpu.to_host(buf[GUARD + offset + size:])])
        assert np.isnan(outside).all(), f"{name} wrote outside buffer {i}"


def course_model_loss(device, x, y):
    gpudnn.set_seed(1234)
    model = gpudnn.models.Sequential(device=device)
    model.add(gpudnn.layers.Dense(512, activation="relu", input_shape=(784,)))
    model.add(gpudnn.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=gpudnn.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=1, batch_size=128, verbose=0, shuffle=False)
    return history.history["loss"][0]


def test_course_model_trains_the_same_on_both_devices(gpu):
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, 6016)
    centers = rng.uniform(0, 1, (10, 784))
    x = np.clip(centers[labels] + rng.normal(0, 0.3, (6016, 784)), 0, 1).astype(F32)
    y = np.eye(10, dtype=F32)[labels]
    cpu_loss, gpu_loss = course_model_loss("cpu", x, y), course_model_loss("cuda", x, y)
    assert np.isfinite(cpu_loss) and cpu_loss < 2.3
    assert abs(gpu_loss - cpu_loss) <= 1e-3 * abs(cpu_loss), (cpu_loss, gpu_loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_draws_the_cpus_mask_bit_for_bit(gpu, cpu, dtype):
    rng = np.random.default_rng(7)
    x = rand(rng, (257, 129), dtype)
    for seed, step in [(0, 0), (987654321, 12), (2**63 - 1, 2**40)]:
        want = np.empty_like(x)
        cpu.dropout(x, seed, np.array([step], np.int64), 0.3, want)
        got = gpu.empty(x.shape, dtype)
        gpu.dropout(gpu.from_host(x), seed, gpu.from_host(np.array([step], np.int64)), 0.3, got)
        assert_ulp(gpu.to_host(got), want, 0, f"dropout seed={seed} step={step}")


def test_the_dropout_step_advances_on_the_device(gpu):
    counter = gpu.zeros((1,), np.int64)
    for _ in range(3):
        gpu.increment(counter)
    assert gpu.to_host(counter).tolist() == [3]


def test_a_dropout_model_trains_the_same_on_both_devices(gpu):
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 10, 2048)
    centers = rng.uniform(0, 1, (10, 28, 28))
    x = np.clip(centers[labels] + rng.normal(0, 0.3, (2048, 28, 28)), 0, 1).astype(F32)
    losses, steps = [], []
    for device in ("cpu", "cuda"):
        gpudnn.set_seed(3)
        model = gpudnn.models.Sequential([
            gpudnn.layers.Flatten(input_shape=(28, 28)),
            gpudnn.layers.Dense(128, activation="relu"), gpudnn.layers.Dropout(0.2),
            gpudnn.layers.Dense(10, activation="softmax")], device=device)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x, labels, epochs=1, batch_size=128, verbose=0, shuffle=False)
        losses.append(history.history["loss"][0])
        steps.append(int(model.backend.to_host(model.state_arrays()["dropout_step"])[0]))
    assert steps == [16, 16]
    assert abs(losses[1] - losses[0]) <= 1e-3 * abs(losses[0]), losses
