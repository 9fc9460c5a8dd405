"""GaussianNoise, GaussianDropout and Dropout(noise_shape=...): the normals of kernels/random.cu
against NumPy's log and cos and against N(0, 1), the NumPy reference against the compiled CPU
kernels and CuPy's kernel objects in the CPU harness (bit for bit), NVRTC's code without FMA,
Keras's shared masks, float64 gradients with the noise fixed, inference as the identity, fit /
save / load / exact resume, recorded steps against eager ones, configs and summary rows."""

import math
import re

import numpy as np
import pytest

import gpudnn
import kernel_harness
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.backend.base import dropout_threshold
from gpudnn.backend.counter_rng import normals, random_bits
from gpudnn.backend.kernel_source import load_kernels
from gpudnn.backend.numpy_noise import CHUNK
from gpudnn.errors import InvalidInputError
from gpudnn.utils import to_categorical
from kernel_harness import host

from conftest import blobs, require_cuda
from test_dropout import check_gradients_with_the_noise_fixed

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on inf and NaN
DTYPES = (np.float32, np.float64)
EDGES = [0.0, -0.0, 1.0, -1.0, 1e-30, 1e30, -1e30, np.inf, -np.inf, np.nan]
#: (op, host scalar) of the Gaussian ops; 0.6546... is GaussianDropout(0.3)'s stddev
GAUSSIAN = [("gaussian_noise", 0.37), ("gaussian_dropout", math.sqrt(0.3 / 0.7))]
SHARES = [(False, True), (True, False), (True, True), (False, False)]


def batch(rng, dtype, n, k):
    x = (rng.standard_normal((n, k)) * 3).astype(dtype)
    x[-1, :len(EDGES)] = np.array(EDGES[:k], dtype=dtype)
    return x


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def box_muller(bits):
    """The textbook formula on the word's halves, with NumPy's own log and cos."""
    u1 = ((bits >> np.uint64(32)).astype(np.float64) + 0.5) / 2.0**32
    u2 = (bits & np.uint64(0xFFFFFFFF)).astype(np.float64) / 2.0**32
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def keep_mask(seed, step, size, rate):
    return (random_bits(seed, step, size) >> np.uint64(32)) >= dropout_threshold(rate)


# ----------------------------------------------------------------- the generator's normals
def test_normals_are_box_muller_on_the_two_halves_of_the_word():
    bits = random_bits(3, 1, 200_000)
    np.testing.assert_allclose(normals(bits), box_muller(bits), rtol=0, atol=1e-13)
    # the extremes: u1 at both ends, u2 at every quadrant and octant boundary
    hi = np.array([0, 1, 2**31, 2**32 - 1], np.uint64) << np.uint64(32)
    lo = np.array([0, 1, 2**29, 2**29 + 1, 2**30, 2**31, 3 * 2**30, 2**32 - 1], np.uint64)
    edges = (hi[:, None] | lo[None, :]).ravel()
    np.testing.assert_allclose(normals(edges), box_muller(edges), rtol=0, atol=1e-14)
    # word 0: u1 = 2^-33, u2 = 0, so z = sqrt(66 ln 2), the largest radius
    assert abs(normals(np.array([0], np.uint64))[0] - math.sqrt(66 * math.log(2))) < 1e-14


def test_normals_are_standard_normal():
    n = 1 << 20
    z = normals(random_bits(11, 4, n))
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs((z ** 3).mean()) < 5 * math.sqrt(15 / n)
    assert abs((z ** 4).mean() - 3) < 5 * math.sqrt(96 / n)
    # Kolmogorov-Smirnov against Phi on 100k draws (critical value at 0.1%: 1.95 / sqrt(m))
    sample = np.sort(z[:100_000])
    phi = 0.5 * (1 + np.vectorize(math.erf)(sample / math.sqrt(2)))
    grid = np.arange(1, sample.size + 1) / sample.size
    assert np.max(np.maximum(grid - phi, phi - (grid - 1 / sample.size))) < 1.95 / 316
    # the tails: P(|z| > 3) = 0.0027
    tail = np.count_nonzero(np.abs(z) > 3) / n
    assert abs(tail - 0.0026998) < 5 * math.sqrt(0.0027 / n)
    # another step and another seed are independent streams
    for other in (normals(random_bits(11, 5, n)), normals(random_bits(12, 4, n))):
        assert abs(np.corrcoef(z, other)[0, 1]) < 5 / math.sqrt(n)


def edge_words():
    """Words at every boundary of gpudnn_normal: u1 at both ends and where m = 2 hi + 1 crosses
    sqrt(1/2) 2^e (the mantissa's doubling), u2 at each quadrant and octant (the fold)."""
    his = {0, 1, 2**31 - 1, 2**31, 2**32 - 1}
    for e in range(1, 34):
        m = math.ceil(math.sqrt(0.5) * 2**e) | 1  # the first odd m at or above the boundary
        his |= {(v - 1) // 2 for v in (m - 2, m, m + 2) if 1 <= v < 2**33}
    los = set()
    for base in range(0, 2**32 + 1, 2**29):
        los |= {v for v in (base - 1, base, base + 1) if 0 <= v < 2**32}
    return np.array(sorted((h << 32) | lo for h in his for lo in los), np.uint64)


@pytest.fixture(scope="module")
def host_normal(tmp_path_factory):
    """random.cu's gpudnn_normal compiled by g++ with the host kernels' flags, on given words."""
    import ctypes
    import subprocess

    from gpudnn.backend import host_kernels

    kernel_harness.require("g++", kernel_harness.have_gxx())
    folder = tmp_path_factory.mktemp("normal")
    source = (f'#include "cuda_shim.h"\n{load_kernels()["gaussian_noise"].preamble}\n'
              'extern "C" void normals_of(long n, const unsigned long long* w, double* z) {\n'
              '  for (long i = 0; i < n; ++i) z[i] = gpudnn_normal(w[i]);\n}\n')
    (folder / "normal.cpp").write_text(source)
    subprocess.run([host_kernels.compiler(), *host_kernels.flags(openmp=False),
                    f"-I{host_kernels.SHIM.parent}", str(folder / "normal.cpp"), "-o",
                    str(folder / "normal.so")], check=True, capture_output=True)
    fn = ctypes.CDLL(str(folder / "normal.so")).normals_of
    fn.argtypes, fn.restype = [ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p], None

    def run(words):
        words = np.ascontiguousarray(words, np.uint64)
        z = np.empty(words.size, np.float64)
        fn(words.size, words.ctypes.data, z.ctypes.data)
        return z

    return run


def test_the_kernels_normal_is_numpys_on_every_boundary_word(host_normal):
    words = np.concatenate([edge_words(), random_bits(5, 6, 100_000)])
    assert same_bits(host_normal(words), normals(words))
    np.testing.assert_allclose(normals(words), box_muller(words), rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_ops_are_the_kernel_formula_across_chunks(dtype):
    be, rng = NumpyBackend(), np.random.default_rng(0)
    x = batch(rng, dtype, 61, 541)  # 33001 elements: two whole chunks and a tail
    assert x.size > 2 * CHUNK and x.size % CHUNK
    step = np.array([9], np.int64)
    z = normals(random_bits(77, 9, x.size)).reshape(x.shape)
    out = np.empty_like(x)
    be.gaussian_noise(x, 77, step, 0.37, out)
    assert same_bits(out, x + (0.37 * z).astype(dtype))
    be.gaussian_dropout(x, 77, step, 0.5, out)
    assert same_bits(out, x * (1.0 + 0.5 * z).astype(dtype))


def test_gaussian_ops_statistics():
    be, n = NumpyBackend(), 1 << 19
    x = np.zeros((512, n // 512), np.float32)
    noise = np.empty_like(x)
    be.gaussian_noise(x, 5, np.array([0], np.int64), 0.5, noise)
    assert abs(noise.mean()) < 5 * 0.5 / math.sqrt(n)
    assert abs(noise.std() - 0.5) < 5 * 0.5 / math.sqrt(2 * n)
    rate = 0.3
    factor = np.empty_like(x)
    be.gaussian_dropout(x + 1, 5, np.array([0], np.int64), math.sqrt(rate / (1 - rate)), factor)
    assert abs(factor.mean() - 1) < 5 * 0.66 / math.sqrt(n)
    assert abs(factor.var() - rate / (1 - rate)) < 5 * (rate / (1 - rate)) * math.sqrt(2 / n)


# ----------------------------------------------------------------- the backends, bit for bit
def run_op(be, op, x, seed, step, scalar, out, share=None):
    if op == "dropout_shared":
        be.dropout_shared(x, seed, step, scalar, out, share)
    else:
        getattr(be, op)(x, seed, step, scalar, out)


CASES = [(op, s, None) for op, s in GAUSSIAN] + [("dropout_shared", 0.4, sh) for sh in SHARES]


@pytest.mark.parametrize("op,scalar,share", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("shape", [(37, 29), (300, 450)])  # serial, and OpenMP's branch
def test_compiled_cpu_kernels_draw_numpys_noise_bit_for_bit(compiled, kernels_only, op, scalar,
                                                            share, dtype, in_place, shape):
    reference, rng = NumpyBackend(), np.random.default_rng(13)
    x = batch(rng, dtype, *shape)
    step = np.array([7], np.int64)
    for seed, at in [(99, 7), (2**63 - 1, 2**40 + 3)]:
        step[0] = at  # the kernel reads the step from memory
        expected = np.empty_like(x)
        run_op(reference, op, x, seed, step, scalar, expected, share)
        got = x.copy()
        out = got if in_place else np.empty_like(x)
        run_op(compiled, op, got, seed, step, scalar, out, share)
        assert same_bits(out, expected), (op, share, seed, at)


@pytest.fixture(scope="module")
def harness():
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


@pytest.mark.parametrize("op,scalar,share", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_place", [False, True])
def test_cupy_kernels_in_the_cpu_harness_draw_numpys_noise(harness, op, scalar, share, dtype,
                                                           in_place):
    reference, rng = NumpyBackend(), np.random.default_rng(12)
    x = batch(rng, dtype, 37, 29)
    for seed, at in [(0, 0), (123456789, 5)]:
        expected = np.empty_like(x)
        run_op(reference, op, x, seed, np.array([at], np.int64), scalar, expected, share)
        gx = host(x.copy())
        out = gx if in_place else host(np.empty_like(x))
        kernel_harness.LAUNCHES.clear()
        run_op(harness, op, gx, seed, host(np.array([at], np.int64)), scalar, out, share)
        assert kernel_harness.LAUNCHES == [op]  # one launch of the kernel named as the op
        assert same_bits(np.asarray(out).view(np.ndarray), expected), (op, share, seed)


@pytest.mark.parametrize("name", ["gaussian_noise", "gaussian_dropout", "dropout_shared"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nvrtc_code_has_no_fused_multiply_add_and_no_libm_approximation(cupy_nvrtc, name,
                                                                         dtype):
    """The same doubles on the GPU need every product and sum rounded on its own (--fmad=false)
    and no device log / cos / sin (the kernel never calls them). A missing NVRTC skips (the
    fixture); a kernel NVRTC rejects fails."""
    from kernel_harness import nvrtc

    source, options = nvrtc.generated_source(load_kernels()[name], np.dtype(dtype))
    ptx = nvrtc.compile_ptx(source, options, 90)
    assert f".entry {name}(" in ptx
    assert not re.findall(r"\b(?:fma|mad)\.rn(?:\.ftz)?\.f(?:32|64)\b", ptx)
    assert "call" not in ptx  # no function: every operation is in the kernel's own code
    for approx in ("lg2.approx", "sin.approx", "cos.approx", "ex2.approx", "rcp.approx.f64",
                   "div.approx", "div.full", "sqrt.approx"):
        assert approx not in ptx
    if name != "dropout_shared":
        assert "sqrt.rn.f64" in ptx and "div.rn.f64" in ptx  # correctly rounded, as the CPU's


@pytest.fixture(scope="module")
def gpu():
    return require_cuda()


@pytest.mark.gpu
@pytest.mark.parametrize("op,scalar,share", CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_gpu_draws_the_cpus_noise_bit_for_bit(gpu, op, scalar, share, dtype):
    x = (np.random.default_rng(7).standard_normal((257, 129)) * 3).astype(dtype)
    for seed, at in [(0, 0), (987654321, 12), (2**63 - 1, 2**40)]:
        want = np.empty_like(x)
        run_op(NumpyBackend(), op, x, seed, np.array([at], np.int64), scalar, want, share)
        got = gpu.empty(x.shape, dtype)
        run_op(gpu, op, gpu.from_host(x), seed, gpu.from_host(np.array([at], np.int64)), scalar,
               got, share)
        assert same_bits(gpu.to_host(got), want), (op, share, seed)


GPU_NORMAL = """
extern "C" __global__ void normals_of(long long n, const unsigned long long* w, double* z) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) z[i] = gpudnn_normal(w[i]);
}
"""


@pytest.mark.gpu
def test_the_gpus_normal_is_numpys_on_every_boundary_word(gpu):
    import cupy

    from gpudnn.backend.cupy_backend import KERNEL_OPTIONS

    kernel = cupy.RawKernel(load_kernels()["gaussian_noise"].preamble + GPU_NORMAL, "normals_of",
                            options=KERNEL_OPTIONS)
    words = np.concatenate([edge_words(), random_bits(5, 6, 100_000)])
    w, z = cupy.asarray(words), cupy.empty(words.size, cupy.float64)
    kernel(((words.size + 255) // 256,), (256,), (np.int64(words.size), w, z))
    assert same_bits(cupy.asnumpy(z), normals(words))


# ----------------------------------------------------------------- Dropout(noise_shape=...)
@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_shared_masks_are_keras_noise_shape(backend, compiled, kernels_only):
    be = NumpyBackend() if backend == "numpy" else compiled
    n, k, rate, seed = 400, 30, 0.4, 21
    x = np.random.default_rng(1).uniform(1, 2, (n, k)).astype(np.float32)  # never 0
    step, out, scale = np.array([3], np.int64), np.empty_like(x), np.float32(1 / 0.6)
    full = keep_mask(seed, 3, n * k, rate).reshape(n, k)
    # (None, 1): whole samples, each kept as the draw of its first element (index r k)
    be.dropout_shared(x, seed, step, rate, out, (False, True))
    rows = full[:, :1]
    assert same_bits(out, np.where(rows, x * scale, np.float32(0)))
    assert 0.5 < rows.mean() < 0.7  # about 1 - rate of the samples kept
    # (1, None): one mask row, the first sample's, for the whole batch
    be.dropout_shared(x, seed, step, rate, out, (True, False))
    assert same_bits(out, np.where(full[:1, :], x * scale, np.float32(0)))
    assert (out[0] != 0).sum() == (out[-1] != 0).sum() and np.array_equal(out != 0,
                                                                       np.broadcast_to(
                                                                           out[:1] != 0,
                                                                           out.shape))
    # (1, 1): all or nothing, element 0's draw; (None, None) is dropout itself
    be.dropout_shared(x, seed, step, rate, out, (True, True))
    assert same_bits(out, x * scale if full[0, 0] else np.zeros_like(x))
    plain = np.empty_like(x)
    be.dropout(x, seed, step, rate, plain)
    be.dropout_shared(x, seed, step, rate, out, (False, False))
    assert same_bits(out, plain)


def forward_train(layer, x, at=0):
    """The layer's training output on x at step ``at``, on the NumPy backend."""
    model = models.Sequential([layer], device="cpu")
    model.build(x.shape[1])
    out = np.empty_like(x)
    layer.forward(NumpyBackend(), x, out, np.array([at], np.int64))
    return out


def test_dropout_noise_shape_entries_and_errors():
    x = np.random.default_rng(2).uniform(1, 2, (16, 5)).astype(np.float32)
    plain = forward_train(layers.Dropout(0.5, seed=4), x)
    for shape in [(None, None), (16, 5), (None, 5), [16, None]]:
        assert same_bits(forward_train(layers.Dropout(0.5, noise_shape=shape, seed=4), x), plain)
    whole = forward_train(layers.Dropout(0.5, noise_shape=(None, 1), seed=4), x)
    assert all(len(set(row != 0)) == 1 for row in whole) and 0 < (whole[:, 0] != 0).sum() < 16
    batch_mask = forward_train(layers.Dropout(0.5, noise_shape=(1, 5), seed=4), x) != 0
    assert (batch_mask == batch_mask[0]).all()
    for bad in [(None,), (None, 1, 1), 5, "ab", (0, None), (None, -1), (True, None),
                (None, 1.5)]:
        with pytest.raises(InvalidInputError, match="noise_shape must be None or a pair"):
            layers.Dropout(0.5, noise_shape=bad)
    with pytest.raises(InvalidInputError, match="second entry must be None, 1 or 5"):
        models.Sequential([layers.Dense(5, input_shape=(3,)),
                           layers.Dropout(0.5, noise_shape=(None, 4))])
    with pytest.raises(InvalidInputError, match="batches of 8 samples, but this batch has 16"):
        forward_train(layers.Dropout(0.5, noise_shape=(8, None)), x)


def mlp(*noise, dtype=None, hidden=16, features=6, classes=3):
    return models.Sequential([layers.Dense(hidden, activation="relu", input_shape=(features,)),
                              *noise, layers.Dense(classes, activation="softmax")], dtype=dtype)


def noise_layers(seed=None):
    return [layers.GaussianNoise(0.3, seed=seed), layers.Dropout(0.25, noise_shape=(None, 1)),
            layers.GaussianDropout(0.2)]


# ----------------------------------------------------------------- the layers in a model
def test_training_true_applies_the_noise_by_hand():
    x, _ = blobs(64)
    for layer, apply in [
            (layers.GaussianNoise(0.4, seed=3), lambda h, z: h + (0.4 * z).astype(np.float32)),
            (layers.GaussianDropout(0.3, seed=3),
             lambda h, z: h * (1 + math.sqrt(0.3 / 0.7) * z).astype(np.float32))]:
        model = mlp(layer)
        w1, b1, w2, b2 = model.get_weights()
        h = np.maximum(x @ w1 + b1, 0)
        h = apply(h, normals(random_bits(3, 0, h.size)).reshape(h.shape))
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        got = model(x, training=True)
        np.testing.assert_allclose(got, p / p.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(got, model(x, training=True))  # the step did not move
        assert not np.allclose(got, model(x))


def test_inference_is_the_identity_and_never_advances_the_step():
    x, labels = blobs(200)
    y = to_categorical(labels, 3)
    model, plain = mlp(*noise_layers()), mlp()
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))
    np.testing.assert_array_equal(model(x), plain(x))
    assert model.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    assert int(model.state_arrays()["dropout_step"][0]) == 0
    for layer in model.layers[1:-1]:
        assert layer.identity_in(False) and not layer.identity_in(True) and layer.stochastic
    assert layers.GaussianNoise(0.0).identity_in(True)
    assert layers.GaussianDropout(0.0).identity_in(True)


@pytest.mark.parametrize("where", ["middle", "first"])
def test_gradients_with_the_noise_fixed_match_float64_central_differences(where):
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 5)), np.eye(3)[rng.integers(0, 3, 12)]
    stack = [layers.Dense(7, activation="tanh", input_shape=(5,)), layers.GaussianNoise(0.5),
             layers.Dense(6, activation="sigmoid"), layers.GaussianDropout(0.4),
             layers.Dense(6, activation="tanh"), layers.Dropout(0.4, noise_shape=(None, 1)),
             layers.Dense(4, activation="tanh"), layers.Dropout(0.3, noise_shape=(1, None)),
             layers.Dense(3, activation="softmax")]
    if where == "first":  # noise on the input: back-propagation starts below it
        stack = [layers.GaussianDropout(0.3, input_shape=(5,)), layers.Dense(3, activation="tanh"),
                 layers.GaussianNoise(0.2), layers.Dense(3, activation="softmax")]
    check_gradients_with_the_noise_fixed(models.Sequential(stack, dtype="float64"), x, y)


def fit_model(epochs, initial_epoch=0, model=None, record=True, monkeypatch=None):
    if monkeypatch is not None:
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if record else "0")
    x, labels = blobs(300, seed=1)
    if model is None:
        model = mlp(*noise_layers())
        model.compile(optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    history = model.fit(x, to_categorical(labels, 3), batch_size=32, epochs=epochs,
                        initial_epoch=initial_epoch, verbose=0)
    return model, history


def test_a_model_with_noise_fits_saves_loads_and_resumes_exactly(tmp_path):
    gpudnn.set_seed(1)
    full, history = fit_model(4)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    x, labels = blobs(300, seed=1)
    assert full.evaluate(x, to_categorical(labels, 3), verbose=0)[1] > 0.95
    assert int(full.state_arrays()["dropout_step"][0]) == 4 * 10
    gpudnn.set_seed(1)
    part, _ = fit_model(2)
    part.save(tmp_path / "noisy.gpudnn")
    gpudnn.set_seed(999)  # the seeds are in the file, not drawn again
    loaded = models.load_model(tmp_path / "noisy.gpudnn")
    assert [layers.serialize(a) for a in loaded.layers] == \
        [layers.serialize(b) for b in part.layers]
    assert int(loaded.state_arrays()["dropout_step"][0]) == 2 * 10
    resumed, _ = fit_model(4, initial_epoch=2, model=loaded)
    for a, b in zip(resumed.get_weights(), full.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_recorded_steps_replay_the_eager_noise(monkeypatch):
    runs = []
    for record in (True, False):
        gpudnn.set_seed(3)
        runs.append(fit_model(3, record=record, monkeypatch=monkeypatch))
    (recorded, h1), (eager, h2) = runs
    assert recorded._steps.replays > 0 and eager._steps.replays == 0
    for a, b in zip(recorded.get_weights(), eager.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert h1.history == h2.history


def test_numpy_and_compiled_cpu_backends_train_the_same_model(compiled, kernels_only):
    """relu, mse and SGD are bit for bit on both CPU backends: so must the noise be."""
    x, labels = blobs(96, seed=2)
    y = to_categorical(labels, 3)
    weights = []
    for be in (NumpyBackend(), compiled):
        gpudnn.set_seed(8)
        model = models.Sequential(device="cpu")
        model.backend, model._dropout_step = be, be.zeros((1,), np.int64)
        for layer in [layers.Dense(16, activation="relu", input_shape=(6,)), *noise_layers(),
                      layers.Dense(3)]:
            model.add(layer)
        model.compile(optimizer="sgd", loss="mse")
        for _ in range(3):
            for start in range(0, 96, 32):
                model.train_on_batch(x[start:start + 32], y[start:start + 32])
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        assert same_bits(a, b)


@pytest.mark.gpu
def test_noise_steps_captured_as_a_cuda_graph_equal_eager_and_the_cpu(gpu, monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((128 * 30, 64)).astype(np.float32)
    y = to_categorical((x[:, :3].sum(1) > 0).astype(int) + (x[:, 3] > 1), 3)
    runs = {}
    for device, graphs in (("cuda", True), ("cuda", False), ("cpu", False)):
        monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", "1" if graphs else "0")
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1")
        gpudnn.set_seed(11)
        model = models.Sequential([layers.Dense(128, activation="relu", input_shape=(64,)),
                                   *noise_layers(), layers.Dense(3, activation="softmax")],
                                  device=device)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        history = model.fit(x, y, batch_size=128, epochs=1, shuffle=True, verbose=0)
        step = int(model.backend.to_host(model.state_arrays()["dropout_step"])[0])
        runs[device, graphs] = model, history.history["loss"][0], step
    captured, eager, cpu = runs["cuda", True], runs["cuda", False], runs["cpu", False]
    assert captured[0]._steps.graphs == 1 and captured[0]._steps.replays == 28
    assert captured[2] == eager[2] == cpu[2] == 30
    for a, b in zip(captured[0].get_weights(), eager[0].get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert captured[1] == pytest.approx(eager[1], rel=1e-5)
    assert eager[1] == pytest.approx(cpu[1], rel=1e-3)  # same noise; GEMMs differ in rounding


@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_a_step_with_noise_layers_allocates_nothing_after_the_first_batch(backend):
    from conftest import step_peak_bytes
    from gpudnn.training.fit import BatchFeed

    rng = np.random.default_rng(0)
    images = rng.random((512, 64), dtype=np.float32)
    y = to_categorical(rng.integers(0, 10, 512), 10)
    model = models.Sequential(device="cpu")
    if backend == "numpy":
        model.backend = NumpyBackend()
        model._dropout_step = model.backend.zeros((1,), np.int64)
    for layer in [layers.Dense(256, activation="relu", input_shape=(64,)),
                  layers.GaussianNoise(0.1), layers.Dropout(0.2, noise_shape=(None, 1)),
                  layers.Dropout(0.2, noise_shape=(1, None)), layers.GaussianDropout(0.2),
                  layers.Dense(10, activation="softmax")]:
        model.add(layer)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, y, epochs=1, batch_size=128, verbose=0)  # warms every buffer
    x, _ = model._prepare("fit", images, y)
    ws, totals = model._workspace(128, with_grads=True), model._new_totals()
    feed = BatchFeed(model.backend, x, y)
    feed.start_epoch(model.backend, np.random.default_rng(1).permutation(512))
    before = int(model.state_arrays()["dropout_step"][0])
    assert step_peak_bytes(model, ws, totals, feed) < 64 * 1024  # (128, 256) floats: 128 KiB
    assert int(model.state_arrays()["dropout_step"][0]) == before + 4


# ----------------------------------------------------------------- configs and summary
def test_configs_round_trip_and_bad_arguments_are_refused():
    cases = [(layers.GaussianNoise(0.2, seed=9, name="gn"),
              {"name": "gn", "dtype": "float32", "stddev": 0.2, "seed": 9}),
             (layers.GaussianDropout(0.3, seed=8, name="gd"),
              {"name": "gd", "dtype": "float32", "rate": 0.3, "seed": 8}),
             (layers.Dropout(0.1, noise_shape=(None, 1), seed=7, name="d"),
              {"name": "d", "dtype": "float32", "rate": 0.1, "noise_shape": [None, 1],
               "seed": 7})]
    for layer, config in cases:
        assert layer.get_config() == config
        clone = layers.deserialize(layers.serialize(layer))
        assert type(clone) is type(layer) and clone.get_config() == config
    assert layers.GaussianNoise(1, input_shape=(4,)).get_config()["input_shape"] == [4]
    assert math.isclose(layers.GaussianDropout(0.5).stddev, 1.0)
    gpudnn.set_seed(5)
    first = [layers.GaussianNoise(0.1).seed, layers.GaussianDropout(0.1).seed]
    gpudnn.set_seed(5)
    assert [layers.GaussianNoise(0.1).seed, layers.GaussianDropout(0.1).seed] == first
    for bad in (-0.1, math.inf, math.nan, "0.1", True):
        with pytest.raises(InvalidInputError, match="stddev must be a finite number >= 0"):
            layers.GaussianNoise(bad)
    for bad, match in [(1, "rate=1 would drop everything"), (-0.1, r"in \[0, 1\)"),
                       ("0.5", r"in \[0, 1\)")]:
        with pytest.raises(InvalidInputError, match=match):
            layers.GaussianDropout(bad)
    for cls, arg in [(layers.GaussianNoise, 0.1), (layers.GaussianDropout, 0.1)]:
        with pytest.raises(InvalidInputError, match="seed must be None or an integer"):
            cls(arg, seed=-1)


def test_summary_rows_as_keras():
    model = mlp(*noise_layers())
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for layer, cls in zip(model.layers[1:-1], ["GaussianNoise", "Dropout", "GaussianDropout"]):
        name = layer.name  # Keras's: gaussian_noise, gaussian_noise_1, ...
        assert name.startswith({"GaussianNoise": "gaussian_noise", "Dropout": "dropout",
                                "GaussianDropout": "gaussian_dropout"}[cls])
        row = next(line for line in text.splitlines() if line.startswith(f"│ {name} "))
        assert "(None, 16)" in row and row.split("│")[3].strip() == "0"
        assert f"({cls})" in text  # on the row, or on the next line when the cell wraps
    assert "Total params: 163" in text
