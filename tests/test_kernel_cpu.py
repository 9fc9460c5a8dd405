"""Every kernel of kernels/*.cu, run on the CPU through the CuPy backend's own call sites.

The CuPy backend's methods are called with host arrays that carry CuPy's override hook, so each
``ElementwiseKernel`` launch runs its CUDA body in the g++ harness (see ``kernel_harness``); the
result is compared with the NumPy backend on random inputs and edge values (0, -0, huge, tiny,
inf, NaN). Where the kernel keeps NumPy's operations (everything but the transcendental
functions and the row sums of softmax), the float32 and float64 results must match to the bit.
"""


import numpy as np
import pytest

import kernel_harness
from gpudnn.backend import ACTIVATION_KINDS, LOSS_KINDS, NumpyBackend
from gpudnn.backend.kernel_half import find_kernel, load_ema_kernels, load_gated_kernels
from gpudnn.backend.kernel_source import load_kernels
from kernel_harness import host
from kernel_harness.loss_cases import HINGE, REGRESSION, loss_cases
from kernel_harness.ulp import assert_backward_matches, assert_loss_grad_matches, assert_ulp
from kernel_harness.updates import UPDATES, with_ema

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on inf and NaN

DTYPES = (np.float32, np.float64)
EDGES = [0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e30, -1e30, 88.0, -88.0, np.inf, -np.inf, np.nan]
#: ulp allowed: 0 where the kernel does NumPy's arithmetic; tanh/exp/expm1 come from different
#: libm builds (NumPy has its own SIMD float32 tanh/exp), and softmax sums rows in another order.
#: sigmoid = 0.5 tanh(x/2) + 0.5 cancels for x << 0, so it is held to 4 ulp of 1 absolute.
FORWARD_ULP = {"linear": 0, "relu": 0, "leaky_relu": 0, "elu": 2, "selu": 2, "softplus": 4, "tanh": 4,
               "softmax": 4, "softsign": 0, "hard_sigmoid": 0, "relu6": 0, "exponential": 4,
               "silu": 4, "gelu": 4}


@pytest.fixture(scope="module")
def gpu():
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


@pytest.fixture(scope="module")
def cpu():
    return NumpyBackend()


def batch(rng, dtype, n=9, k=13, scale=3.0, edges=EDGES):
    """(n, k) random normals with the edge values along the last row."""
    x = (rng.standard_normal((n, k)) * scale).astype(dtype)
    x[-1, : len(edges)] = np.array(edges[:k], dtype=dtype)
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("in_place", [False, True])
def test_activation_forward(gpu, cpu, kind, dtype, with_bias, in_place):
    rng = np.random.default_rng(1)
    z = batch(rng, dtype)
    bias = rng.standard_normal(z.shape[1]).astype(dtype) if with_bias else None
    expected = np.empty_like(z)
    cpu.activation_forward(kind, z, bias, expected, alpha=0.3)
    gz = host(z.copy())
    out = gz if in_place else host(np.empty_like(z))
    gpu.activation_forward(kind, gz, None if bias is None else host(bias), out, alpha=0.3)
    if kind in ("softplus", "exponential", "silu", "gelu"):  # e^x for x << 0: subnormal in
        # NumPy, flushed to 0 by the kernels (silu's x e^x too, where e^x alone is subnormal)
        floor = 1e-30 if kind == "silu" and dtype == np.float32 else np.finfo(dtype).tiny
        flushed = (np.abs(expected) < floor) & (np.asarray(out) == 0)
        expected = np.where(flushed, expected * 0, expected).astype(dtype)
    if kind == "sigmoid":
        np.testing.assert_allclose(out, expected, rtol=0, atol=4 * np.finfo(dtype).eps)
        assert np.array_equal(np.isnan(out), np.isnan(expected))
    else:
        assert_ulp(out, expected, FORWARD_ULP[kind], f"{kind} forward {np.dtype(dtype)}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ACTIVATION_KINDS)
@pytest.mark.parametrize("in_place", [False, True])
def test_activation_backward(gpu, cpu, kind, dtype, in_place):
    rng = np.random.default_rng(2)
    y = np.empty((9, 13), dtype)
    cpu.activation_forward(kind, batch(rng, dtype, edges=EDGES[:-3]), None, y, alpha=0.3)
    y[0, :3] = [np.nan, np.inf, 0.0]
    y[np.abs(y) < np.finfo(dtype).tiny] = 0  # softplus(-88): the kernels read subnormals as 0
    dy = batch(rng, dtype)
    expected = np.empty_like(dy)
    cpu.activation_backward(kind, y, dy, expected, alpha=0.3)
    gdy = host(dy.copy())
    out = gdy if in_place else host(np.empty_like(dy))
    gpu.activation_backward(kind, host(y), gdy, out, alpha=0.3)
    assert_backward_matches(kind, out, expected, y, dy)


def probabilities(rng, dtype, n=8, k=11):
    """Predictions in (0, 1) with values on and beyond the clip bounds, and a NaN."""
    p = rng.uniform(0, 1, (n, k)).astype(dtype)
    p[-1, :9] = [0.0, 1.0, 1e-9, 1 - 1e-9, 1e-7, 1 - 1e-7, 0.5, 2e-7, np.nan]
    return p


def targets(rng, dtype, p, kind):
    if kind.startswith("cce"):
        return np.eye(p.shape[1], dtype=dtype)[rng.integers(0, p.shape[1], p.shape[0])]
    if kind.startswith("bce"):
        return rng.integers(0, 2, p.shape).astype(dtype)
    if kind in HINGE:  # 0 (read as -1), -1 and 1
        return rng.integers(-1, 2, p.shape).astype(dtype)
    return rng.standard_normal(p.shape).astype(dtype)


def predictions(rng, dtype, kind):
    """Logits (normals with the edge values) for the _logits kinds, else probabilities."""
    if kind.endswith("_logits"):
        return batch(rng, dtype, n=8, k=11)
    return probabilities(rng, dtype)


#: (kind, parameter): every loss kind, and the cross-entropies and Huber with a second value.
LOSS_CASES = loss_cases()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_loss_grad(gpu, cpu, kind, smoothing, dtype):
    rng = np.random.default_rng(3)
    p = predictions(rng, dtype, kind)
    y = targets(rng, dtype, p, kind)
    if kind in REGRESSION:
        y[0, :3] = p[0, :3]  # p == y: mae's gradient is sign(0) = 0 there
    expected = np.empty_like(p)
    cpu.loss_grad(kind, p, y, expected, smoothing)
    out = host(np.empty_like(p))
    gpu.loss_grad(kind, host(p), host(y), out, smoothing)
    assert_loss_grad_matches(kind, out, expected)
    if kind in ("bce", "cce"):  # the clip zeroes the gradient at 0, 1 and beyond the bounds
        assert np.all(np.asarray(out)[-1, :4] == 0)
    if kind == "mae":
        assert np.all(np.asarray(out)[0, :3] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_loss_value(gpu, cpu, kind, smoothing, dtype):
    rng = np.random.default_rng(4)
    if kind.endswith("_logits"):
        p = batch(rng, dtype, n=7, k=11, edges=EDGES[:6] + [88.0, -88.0, 30.0, -30.0])
    else:
        p = probabilities(rng, dtype)[:-1]  # no NaN: a total
        p[0, :2] = [0.0, 1.0]
    y = targets(rng, dtype, p, kind)
    expected = cpu.loss_value(kind, p, y, smoothing)
    got = gpu.loss_value(kind, host(p), host(y), smoothing)
    rtol = 1e-5 if dtype == np.float32 else 1e-12  # a sum in another order
    np.testing.assert_allclose(float(got), float(expected), rtol=rtol)
    assert np.isfinite(float(got))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["bce", "cce"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_logit_grad(gpu, cpu, kind, smoothing, dtype):
    rng = np.random.default_rng(5)
    p, y = batch(rng, dtype), batch(rng, dtype)
    expected = np.empty_like(p)
    cpu.logit_grad(kind, p, y, expected, smoothing)
    out = host(np.empty_like(p))
    gpu.logit_grad(kind, host(p), host(y), out, smoothing)
    assert_ulp(out, expected, 0, "logit_grad")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.03), (0.02, 0.5)])
def test_penalty(gpu, cpu, l1, l2, dtype):
    rng = np.random.default_rng(8)
    w = batch(rng, dtype, edges=[0.0, -0.0, 1e-30, -1e-30, 1.0, -1.0, np.nan])
    g = batch(rng, dtype)
    expected = g.copy()
    cpu.add_penalty_grad(w, expected, l1, l2)
    got = host(g.copy())
    gpu.add_penalty_grad(host(w), got, l1, l2)
    assert_ulp(got, expected, 0, "penalty gradient")
    w_finite = w[:-1]
    want = cpu.penalty_value(w_finite, l1, l2)
    value = gpu.penalty_value(host(w_finite), l1, l2)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(float(value), float(want), rtol=rtol)


#: Where an update's buffers lie: all 16-byte aligned (the vector form), all one element off,
#: or only the last buffer one element off (the scalar kernel, either way).
LAYOUTS = {"aligned": lambda k, count: 0, "all_offset": lambda k, count: 1,
           "last_offset": lambda k, count: int(k == count - 1)}


def run_update(gpu, cpu, name, dtype, size, layout, steps, seed=6, ema=False):
    """``steps`` steps of update ``name`` (with ``ema``, folding in the weights' average, its
    EMA form) on both backends from the same random state, the CuPy backend's buffers placed
    as ``layout`` says, inside guard elements; the buffers (param, then slots, then the
    average) of both, and the kernels the CuPy backend launched."""
    slots, values, step = UPDATES[name]
    rng = np.random.default_rng(seed)
    cpu_hyper = np.array(values, dtype)
    gpu_hyper = host(cpu_hyper.copy())
    cpu_step = gpu_step = step
    if ema:  # the EMA momentum: 0 on the first step, then 0.9 (as the optimizer writes it)
        rates = np.array([0.0], dtype), host(np.array([0.0], dtype))
        slots, cpu_step, gpu_step = slots + 1, with_ema(step, rates[0]), with_ema(step, rates[1])
    param = rng.standard_normal(size).astype(dtype)
    edges = [0.0, 1e30, -1e-30, np.nan]
    param[:4] = edges[:size]
    cpu_state = [param.copy()] + [np.zeros(size, dtype) for _ in range(slots)]
    count = len(cpu_state) + 1  # the gradient is the last buffer
    place = LAYOUTS[layout]
    gpu_state = [kernel_harness.placed(a, place(k, count)) for k, a in enumerate(cpu_state)]
    kernel_harness.LAUNCHES.clear()
    for k in range(steps):
        if ema:
            for rate in rates:
                rate[0] = 0.0 if k == 0 else 0.9
        g = rng.standard_normal(size).astype(dtype)
        g[4:7] = [0.0, 1e-20, np.nan][: max(0, size - 4)]
        cpu_step(cpu, cpu_state[0], g, cpu_state[1:], cpu_hyper)
        gpu_step(gpu, gpu_state[0], kernel_harness.placed(g, place(count - 1, count)),
                 gpu_state[1:], gpu_hyper)
    return cpu_state, gpu_state, list(kernel_harness.LAUNCHES)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UPDATES))
@pytest.mark.parametrize("size", [1, 3, 4, 5, 1000, 4097])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("ema", [False, True])
def test_update_matches_numpy_bit_for_bit(gpu, cpu, name, dtype, size, layout, ema):
    """Both forms of every update, and of its EMA form, equal NumPy to the bit (NumPy: the
    update, then ema_update), over sizes with and without a tail of n % 4 elements, and write
    nothing outside their buffers. Aligned buffers take the vector form in ONE launch per
    update, the average included (the thread holding the tail does it element by element);
    any buffer off alignment takes the scalar kernel."""
    cpu_state, gpu_state, launched = run_update(gpu, cpu, name, dtype, size, layout, steps=20,
                                                ema=ema)
    for i, (got, want) in enumerate(zip(gpu_state, cpu_state)):
        assert_ulp(got, want, 0, f"{name} buffer {i}")
        assert kernel_harness.guards_intact(got), f"{name} wrote outside buffer {i}"
    if size > 6:
        assert np.isnan(np.asarray(gpu_state[0])[3]) and np.isnan(np.asarray(gpu_state[0])[6])
    assert len(launched) == 20 and len(set(launched)) == 1, launched
    kernel = find_kernel(launched[0])
    assert ("_ema" in kernel.name) == ema, kernel.name
    if layout == "aligned":
        assert kernel.lanes > 1, f"aligned buffers took {kernel.name}, not a vector form"
    else:
        assert kernel.lanes == 1 and kernel.vector, f"misaligned buffers took {kernel.name}"


@pytest.mark.parametrize("name", sorted(UPDATES))
def test_updates_of_the_course_model_take_the_vector_form_in_one_launch(gpu, cpu, name):
    """P = 407,050 (not a multiple of 4): still one launch, the vector form, bit-exact."""
    cpu_state, gpu_state, launched = run_update(gpu, cpu, name, np.float32, 407_050,
                                                "aligned", steps=2)
    for i, (got, want) in enumerate(zip(gpu_state, cpu_state)):
        assert_ulp(got, want, 0, f"{name} buffer {i}")
        assert kernel_harness.guards_intact(got)
    assert len(launched) == 2 and launched[0] == launched[1]
    assert load_kernels()[launched[0]].lanes > 1, launched


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("in_place", [False, True])
def test_dropout_draws_numpys_mask_bit_for_bit(gpu, cpu, dtype, rate, in_place):
    """The CUDA body and the vectorised uint64 NumPy reference are the same function of
    (seed, step, element), so the CPU and the GPU drop the same elements."""
    rng = np.random.default_rng(12)
    x = batch(rng, dtype, n=37, k=29)
    for seed, step in [(0, 0), (123456789, 5), (2**63 - 1, 2**40 + 3)]:
        expected = np.empty_like(x)
        cpu.dropout(x, seed, np.array([step], np.int64), rate, expected)
        gx = host(x.copy())
        out = gx if in_place else host(np.empty_like(x))
        gpu.dropout(gx, seed, host(np.array([step], np.int64)), rate, out)
        assert_ulp(out, expected, 0, f"dropout seed={seed} step={step}")


def test_the_step_counter_advances_on_the_device(gpu):
    counter = host(np.array([41], np.int64))
    gpu.increment(counter)
    gpu.increment(counter)
    assert np.asarray(counter).tolist() == [43]
    gpu.increment(counter, 128)
    assert np.asarray(counter).tolist() == [171]


@pytest.mark.parametrize("shape, dtype", [((50, 7), np.float32), ((50, 3, 4), np.float64),
                                          ((50,), np.float32), ((50, 1), np.float64)])
def test_the_batch_is_gathered_at_the_device_position(gpu, cpu, shape, dtype):
    """take_rows_at reads the batch's place in the epoch's order from device memory: the same
    launch, replayed after the position advanced, gathers the next batch (as fit's recorded
    step does). fit's data is always in the model's float dtype (the GPU test adds int64)."""
    rng = np.random.default_rng(5)
    src = (rng.random(shape) * 1000).astype(dtype)
    order = rng.permutation(50).astype(np.int64)
    position = host(np.array([0], np.int64))
    gsrc, gorder = host(src), host(order)
    for start, n in ((0, 16), (16, 16), (32, 16), (48, 2)):
        out = host(np.empty((n,) + shape[1:], dtype))
        gpu.take_rows_at(gsrc, gorder, position, out)
        assert np.asarray(position).tolist() == [start]
        gpu.increment(position, n)
        expected = np.empty((n,) + shape[1:], dtype)
        cpu.take_rows_at(src, order, np.array([start], np.int64), expected)
        np.testing.assert_array_equal(expected, src[order[start:start + n]])
        np.testing.assert_array_equal(np.asarray(out), expected)


def test_every_kernel_runs_through_a_backend_call_site(gpu):
    """Each kernel in kernels/ is reached by some backend method (so all of them were checked
    above) and the launches carry the in/out arguments the kernel declares."""
    kernel_harness.SEEN.clear()
    rng = np.random.default_rng(7)
    x = host(rng.uniform(0.1, 0.9, (4, 5)).astype(np.float32))
    out = host(np.empty_like(x))
    for kind in ACTIVATION_KINDS:
        gpu.activation_forward(kind, x, host(np.zeros(5, np.float32)), out, alpha=0.1)
        gpu.activation_backward(kind, x, x, out, alpha=0.1)
    for kind in LOSS_KINDS:
        gpu.loss_grad(kind, x, x, out)
        gpu.loss_value(kind, x, x)
    for kind in ("bce", "cce"):
        gpu.logit_grad(kind, x, x, out)
    gpu.penalty_value(x, 0.1, 0.2)
    gpu.add_penalty_grad(x, out, 0.1, 0.2)
    total = host(np.zeros((), np.float64))
    gpu.accumulate_loss("mse", x, x, total)
    gpu.accumulate_correct(x, x, "categorical", total)
    gpu.accumulate_correct(x, x, "binary", total)
    gpu.softmax_cce_step(x, x, out, total, total)
    w = host(np.full((4, 1), 0.5, np.float32))  # per-sample weights: the weighted twins
    for kind in LOSS_KINDS:
        gpu.loss_grad(kind, x, x, out, weights=w)
        gpu.accumulate_loss(kind, x, x, total, weights=w)
    for kind in ("bce", "cce"):
        gpu.logit_grad(kind, x, x, out, weights=w)
    gpu.accumulate_correct(x, x, "categorical", total, weights=w)
    gpu.accumulate_correct(x, x, "binary", total, weights=w)
    gpu.softmax_cce_step(x, x, out, total, total, weights=w)
    counts = host(np.zeros((4, 2), np.float64))  # the metrics (kernels/metrics.cu)
    gpu.accumulate_matches(x, x, total, 0.5, weights=w)
    gpu.accumulate_top_k(x, x, 2, total)
    gpu.accumulate_errors(x, x, True, total)
    gpu.accumulate_confusion(x, x, (0.3, 0.7), counts, top_k=2)
    gpu.accumulate_class_counts(x, x, None, host(np.zeros((4, x.shape[1]), np.float64)))
    gpu.accumulate_buckets(x, x, host(np.zeros((2, 1, 11), np.float64)), weights=w)
    counter = host(np.zeros(1, np.int64))
    gpu.dropout(x, 1, counter, 0.5, out)
    gpu.dropout_shared(x, 1, counter, 0.5, out, (False, True))
    gpu.gaussian_noise(x, 1, counter, 0.5, out)
    gpu.gaussian_dropout(x, 1, counter, 0.5, out)
    gpu.increment(counter)
    gpu.take_rows_at(x, host(np.arange(4, dtype=np.int64)), host(np.zeros(1, np.int64)), out)
    norm2 = host(np.ones(1, np.float32))
    state = host(np.array([8.0, 0.0, 0.0, 1.0], np.float32))  # loss scaling
    gpu.scale_by_loss_scale(out, state)
    gpu.unscale_gradients(out, state)
    gpu.update_loss_scale(state, 2000)

    def every_update(backend, flat):
        for name in sorted(UPDATES):
            _, values, step = UPDATES[name]
            step(backend, flat[0], flat[1], flat[2:], host(np.array(values, np.float32)))
        rate = host(np.array([0.9], np.float32))
        for name in sorted(UPDATES):  # the EMA forms
            _, values, step = UPDATES[name]
            with_ema(step, rate)(backend, flat[0], flat[1], flat[2:],
                                 host(np.array(values, np.float32)))
        backend.ema_update(flat[0], flat[2], rate)  # options
        for apply in (False, True):
            backend.accumulate_gradients(flat[1], flat[3], 2, apply)

    for offset in (0, 1):  # aligned buffers: the vector forms; one element off: the scalar ones
        flat = [kernel_harness.placed(np.ones(6, np.float32), offset) for _ in range(6)]
        every_update(gpu, flat)
        gpu.run_if_finite(state, every_update, flat)  # the gated forms (loss scaling)
        gpu.clip_by_value(flat[1], 0.5)
        gpu.clip_by_norm(flat[1], norm2, 0.5)
        gpu.clip_by_global_norm(flat[1], norm2, 0.5)
    features = [host(np.full(5, 0.5, np.float32)) for _ in range(6)]  # batch normalization
    gpu.batchnorm_forward(x, *features[:4], 0.99, 1e-3, out, *features[4:])
    gpu.batchnorm_inference(x, *features[:4], 1e-3, out)
    gpu.batchnorm_backward(x, x, *features[:3], features[4], features[5], out)
    gpu.batchnorm_inference_backward(x, features[0], features[1], 1e-3, out)
    # the row forms of batch normalization are the compiled CPU backend's (test_batchnorm.py)
    cpu_only = {name for name in load_kernels() if name.endswith("_rows")}
    assert kernel_harness.SEEN == (set(load_kernels()) - cpu_only) | set(load_ema_kernels()) | \
        set(load_gated_kernels())


def test_a_compile_failure_names_the_kernel_and_carries_nvrtcs_log(gpu):
    from cupy.cuda.compiler import CompileException

    from gpudnn.errors import KernelCompileError

    def failing_kernel(*args, **kwargs):
        raise CompileException("kern.cu(7): error: identifier \"oops\" is undefined",
                               "source", "sgd_update", (), "nvrtc")

    names = ("sgd_update", load_kernels()["sgd_update"].vector)  # scalar and vector forms
    for name in names:
        gpu._kernels[name] = failing_kernel
    try:
        for offset, name in zip((1, 0), names):
            with pytest.raises(KernelCompileError, match=rf"(?s)'{name}'.*optimizers\.cu.*oops"):
                gpu.sgd_update(kernel_harness.placed(np.ones(3, np.float32), offset),
                               kernel_harness.placed(np.ones(3, np.float32), offset),
                               host(np.array([0.1, 0.0], np.float32)))
    finally:
        for name in names:
            del gpu._kernels[name]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm2", [0.0, 0.04, 0.25, 7.0, 1e30, np.inf, np.nan])
@pytest.mark.parametrize("size,offset", [(203, 0), (203, 1), (4, 0)])
def test_clip_kernels_match_numpy_bit_for_bit(gpu, cpu, norm2, dtype, size, offset):
    """clip_by_value, clip_by_norm and clip_by_global_norm (limit 0.5) on random gradients with
    edge values, for squared norms below, at and above the limit, infinite and NaN; aligned
    (the norm clips' vector forms, with and without a tail) and one element off (scalar)."""
    rng = np.random.default_rng(8)
    g = (rng.standard_normal(size) * 2).astype(dtype)
    g[: len(EDGES)] = np.array(EDGES[:size], dtype=dtype)
    norm = np.array([norm2], dtype)
    for clip, args in (("clip_by_value", (0.5,)), ("clip_by_norm", (norm, 0.5)),
                       ("clip_by_global_norm", (norm, 0.5))):
        want = g.copy()
        getattr(cpu, clip)(want, *args)
        got = kernel_harness.placed(g, offset)
        kernel_harness.LAUNCHES.clear()
        getattr(gpu, clip)(got, *(host(a.copy()) if isinstance(a, np.ndarray) else a
                                  for a in args))
        assert_ulp(got, want, 0, f"{clip} norm2={norm2}")
        assert kernel_harness.guards_intact(got)
        vector = clip != "clip_by_value" and offset == 0
        assert kernel_harness.LAUNCHES == [load_kernels()[clip].vector if vector else clip]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", loss_cases(second=0.1))
def test_accumulate_loss_in_one_launch_matches_numpy(gpu, cpu, kind, dtype, smoothing):
    """The loss of a batch added to a float64 total by add_chunk_sums (double sums, atomics)
    equals NumPy's reduction to float rounding, for every loss kind; totals accumulate."""
    rng = np.random.default_rng(11)
    p = rng.uniform(0.01, 0.99, (300, 13)).astype(dtype)  # 3,900 terms: several chunks
    p /= p.sum(axis=1, keepdims=True)
    y = np.eye(13, dtype=dtype)[rng.integers(0, 13, 300)]
    want, got = np.full((), 2.5), host(np.full((), 2.5))
    for _ in range(2):
        cpu.accumulate_loss(kind, p, y, want, smoothing)
        gpu.accumulate_loss(kind, host(p), host(y), got, smoothing)
    rtol = 2e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(float(np.asarray(got)), float(want), rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_accumulate_correct_in_one_launch_matches_numpy(gpu, cpu, dtype):
    """add_argmax_hits takes numpy.argmax's first maximum (ties) and first NaN;
    add_threshold_hits counts elements on the same side of 0.5."""
    rng = np.random.default_rng(12)
    p = rng.uniform(0, 1, (200, 7)).astype(dtype)
    y = np.eye(7, dtype=dtype)[rng.integers(0, 7, 200)]
    p[0] = [0.2, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0]          # a tie: the first one wins
    y[0] = np.eye(7, dtype=dtype)[1]
    p[1] = [0.2, np.nan, 0.9, np.nan, 0.0, 0.0, 0.0]    # the first NaN is the argmax
    y[1] = np.eye(7, dtype=dtype)[1]
    p[2] = [0.2, 0.3, np.nan, 0.9, 0.0, 0.0, 0.0]
    y[2] = np.eye(7, dtype=dtype)[3]
    p[3, :] = 0.5                                        # exactly 0.5 is not above the threshold
    for mode in ("categorical", "binary"):
        want, got = np.zeros(()), host(np.zeros(()))
        cpu.accumulate_correct(p, y, mode, want)
        gpu.accumulate_correct(host(p), host(y), mode, got)
        assert float(np.asarray(got)) == float(want), mode
    assert float(want) > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_accumulate_penalty_in_one_launch_matches_numpy(gpu, cpu, dtype):
    rng = np.random.default_rng(13)
    w = rng.standard_normal((123, 45)).astype(dtype)
    want, got = np.zeros(()), host(np.zeros(()))
    cpu.accumulate_penalty(w, 0.01, 0.02, 64, want)
    gpu.accumulate_penalty(host(w), 0.01, 0.02, 64, got)
    np.testing.assert_allclose(float(np.asarray(got)), float(want),
                               rtol=2e-6 if dtype == np.float32 else 1e-13)


def softmax_rows(rng, dtype, n, k):
    """Softmax outputs (n, k) whose rows include ties, exact 0 and 1, values on and beyond the
    clip bounds; targets one-hot, with a few probability rows (ties in y too)."""
    p = rng.uniform(0, 1, (n, k)) ** 3
    p /= p.sum(axis=1, keepdims=True)
    p = p.astype(dtype)
    y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    if k >= 3 and n >= 6:
        p[0, :3] = [0.4, 0.4, 0.2]  # a tie in p: the first maximum is the argmax
        y[0] = 0
        y[0, 1] = 1
        p[1] = 0
        p[1, 0] = 1  # an exact one and exact zeros: the clip is active
        p[2, :3] = [1e-9, 1 - 1e-9, 0]
        p[3, :3] = [1e-7, 1 - 1e-7, 0]
        y[4] = 0
        y[4, :2] = 0.5  # a tie in y: its argmax is column 0
        p[4, :3] = [0.3, 0.3, 0.4]
        p[5, :3] = [0.5, 0.25, 0.25]
        y[5] = y[4]
    return p, y


#: (n, k): one row, a class, the course model's batch, past CCE_STEP_THREADS rows (several rows
#: per thread), and large batches (each thread strides over many rows).
CCE_STEP_SHAPES = [(1, 3), (5, 1), (9, 13), (128, 10), (513, 10), (1000, 7), (8192, 10),
                   (20000, 10)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k", CCE_STEP_SHAPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_hits", [True, False])
def test_softmax_cce_step_in_one_launch_equals_the_three_ops(gpu, cpu, dtype, n, k, smoothing,
                                                             with_hits):
    """softmax_cce_step's one launch against the ops it replaces, run in the same harness
    (cce_terms + add_chunk_sums, add_argmax_hits, smoothed_diff) and in NumPy: the gradient bit
    for bit, the hit count exactly, the loss to float64 rounding; totals accumulate."""
    rng = np.random.default_rng(n * 31 + k)
    p, y = softmax_rows(rng, dtype, n, k)
    loss0, hits0 = 2.5, 7.0
    want_loss, want_hits = host(np.full((), loss0)), host(np.full((), hits0))
    want_grad = host(np.full_like(p, np.nan))
    np_loss, np_hits, np_grad = np.full((), loss0), np.full((), hits0), np.empty_like(p)
    got_loss, got_hits = host(np.full((), loss0)), host(np.full((), hits0))
    got_grad = host(np.full_like(p, np.nan))
    kernel_harness.SEEN.clear()
    for _ in range(2):
        gpu.accumulate_loss("cce", host(p), host(y), want_loss, smoothing)
        gpu.accumulate_correct(host(p), host(y), "categorical", want_hits)
        gpu.logit_grad("cce", host(p), host(y), want_grad, smoothing)
        cpu.softmax_cce_step(p, y, np_grad, np_loss, np_hits if with_hits else None, smoothing)
        gpu.softmax_cce_step(host(p), host(y), got_grad, got_loss,
                             got_hits if with_hits else None, smoothing)
    assert "softmax_cce_step" in kernel_harness.SEEN
    assert_ulp(got_grad, want_grad, 0, "gradient against smoothed_diff")
    assert_ulp(got_grad, np_grad, 0, "gradient against NumPy")
    if with_hits:
        assert float(np.asarray(got_hits)) == float(np.asarray(want_hits)) == float(np_hits)
        assert float(np_hits) > hits0 or n < 5
    else:
        assert float(np.asarray(got_hits)) == hits0  # untouched
    # the same float terms summed in double in another order, and NumPy's own sum
    np.testing.assert_allclose(float(np.asarray(got_loss)), float(np.asarray(want_loss)),
                               rtol=1e-13)
    np.testing.assert_allclose(float(np.asarray(got_loss)), float(np_loss),
                               rtol=2e-6 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cce_step_keeps_argmaxs_nan_rule_and_nan_losses(gpu, cpu, dtype):
    """A NaN in p is the row's argmax (its first NaN), the gradient stays NaN there, and the loss
    becomes NaN, as with the three ops."""
    rng = np.random.default_rng(14)
    p, y = softmax_rows(rng, dtype, 40, 6)
    p[7, :4] = [0.2, np.nan, 0.9, np.nan]
    y[7] = np.eye(6, dtype=dtype)[1]
    p[8, :4] = [0.2, 0.3, np.nan, 0.9]
    y[8] = np.eye(6, dtype=dtype)[3]
    want_loss, want_hits, want_grad = np.zeros(()), np.zeros(()), np.empty_like(p)
    cpu.softmax_cce_step(p, y, want_grad, want_loss, want_hits, 0.0)
    got_loss, got_hits = host(np.zeros(())), host(np.zeros(()))
    got_grad = host(np.empty_like(p))
    gpu.softmax_cce_step(host(p), host(y), got_grad, got_loss, got_hits, 0.0)
    assert_ulp(got_grad, want_grad, 0, "gradient")
    assert float(np.asarray(got_hits)) == float(want_hits)
    assert np.isnan(float(np.asarray(got_loss))) and np.isnan(float(want_loss))


def test_softmax_cce_step_bounds_its_threads_and_atomics(gpu, monkeypatch):
    """A row per thread up to CCE_STEP_THREADS rows; beyond, CCE_STEP_THREADS threads (one
    atomic per total each), however large the batch."""
    from gpudnn.backend import cupy_backend

    sizes = []
    launch = gpu._launch

    def spy(name, *args, **kwargs):
        sizes.append((name, kwargs.get("size")))
        launch(name, *args, **kwargs)

    monkeypatch.setattr(gpu, "_launch", spy)
    limit = cupy_backend.CCE_STEP_THREADS
    for n in (3, 128, limit, limit + 1, 20000):
        p = host(np.full((n, 4), 0.25, np.float32))
        gpu.softmax_cce_step(p, p, host(np.empty((n, 4), np.float32)),
                             host(np.zeros(())), host(np.zeros(())))
    assert sizes == [("softmax_cce_step", n) for n in (3, 128, limit, limit, limit)]


def test_a_capture_keeps_every_work_array_it_writes(gpu):
    """While a CUDA graph is being captured, each cached work array the ops use is kept by the
    capture (the graph holds their addresses even if the cache later drops them)."""
    x = host(np.full((4, 5), 0.5, np.float32))
    gpu._capture_keep = kept = []
    try:
        gpu.accumulate_loss("cce", x, x, host(np.zeros((), np.float64)))
        gpu.activation_forward("relu", x, None, host(np.empty_like(x)))  # the zero bias
    finally:
        gpu._capture_keep = None
    assert any(a.shape == (4, 5) for a in kept) and any(a.shape == (5,) for a in kept)
    gpu.loss_value("cce", x, x)
    assert len(kept) == 2  # nothing is kept outside a capture
