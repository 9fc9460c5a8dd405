"""Subnormals flushed to zero on the CPU (issue 11): the compiled kernels run with FTZ|DAZ, the
NumPy backend's optimizer updates run in that mode too (``hardware``, x86-64 glibc) or emulate it
op by op (``emulated``, everywhere else; forced here), and all agree to the bit; the caller's
floating-point mode is untouched; ``gpudnn.set_flush_denormal(False)`` keeps subnormals.

The inputs are built so that about 30% of every buffer is subnormal, some values sit just above
the smallest normal (their products and differences underflow) and some gradients are close to
the first moment or to sqrt(tiny) (``g - m`` and ``g * g`` underflow inside the update).
"""

import platform

import numpy as np
import pytest

import gpudnn
from gpudnn import config, layers, models, optimizers
from gpudnn.backend import NumpyBackend, fp_mode, host_kernels
from gpudnn.errors import InvalidInputError
from kernel_harness.updates import UPDATES, with_ema

# kernels_only: a compiled-backend test that NumPy passed in its place would prove nothing
pytestmark = [pytest.mark.usefixtures("kernels_only"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.skipif(not config.FLUSH_SUPPORTED, reason="no flush-to-zero on this CPU")]

DTYPES = (np.float32, np.float64)
#: Below the tests' OpenMP threshold (serial) and above it (both threads, uneven chunks).
SIZES = (999, 140_001)
#: MXCSR flush-to-zero (bit 15) and denormals-are-zero (bit 6); AArch64 FPCR FZ (bit 24).
FLUSH_BITS = 0x8040 | (1 << 24)
#: Slots whose values are never negative (second moments, Adamax's u, Adagrad's accumulator).
NON_NEGATIVE = {"rmsprop": (0,), "rmsprop_momentum": (0,), "rmsprop_centered": (0,),
                "adam": (1,), "adamw": (1,), "amsgrad": (1, 2), "nadam": (1,), "adamax": (1,),
                "adagrad": (0,)}


def update(name, dtype):
    """``(slots, step(backend, param, grad, slots))`` of ``UPDATES[name]``, its per-step values
    in an array of ``dtype``."""
    slots, hyper, step = UPDATES[name]
    values = np.array(hyper, dtype)
    return slots, lambda b, p, g, s: step(b, p, g, s, values)


@pytest.fixture(autouse=True)
def _flushing_restored():
    yield
    gpudnn.set_flush_denormal(True)


@pytest.fixture(params=["hardware", "emulated"])
def reference(request, monkeypatch):
    """The NumPy backend, its updates in the hardware flush mode or emulating it."""
    if request.param == "emulated":
        monkeypatch.setattr(fp_mode, "enter", lambda: None)
    elif not fp_mode.available():
        pytest.skip("the flush mode cannot be set from Python on this machine")
    return NumpyBackend()


def laden(rng, dtype, size, scale=0.05):
    """Normals times ``scale``; ~30% random subnormals, ~15% normals within 64x of the smallest
    normal, ~5% signed zeros, each with a random sign."""
    tiny = float(np.finfo(dtype).tiny)
    kind = rng.random(size)
    x = rng.standard_normal(size) * scale
    x = np.where(kind < 0.30, rng.random(size) * tiny, x)
    x = np.where((kind >= 0.30) & (kind < 0.45), tiny * rng.uniform(1, 64, size), x)
    x = np.where((kind >= 0.45) & (kind < 0.50), 0.0, x)
    return (x * rng.choice([-1.0, 1.0], size)).astype(dtype)


def laden_grad(rng, dtype, first_slot):
    """A subnormal-laden gradient; 10% of it a hair away from the first slot (``g - m``
    underflows) and 10% near sqrt(tiny) (``g * g`` underflows)."""
    g = laden(rng, dtype, first_slot.size, scale=0.01)
    pick = rng.random(g.size)
    close = pick < 0.1
    g[close] = (first_slot[close] * (1 + np.finfo(dtype).eps * rng.integers(1, 4, close.sum()))
                ).astype(dtype)
    root = (pick >= 0.1) & (pick < 0.2)
    g[root] = (np.sqrt(np.finfo(dtype).tiny) * rng.uniform(0.05, 2, root.sum())).astype(dtype)
    return g


def start_state(rng, name, dtype, size):
    slots, _ = update(name, dtype)
    state = [laden(rng, dtype, size)] + [laden(rng, dtype, size, scale=1e-3) for _ in range(slots)]
    for j in NON_NEGATIVE.get(name, ()):
        np.abs(state[1 + j], out=state[1 + j])
    return state


def subnormal_count(a):
    return int(np.count_nonzero((a != 0) & (np.abs(a) < np.finfo(a.dtype).tiny)))


def assert_same_bits(actual, expected, what):
    """Equal to the bit (so +0 and -0 differ), NaN matching NaN."""
    ints = {4: np.uint32, 8: np.uint64}[actual.dtype.itemsize]
    same = (actual.view(ints) == expected.view(ints)) | (np.isnan(actual) & np.isnan(expected))
    bad = np.flatnonzero(~same)
    assert bad.size == 0, (f"{what}: {bad.size} elements differ, first at {bad[0]}: "
                           f"got {actual[bad[0]]!r}, expected {expected[bad[0]]!r}")


def run_steps(backend, name, state, grads, ema=False):
    """The update's steps over ``state`` (param, slots); with ``ema``, its EMA form, the
    average the last buffer of ``state`` and the EMA momentum 0.9."""
    dtype = state[0].dtype
    _, step = update(name, dtype)
    if ema:
        _, values, plain = UPDATES[name]
        hyper, rate = np.array(values, dtype), np.array([0.9], dtype)
        step = lambda b, p, g, s: with_ema(plain, rate)(b, p, g, s, hyper)  # noqa: E731
    for g in grads:
        step(backend, state[0], g, state[1:])
    return state


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UPDATES))
@pytest.mark.parametrize("ema", [False, True])
def test_flushed_kernels_match_numpy_to_the_bit_on_subnormal_state(compiled, reference, name, dtype,
                                                                   size, ema):
    rng = np.random.default_rng(11)
    state = start_state(rng, name, dtype, size)
    if ema:  # a subnormal-laden average too, folded into the update's launch
        state.append(laden(rng, dtype, size))
    assert all(0.25 < subnormal_count(a) / size < 0.35 for a in state)
    grads = [laden_grad(rng, dtype, state[1] if len(state) > 1 else state[0]) for _ in range(3)]
    got = run_steps(compiled, name, [a.copy() for a in state], grads, ema)
    want = run_steps(reference, name, [a.copy() for a in state], grads, ema)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_same_bits(a, b, f"{name} buffer {i}")
        assert subnormal_count(a) == 0, f"{name} buffer {i} kept subnormals"
    # the same steps without flushing end elsewhere, so the data above did exercise the flush
    gpudnn.set_flush_denormal(False)
    kept = run_steps(reference, name, [a.copy() for a in state], grads, ema)
    assert any(subnormal_count(a) > 0 for a in kept)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UPDATES))
def test_flushed_kernels_match_numpy_on_ordinary_values(compiled, reference, name, dtype):
    rng = np.random.default_rng(12)
    size = SIZES[1]
    state = [rng.standard_normal(size).astype(dtype) * 0.05]
    state += [np.zeros(size, dtype) for _ in range(update(name, dtype)[0])]
    grads = [rng.standard_normal(size).astype(dtype) * 0.01 for _ in range(5)]
    got = run_steps(compiled, name, [a.copy() for a in state], grads)
    want = run_steps(reference, name, [a.copy() for a in state], grads)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_same_bits(a, b, f"{name} buffer {i}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UPDATES))
def test_switched_off_both_paths_keep_subnormals_and_agree(compiled, name, dtype):
    assert gpudnn.set_flush_denormal(False) is True
    rng = np.random.default_rng(13)
    state = start_state(rng, name, dtype, SIZES[0])
    grads = [laden_grad(rng, dtype, state[1] if len(state) > 1 else state[0]) for _ in range(3)]
    got = run_steps(compiled, name, [a.copy() for a in state], grads)
    want = run_steps(NumpyBackend(), name, [a.copy() for a in state], grads)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_same_bits(a, b, f"{name} buffer {i} unflushed")
    assert any(subnormal_count(a) > 0 for a in got)


@pytest.mark.parametrize("backend_kind", ["compiled", "numpy"])
def test_a_decaying_subnormal_moment_is_flushed_or_kept_by_the_switch(compiled, reference,
                                                                      backend_kind):
    """SGD momentum with no gradient shrinks a subnormal velocity: zero with the flush, the
    exact product without (a test that fails whichever way the switch were stuck)."""
    backend = compiled if backend_kind == "compiled" else reference
    tiny = np.finfo(np.float32).tiny
    velocity = np.full(8, tiny / 2, np.float32)
    decayed = velocity * np.float32(0.9)  # this process runs without flushing: gradual underflow
    assert 0 < decayed[0] < tiny
    for on, expected in ((True, 0.0), (False, decayed[0])):
        gpudnn.set_flush_denormal(on)
        state = run_steps(backend, "momentum", [np.ones(8, np.float32), velocity.copy()],
                          [np.zeros(8, np.float32)])
        assert np.all(state[1] == expected), (on, state[1])


def fp_control():
    """The calling thread's MXCSR (x86-64) or FPCR (AArch64), read by the compiled library."""
    return host_kernels.load(np.float32).gpudnn_fp_control()


@pytest.mark.parametrize("flush", [True, False])
def test_the_callers_floating_point_mode_is_unchanged_by_each_kernel(compiled, reference, flush):
    gpudnn.set_flush_denormal(flush)
    before = fp_control()
    assert before & FLUSH_BITS == 0, "the test process itself runs with flushing set"
    rng = np.random.default_rng(14)
    for size in SIZES:
        for name in sorted(UPDATES):
            state = start_state(rng, name, np.float32, size)
            for backend in (compiled, reference):
                run_steps(backend, name, state, [laden_grad(rng, np.float32, state[-1])])
                assert fp_control() & FLUSH_BITS == before & FLUSH_BITS, (name, size, backend)
        z = laden(rng, np.float32, (size // 101) * 101).reshape(-1, 101)
        out = np.empty_like(z)
        compiled.activation_forward("relu", z, np.zeros(101, np.float32), out)
        compiled.activation_backward("relu", out, z, out)
        assert fp_control() & FLUSH_BITS == before & FLUSH_BITS, ("relu", size)


@pytest.mark.parametrize("backend_kind", ["compiled", "numpy"])
def test_the_callers_floating_point_mode_is_unchanged_by_fit(compiled, reference, monkeypatch,
                                                            backend_kind):
    backend = compiled if backend_kind == "compiled" else reference
    monkeypatch.setattr(models.sequential, "current_backend", lambda device=None: backend)
    rng = np.random.default_rng(15)
    x = rng.uniform(0, 1, (256, 784)).astype(np.float32)
    x[:, :300] = 0  # never-active inputs: their Adam moments decay through the subnormals
    x[::64, :300] = 1e-3
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)]
    model = models.Sequential([layers.Dense(64, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(1e-3), loss="categorical_crossentropy")
    before = fp_control()
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert fp_control() == before


def test_set_flush_denormal_is_pytorchs_switch():
    assert config.flush_denormal() is True  # the default
    assert gpudnn.set_flush_denormal(False) is True
    assert config.flush_denormal() is False
    assert gpudnn.set_flush_denormal(np.bool_(True)) is True
    assert config.flush_denormal() is True
    for bad in (1, "on", None):
        with pytest.raises(InvalidInputError, match="True or False"):
            gpudnn.set_flush_denormal(bad)
    assert config.flush_denormal() is True


def test_the_numpy_flush_keeps_sign_nan_inf_and_normals():
    backend = NumpyBackend()
    for dtype in DTYPES:
        tiny = np.finfo(dtype).tiny
        a = np.array([tiny / 3, -tiny / 3, tiny, -tiny, 0.0, -0.0, np.nan, np.inf, -np.inf, 1.5],
                     dtype)
        backend._flush(a)
        expected = np.array([0.0, -0.0, tiny, -tiny, 0.0, -0.0, np.nan, np.inf, -np.inf, 1.5], dtype)
        assert_same_bits(a, expected, f"flush {dtype.__name__}")


def test_the_hardware_mode_is_found_on_x86_64_glibc():
    """The fast NumPy path is not lost silently where it should work (this CI's machines)."""
    if platform.machine().lower() not in ("x86_64", "amd64") or platform.libc_ver()[0] != "glibc":
        pytest.skip("fp_mode sets the flush mode on x86-64 with glibc only")
    assert fp_mode.available()
    saved = fp_mode.enter()
    try:
        assert fp_control() & 0x8040 == 0x8040
    finally:
        fp_mode.leave(saved)
    assert fp_control() & 0x8040 == 0


def test_threads_updating_at_once_each_flush(compiled, reference):
    """The hardware mode is per thread: an update running beside another still flushes. (One
    backend per thread: a backend's work arrays are not for two threads at once.)"""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(16)
    jobs = []
    for _ in range(4):
        state = start_state(rng, "adam", np.float32, SIZES[1])
        jobs.append((state, [laden_grad(rng, np.float32, state[1]) for _ in range(3)]))
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda job: run_steps(NumpyBackend(), "adam",
                                                  [a.copy() for a in job[0]], job[1]), jobs))
    for (state, grads), result in zip(jobs, got):
        want = run_steps(compiled, "adam", [a.copy() for a in state], grads)
        for i, (a, b) in enumerate(zip(result, want)):
            assert_same_bits(a, b, f"threaded adam buffer {i}")
