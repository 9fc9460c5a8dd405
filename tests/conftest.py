"""Shared fixtures: a fixed seed for every test, small data sets."""

import os
import tracemalloc

import numpy as np
import pytest

import gpudnn
import kernel_harness
from gpudnn.backend import native_routing
from gpudnn.backend.native_backend import CompiledCpuBackend

#: OpenMP threshold of the compiled backend in the tests: low enough that the "large" arrays of
#: the tests (about 134k elements) run on both threads, high enough that small ones run serially.
TEST_PARALLEL_MIN = 131072


@pytest.fixture(autouse=True)
def _seeded():
    gpudnn.set_seed(1234)
    yield


def blobs(n=300, features=6, classes=3, seed=0, spread=0.6):
    """Well-separated Gaussian blobs: x (n, features) float32, labels (n,) int."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.normal(0, spread, (n, features))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module", params=["openmp", "serial"])
def compiled(request):
    """The compiled CPU backend, built with OpenMP (low threshold) and without."""
    kernel_harness.require("g++", kernel_harness.have_gxx())
    backend = CompiledCpuBackend(openmp=request.param == "openmp", parallel_min=TEST_PARALLEL_MIN)
    for dtype in (np.float32, np.float64):
        backend.load(dtype)
    return backend


@pytest.fixture
def kernels_only(monkeypatch):
    """Fails the test when the compiled backend refuses a call site and hands the call to NumPy:
    its tests compare it with NumPy, so a silent fallback would pass them. It sees the refusals
    of the call-site cache (every op's), not an op's own early return (e.g. a loss kind with no
    kernel). ``kernels_only.allowed`` holds the call kinds a test expects NumPy to do (linear
    without a bias is NumPy's by design)."""
    fell = []
    cached = CompiledCpuBackend._cached

    def watched(self, key, arrays, bind, *args):
        site = cached(self, key, arrays, bind, *args)
        if site is None:
            fell.append(key[:2] if key[0] in ("fwd", "bwd") else key[:1])
        return site

    monkeypatch.setattr(CompiledCpuBackend, "_cached", watched)

    class Allowed:
        # linear is a copy; the activations that call tanh / exp per element are NumPy's
        # (native_routing.LIBM_FORWARD: its SIMD loops are many times faster)
        allowed = {("fwd", "linear"), ("bwd", "linear")} | \
            {("fwd", kind) for kind in native_routing.LIBM_FORWARD} | \
            {("bwd", kind) for kind in native_routing.LIBM_BACKWARD}

    yield Allowed
    unexpected = [kind for kind in fell if kind not in Allowed.allowed]
    assert not unexpected, f"the compiled backend fell back to NumPy for {sorted(set(unexpected))}"


def assert_recorded_equals_eager(make_model, x, y, monkeypatch, **fit):
    """Train a model from ``make_model()`` with recorded steps (checked to have replayed) and
    another eagerly (``GPUDNN_RECORD_STEPS=0``): their weights must agree bit for bit. Returns
    the recorded model's weights."""
    results = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        model = make_model()
        model.fit(x, y, verbose=0, **fit)
        assert (model._steps.replays > 0) == (record == "1"), "the step was not replayed"
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    return results[0]


def step_peak_bytes(model, ws, totals, feed=None, steps=4, record=False):
    """Peak bytes of host memory allocated by ``steps`` training steps, above what was allocated
    before them: on the batches of ``feed`` (what fit's loop does per batch), or without a
    feed on the batch already in ``ws``."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(steps):
            model._train_batch(ws, totals, record=record, feed=feed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def subprocess_env(cpu=True):
    """The environment of a test's child Python: this checkout first on the path, and the CPU
    (``cpu=False``: the device the tests run on, e.g. GPUDNN_DEVICE=cuda on a GPU)."""
    return {**os.environ, "PYTHONPATH": os.getcwd(), **({"GPUDNN_DEVICE": "cpu"} if cpu else {})}


@pytest.fixture
def keras_names(monkeypatch):
    """Fresh automatic names (dense, dense_1..., auc, auc_1...), as in a new Keras session."""
    import gpudnn.utils.naming as naming

    monkeypatch.setattr(naming, "_counters", naming.defaultdict(naming.itertools.count))


def require_cuda():
    """The CUDA backend of device 0 for a GPU test; without a usable device the test skips,
    or fails where ``GPUDNN_REQUIRE_GPU`` is set (bench/gpu_check.sh: never skip there)."""
    from gpudnn.backend import backend_for, cuda_problem

    problem = cuda_problem(0)
    if problem is not None:
        if os.environ.get("GPUDNN_REQUIRE_GPU"):
            pytest.fail(f"GPUDNN_REQUIRE_GPU is set but no CUDA device is usable: {problem}")
        pytest.skip(f"no usable CUDA device: {problem}")
    return backend_for("cuda:0")


@pytest.fixture(scope="module")
def cupy_nvrtc():
    """NVRTC through the pinned CuPy (the NVRTC checks): skips where CuPy or NVRTC is missing
    (fails under GPUDNN_REQUIRE_KERNEL_CHECKS), fails where CuPy is not the pinned version."""
    import importlib.util

    from kernel_harness import nvrtc

    kernel_harness.require("CuPy", importlib.util.find_spec("cupy") is not None)
    import cupy

    try:
        version = cupy.cuda.nvrtc.getVersion()
    except Exception as exc:  # the NVRTC library is not installed
        kernel_harness.require(f"NVRTC ({type(exc).__name__}: {exc})", False)
    if cupy.__version__ != nvrtc.CUPY_VERSION:
        pytest.fail(f"the NVRTC check reads CuPy {nvrtc.CUPY_VERSION}'s private code generator; "
                    f"CuPy {cupy.__version__} is installed: pin it, or re-read the internals "
                    "and update kernel_harness/nvrtc.py")
    return version

