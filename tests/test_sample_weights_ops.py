"""Per-sample weights in the loss and metric ops (Keras 3's ``sample_weight``), on every backend
the CPU runs: NumPy (the reference), the compiled CPU backend (the weighted kernels of
kernels/losses.cu compiled by g++; its OpenMP branch on the large shape) and the CuPy backend's
own kernel objects in the CPU harness.

Each weighted op is checked against hand-written float64 NumPy with Keras's formulas: L_i the
loss of row i alone (the mean over its outputs for mse, mae, bce, bce_logits; the sum over its
classes for cce, cce_logits), the weighted loss ``sum_i w_i L_i / n`` (``sum_over_batch_size``),
its gradient row i times w_i; weights of ones give the unweighted results (the gradients bit for
bit); weights zero on half the rows give the unweighted op on the other half times the right
factor. ``Loss.__call__(..., sample_weight=)`` against Keras's formula, and its errors.
"""


import numpy as np
import pytest

import kernel_harness
from conftest import TEST_PARALLEL_MIN, require_cuda
from gpudnn import losses
from gpudnn.backend import LOSS_KINDS, NumpyBackend
from gpudnn.backend.native_backend import CompiledCpuBackend
from gpudnn.errors import InvalidInputError
from kernel_harness import host
from kernel_harness.loss_cases import REGRESSION, loss_cases
from kernel_harness.ulp import assert_ulp

pytestmark = [pytest.mark.filterwarnings("ignore::RuntimeWarning"),
              pytest.mark.usefixtures("kernels_only")]  # the compiled backend never falls back

DTYPES = (np.float32, np.float64)
EPS = 1e-7
#: (kind, label smoothing): every loss kind, the cross-entropies smoothed too.
LOSS_CASES = loss_cases()
#: (n, k): serial loops; 520 x 257 = 133,640 elements take the compiled backend's OpenMP branch
#: (chunks that start and end inside rows: the row counter of w[i / k] at every boundary).
SHAPES = {"small": (9, 13), "large": (520, 257)}


class Device:
    """A backend and how its arrays are made from host arrays and read back."""

    def __init__(self, backend, to_device=lambda a: a, to_host=None):
        self.be, self.put = backend, to_device
        self._to_host = to_host

    def zeros(self, shape=(), dtype=np.float64, value=0.0):
        return self.put(np.full(shape, value, dtype))

    def get(self, a):
        return self._to_host(a) if self._to_host else np.asarray(a).view(np.ndarray)


@pytest.fixture(scope="module")
def gpu():
    """The CuPy backend, its kernel launches run in the CPU harness."""
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


@pytest.fixture(scope="module", params=["numpy", "native", "cupy-harness"])
def dev(request):
    if request.param == "numpy":
        return Device(NumpyBackend())
    if request.param == "cupy-harness":
        return Device(request.getfixturevalue("gpu"), lambda a: host(np.array(a)))
    kernel_harness.require("g++", kernel_harness.have_gxx())
    return Device(CompiledCpuBackend(openmp=True, parallel_min=TEST_PARALLEL_MIN))


# ------------------------------------------------------------------ Keras's formulas, float64
def smoothed(kind, y, s):
    return y * (1 - s) + (s / y.shape[1] if kind.startswith("cce") else s / 2) if s else y


def clipped(p):
    """p clipped to [EPSILON, 1 - EPSILON] as rounded to p's dtype (in float32 1 - 1e-7 is
    1 - 1.19e-7, as in Keras), in float64."""
    dtype = np.asarray(p).dtype
    lo, hi = (float(dtype.type(b)) for b in (EPS, 1 - EPS))
    return np.clip(np.asarray(p, np.float64), lo, hi)


def keras_per_sample(kind, p, y, s=0.0):
    """L_i, the loss of each row alone, as Keras 3 computes it (float64)."""
    dtype = np.asarray(p).dtype
    c = clipped(p)
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    t = smoothed(kind, y, s)
    if kind == "mse":
        return np.mean((p - y) ** 2, axis=1)
    if kind == "mae":
        return np.mean(np.abs(p - y), axis=1)
    if kind == "huber":  # s: delta
        d = p - y
        return np.mean(np.where(np.abs(d) <= s, 0.5 * d ** 2, s * np.abs(d) - 0.5 * s ** 2),
                       axis=1)
    if kind == "log_cosh":
        return np.mean(np.log(np.cosh(p - y)), axis=1)
    if kind == "kld":
        tc, pc = (np.clip(a, float(dtype.type(EPS)), 1) for a in (y, p))
        return np.sum(tc * np.log(tc / pc), axis=1)
    if kind == "poisson":
        return np.mean(p - y * np.log(p + float(dtype.type(EPS))), axis=1)
    if kind == "mape":
        return 100 * np.mean(np.abs((y - p) / np.maximum(np.abs(y), float(dtype.type(EPS)))),
                             axis=1)
    if kind == "msle":
        lo = float(dtype.type(EPS))
        return np.mean((np.log(np.maximum(p, lo) + 1) - np.log(np.maximum(y, lo) + 1)) ** 2,
                       axis=1)
    if kind in ("hinge", "squared_hinge"):  # Keras: a {0, 1} batch as -1 / 1
        t = 2 * y - 1 if np.all((y == 0) | (y == 1)) else y
        h = np.maximum(1 - t * p, 0)
        return np.mean(h if kind == "hinge" else h * h, axis=1)
    if kind == "bce":
        return -np.mean(t * np.log(c) + (1 - t) * np.log(1 - c), axis=1)
    if kind == "cce":
        return -np.sum(t * np.log(c), axis=1)
    if kind == "bce_logits":
        return np.mean(np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p))), axis=1)
    m = p.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(p - m).sum(axis=1, keepdims=True))
    return np.sum(t * (lse - p), axis=1)


def keras_loss(kind, p, y, w, s=0.0):
    """``sum_i w_i L_i / n``: Keras's sum_over_batch_size of the weighted per-sample losses."""
    return float(np.sum(np.ravel(w) * keras_per_sample(kind, p, y, s)) / len(p))


def keras_grad(kind, p, y, w, s=0.0, fused=False):
    """``d/dp [sum_i w_i L_i / n]`` (float64); ``fused``: with respect to the input of the
    softmax (cce) or sigmoid (bce) whose output is p."""
    lo = float(np.asarray(p).dtype.type(EPS))  # the clip's bound in p's dtype
    c = clipped(p)
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    w = np.asarray(w, np.float64).reshape(-1, 1)
    n, k = p.shape
    t = smoothed(kind, y, s)
    inside = c == p
    if fused:
        g = (p - t) / (n if kind == "cce" else n * k)
    elif kind == "mse":
        g = 2 * (p - y) / (n * k)
    elif kind == "mae":
        g = np.sign(p - y) / (n * k)
    elif kind == "huber":
        g = np.clip(p - y, -s, s) / (n * k)
    elif kind == "log_cosh":
        g = np.tanh(p - y) / (n * k)
    elif kind == "kld":
        tc, pc = np.clip(y, lo, 1), np.clip(p, lo, 1)
        g = -tc / pc / n * (pc == p)
    elif kind == "poisson":
        g = (1 - y / (p + lo)) / (n * k)
    elif kind == "mape":
        g = 100 * np.sign(p - y) / np.maximum(np.abs(y), lo) / (n * k)
    elif kind == "msle":
        c = np.maximum(p, lo)
        g = 2 * (np.log(c + 1) - np.log(np.maximum(y, lo) + 1)) / (c + 1) / (n * k) * (c == p)
    elif kind in ("hinge", "squared_hinge"):
        t = 2 * y - 1 if np.all((y == 0) | (y == 1)) else y
        h = np.maximum(1 - t * p, 0)
        g = -t * ((h > 0) if kind == "hinge" else 2 * h) / (n * k)
    elif kind == "bce":
        g = (c - t) / (c * (1 - c)) / (n * k) * inside
    elif kind == "cce":
        g = -t / c / n * inside
    elif kind == "bce_logits":
        g = (1 / (1 + np.exp(-p)) - t) / (n * k)
    else:
        e = np.exp(p - p.max(axis=1, keepdims=True))
        g = (e / e.sum(axis=1, keepdims=True) * t.sum(axis=1, keepdims=True) - t) / n
    return g * w


def keras_hits(p, y, mode, w):
    """Weighted correct counts: categorical ``sum_i w_i [argmax p_i == argmax y_i]``, binary
    ``sum_i w_i #{j: (p_ij > 0.5) == (y_ij > 0.5)}`` (float64)."""
    w = np.asarray(w, np.float64).ravel()
    if mode == "categorical":
        return float(np.sum(w * (np.argmax(p, axis=1) == np.argmax(y, axis=1))))
    return float(np.sum(w * ((p > 0.5) == (y > 0.5)).sum(axis=1)))


# ------------------------------------------------------------------ inputs
def batch(rng, kind, dtype, shape):
    """(p, y) for a loss kind: logits, probabilities with clip-active values (0, 1, 1e-9) in the
    first row, or real numbers; one-hot, binary or real targets; p == y in places for mae."""
    n, k = shape
    if kind.endswith("_logits"):
        p = rng.standard_normal(shape) * 3
    elif kind in REGRESSION:
        p = rng.standard_normal(shape)
    else:
        p = rng.uniform(0.02, 0.98, shape)
        if kind == "cce":
            p /= p.sum(axis=1, keepdims=True)
            p[0] = 0.0  # a probability row, clipped at 0 and 1
            p[0, 1] = 1.0
        else:
            p[0, :3] = [0.0, 1.0, 1e-9]
    if kind.startswith("cce"):
        y = np.eye(k)[rng.integers(0, k, n)]
    elif kind.startswith("bce") or kind in ("hinge", "squared_hinge"):
        y = rng.integers(0, 2, shape).astype(np.float64)
    else:
        y = rng.standard_normal(shape)
        y[1, :3] = p[1, :3]  # mae's gradient is sign(0) = 0 there
    return p.astype(dtype), y.astype(dtype)


def weights(rng, n, dtype):
    """(n, 1) weights in [0, 2] with an exact zero and an exact one among them."""
    w = rng.uniform(0, 2, (n, 1))
    w[1], w[2] = 0.0, 1.0
    return w.astype(dtype)


def tolerance(dtype, scale=1.0):
    """(rtol, atol) against float64: float32 rounding, or float64's."""
    return (2e-5, 2e-6 * scale) if dtype == np.float32 else (1e-11, 1e-13 * scale)


def grad_of(dev, op, kind, p, y, s, w):
    out = dev.zeros(p.shape, p.dtype, np.nan)
    kwargs = {} if w is None else {"weights": dev.put(w)}
    getattr(dev.be, op)(kind, dev.put(p), dev.put(y), out, s, **kwargs)
    return dev.get(out)


def loss_total_of(dev, kind, p, y, s, w, start=0.0, times=1):
    total = dev.zeros(value=start)
    kwargs = {} if w is None else {"weights": dev.put(w)}
    for _ in range(times):
        dev.be.accumulate_loss(kind, dev.put(p), dev.put(y), total, s, **kwargs)
    return float(dev.get(total))


# ------------------------------------------------------------------ the reference is Keras's
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_the_hand_written_gradient_is_the_derivative_of_the_hand_written_loss(kind, smoothing):
    """Central differences of ``sum_i w_i L_i / n`` (float64, away from the clip and kinks)."""
    rng = np.random.default_rng(0)
    p, y = batch(rng, kind, np.float64, (5, 4))
    if kind in ("bce", "cce", "kld", "poisson", "msle"):  # away from the clip's edges (and from p = 0,
        # where poisson's p - h is the log of a negative number)
        p[0] = rng.uniform(0.2, 0.8, 4)
    if kind == "mae":
        y[1] += 0.5
    w = weights(rng, 5, np.float64)
    want = keras_grad(kind, p, y, w, smoothing)
    h = 1e-6
    numeric = np.empty_like(p)
    for idx in np.ndindex(p.shape):
        up, down = p.copy(), p.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (keras_loss(kind, up, y, w, smoothing) -
                        keras_loss(kind, down, y, w, smoothing)) / (2 * h)
    np.testing.assert_allclose(numeric, want, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ weighted ops against Keras
#: (op, kind, smoothing) of the weighted gradients: loss_grad of every loss case, and the fused
#: logit_grad (with respect to the softmax's or sigmoid's input) of bce and cce.
GRAD_CASES = [("loss_grad", kind, s) for kind, s in LOSS_CASES] + \
    [("logit_grad", kind, s) for kind in ("bce", "cce") for s in (0.0, 0.2)]


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op,kind,smoothing", GRAD_CASES)
def test_weighted_gradients_are_keras(dev, op, kind, smoothing, dtype, size):
    rng = np.random.default_rng(1)
    p, y = batch(rng, kind, dtype, SHAPES[size])
    w = weights(rng, len(p), dtype)
    got = grad_of(dev, op, kind, p, y, smoothing, w)
    want = keras_grad(kind, p, y, w, smoothing, fused=op == "logit_grad")
    rtol, atol = tolerance(dtype, np.abs(want).max())
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    assert np.all(got[1] == 0)  # the row of weight 0


@pytest.mark.parametrize("size", sorted(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_weighted_accumulate_loss_is_keras(dev, kind, smoothing, dtype, size):
    """``total += sum_i w_i L_i``, twice onto a total that was not zero."""
    rng = np.random.default_rng(3)
    p, y = batch(rng, kind, dtype, SHAPES[size])
    w = weights(rng, len(p), dtype)
    got = loss_total_of(dev, kind, p, y, smoothing, w, start=2.5, times=2)
    want = 2.5 + 2 * keras_loss(kind, p, y, w, smoothing) * len(p)
    assert got == pytest.approx(want, rel=2e-6 if dtype == np.float32 else 1e-12)


def hit_batch(rng, dtype, n=200, k=7):
    """Probabilities with a tie, NaNs (numpy.argmax's first NaN) and exact 0.5s; one-hot y."""
    p = rng.uniform(0, 1, (n, k)).astype(dtype)
    y = np.eye(k, dtype=dtype)[rng.integers(0, k, n)]
    p[0] = [0.2, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0]  # a tie: the first maximum
    y[0] = np.eye(k, dtype=dtype)[1]
    p[1] = [0.2, np.nan, 0.9, np.nan, 0.0, 0.0, 0.0]  # the first NaN is the argmax
    y[1] = np.eye(k, dtype=dtype)[1]
    p[3, :] = 0.5  # not above the threshold
    return p, y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["categorical", "binary"])
def test_weighted_accumulate_correct_is_keras(dev, mode, dtype):
    """Weights that are multiples of 1/8 add up exactly in any order: equality."""
    rng = np.random.default_rng(4)
    p, y = hit_batch(rng, dtype)
    w = (rng.integers(0, 33, (len(p), 1)) / 8).astype(dtype)
    total = dev.zeros(value=7.0)
    for _ in range(2):
        dev.be.accumulate_correct(dev.put(p), dev.put(y), mode, total, weights=dev.put(w))
    assert float(dev.get(total)) == 7.0 + 2 * keras_hits(p, y, mode, w)
    w = rng.uniform(0, 3, (len(p), 1)).astype(dtype)  # any weights: to float64 rounding
    total = dev.zeros()
    dev.be.accumulate_correct(dev.put(p), dev.put(y), mode, total, weights=dev.put(w))
    assert float(dev.get(total)) == pytest.approx(keras_hits(p, y, mode, w), rel=1e-13)


def softmax_batch(rng, dtype, n, k):
    p = rng.uniform(0, 1, (n, k)) ** 3
    p /= p.sum(axis=1, keepdims=True)
    p[0, :] = 0
    p[0, 0] = 1  # the clip is active
    y = np.eye(k)[rng.integers(0, k, n)]
    return p.astype(dtype), y.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,k", [(9, 4), (128, 10), (1000, 7)])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("with_hits", [True, False])
def test_weighted_softmax_cce_step_weights_loss_and_gradient_not_hits(dev, dtype, n, k, smoothing,
                                                                      with_hits):
    """Against Keras (loss, gradient), the unweighted hit count, and the backend's own weighted
    accumulate_loss and logit_grad (the gradient bit for bit). (1000 rows: several per thread.)"""
    rng = np.random.default_rng(n + k)
    p, y = softmax_batch(rng, dtype, n, k)
    w = weights(rng, n, dtype)
    loss, hits, grad = dev.zeros(value=2.5), dev.zeros(value=7.0), dev.zeros(p.shape, dtype)
    dev.be.softmax_cce_step(dev.put(p), dev.put(y), grad, loss, hits if with_hits else None,
                            smoothing, weights=dev.put(w))
    want_grad = keras_grad("cce", p, y, w, smoothing, fused=True)
    rtol, atol = tolerance(dtype, np.abs(want_grad).max())
    np.testing.assert_allclose(dev.get(grad), want_grad, rtol=rtol, atol=atol)
    assert_ulp(dev.get(grad), grad_of(dev, "logit_grad", "cce", p, y, smoothing, w), 0,
               "against logit_grad")
    want_loss = 2.5 + keras_loss("cce", p, y, w, smoothing) * n
    assert float(dev.get(loss)) == pytest.approx(want_loss, rel=2e-6 if dtype == np.float32
                                                 else 1e-12)
    assert float(dev.get(loss)) == pytest.approx(
        loss_total_of(dev, "cce", p, y, smoothing, w, start=2.5), rel=1e-13)
    unweighted = float(np.sum(np.argmax(p, axis=1) == np.argmax(y, axis=1)))
    assert float(dev.get(hits)) == (7.0 + unweighted if with_hits else 7.0)


# ------------------------------------------------------------------ ones, and half the rows
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_weights_of_ones_give_the_unweighted_results(dev, kind, smoothing, dtype):
    rng = np.random.default_rng(5)
    p, y = batch(rng, kind, dtype, SHAPES["small"])
    ones = np.ones((len(p), 1), dtype)
    assert_ulp(grad_of(dev, "loss_grad", kind, p, y, smoothing, ones),
               grad_of(dev, "loss_grad", kind, p, y, smoothing, None), 0, "loss_grad")
    if kind in ("bce", "cce"):
        assert_ulp(grad_of(dev, "logit_grad", kind, p, y, smoothing, ones),
                   grad_of(dev, "logit_grad", kind, p, y, smoothing, None), 0, "logit_grad")
    assert loss_total_of(dev, kind, p, y, smoothing, ones) == pytest.approx(
        loss_total_of(dev, kind, p, y, smoothing, None), rel=2e-6 if dtype == np.float32
        else 1e-13)
    for mode in ("categorical", "binary"):
        plain, weighted = dev.zeros(), dev.zeros()
        dev.be.accumulate_correct(dev.put(p), dev.put(y), mode, plain)
        dev.be.accumulate_correct(dev.put(p), dev.put(y), mode, weighted, weights=dev.put(ones))
        assert float(dev.get(weighted)) == float(dev.get(plain))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind,smoothing", LOSS_CASES)
def test_zero_weights_on_half_the_rows_leave_the_other_half(dev, kind, smoothing, dtype):
    """Weight c on the even rows and 0 on the odd ones: the gradient's even rows are c m / n
    times the unweighted gradient of the m even rows alone (it is scaled by 1 / m there), its
    odd rows zero; the loss total and the correct counts are c times the even rows' alone."""
    rng = np.random.default_rng(6)
    p, y = batch(rng, kind, dtype, (10, 13))
    n, c = len(p), 1.5
    w = np.zeros((n, 1), dtype)
    w[::2] = c
    half_p, half_y = np.ascontiguousarray(p[::2]), np.ascontiguousarray(y[::2])
    m = len(half_p)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    ops = ["loss_grad"] + (["logit_grad"] if kind in ("bce", "cce") else [])
    for op in ops:
        got = grad_of(dev, op, kind, p, y, smoothing, w)
        half = grad_of(dev, op, kind, half_p, half_y, smoothing, None)
        assert np.all(got[1::2] == 0), op
        np.testing.assert_allclose(got[::2], half * (c * m / n), rtol=rtol,
                                   atol=rtol * np.abs(half).max(), err_msg=op)
    assert loss_total_of(dev, kind, p, y, smoothing, w) == pytest.approx(
        c * loss_total_of(dev, kind, half_p, half_y, smoothing, None),
        rel=2e-6 if dtype == np.float32 else 1e-13)
    for mode in ("categorical", "binary"):
        full, half = dev.zeros(), dev.zeros()
        dev.be.accumulate_correct(dev.put(p), dev.put(y), mode, full, weights=dev.put(w))
        dev.be.accumulate_correct(dev.put(half_p), dev.put(half_y), mode, half)
        assert float(dev.get(full)) == c * float(dev.get(half))


# ------------------------------------------------------------------ checks and launches
@pytest.mark.parametrize("op", ["loss_grad", "logit_grad", "accumulate_loss",
                                "accumulate_correct", "softmax_cce_step"])
def test_weights_that_do_not_fit_the_batch_are_refused(dev, op):
    p = np.full((4, 3), 0.25, np.float32)
    out, total = dev.zeros(p.shape, np.float32), dev.zeros()
    for bad in (np.ones((5, 1), np.float32), np.ones((4, 2), np.float32),
                np.ones((4, 1), np.float64), np.ones((4, 2), np.float32)[:, :1]):
        args = {"loss_grad": ("cce", p, p, out), "logit_grad": ("cce", p, p, out),
                "accumulate_loss": ("cce", p, p, total),
                "accumulate_correct": (p, p, "binary", total),
                "softmax_cce_step": (p, p, out, total, total)}[op]
        args = [dev.put(a) if isinstance(a, np.ndarray) else a for a in args]
        bad = dev.put(bad) if bad.flags.c_contiguous else bad
        with pytest.raises(InvalidInputError, match=r"per-sample weights must be .*\(4, 1\)"):
            getattr(dev.be, op)(*args, weights=bad)


def test_weighted_ops_launch_the_weighted_twins_as_often_as_the_unweighted_ops(gpu):
    """On the CuPy backend (in the harness) a weighted op launches NAME_w where the unweighted
    op launches NAME, the same number of launches; weights=None launches no twin."""
    p = host(np.full((6, 4), 0.25, np.float32))
    w = host(np.full((6, 1), 0.5, np.float32))
    out, total = host(np.empty((6, 4), np.float32)), host(np.zeros(()))
    calls = [("loss_grad", kind, p, p, out) for kind in LOSS_KINDS] + \
        [("logit_grad", kind, p, p, out) for kind in ("bce", "cce")] + \
        [("accumulate_loss", kind, p, p, total) for kind in LOSS_KINDS] + \
        [("accumulate_correct", p, p, mode, total) for mode in ("categorical", "binary")] + \
        [("softmax_cce_step", p, p, out, total, total)]
    for name, *args in calls:
        kernel_harness.LAUNCHES.clear()
        getattr(gpu, name)(*args)
        plain = list(kernel_harness.LAUNCHES)
        kernel_harness.LAUNCHES.clear()
        getattr(gpu, name)(*args, weights=w)
        weighted = list(kernel_harness.LAUNCHES)
        assert not any(k.endswith("_w") for k in plain), (name, plain)
        assert weighted == [k if k == "add_chunk_sums" else k + "_w" for k in plain], name


# ------------------------------------------------------------------ Loss objects
def test_loss_accumulate_and_gradient_pass_the_weights_on():
    be, rng = NumpyBackend(), np.random.default_rng(7)
    p, y = batch(rng, "cce", np.float64, (6, 4))
    w = weights(rng, 6, np.float64)
    loss = losses.CategoricalCrossentropy(label_smoothing=0.1)
    total = np.zeros(())
    loss.accumulate(be, p, y, total, weights=w)
    assert float(total) == pytest.approx(keras_loss("cce", p, y, w, 0.1) * 6, rel=1e-12)
    for fused in (False, True):
        out = np.empty_like(p)
        loss.gradient(be, p, y, out, fused, weights=w)
        np.testing.assert_allclose(out, keras_grad("cce", p, y, w, 0.1, fused=fused),
                                   rtol=1e-12, atol=1e-15)


CALLED = [
    (losses.MeanSquaredError(), "mse", 0.0, False),
    (losses.MeanAbsoluteError(), "mae", 0.0, False),
    (losses.Huber(), "huber", 1.0, False),
    (losses.Huber(delta=0.3), "huber", 0.3, False),
    (losses.LogCosh(), "log_cosh", 0.0, False),
    (losses.KLDivergence(), "kld", 0.0, False),
    (losses.Poisson(), "poisson", 0.0, False),
    (losses.MeanAbsolutePercentageError(), "mape", 0.0, False),
    (losses.MeanSquaredLogarithmicError(), "msle", 0.0, False),
    (losses.Hinge(), "hinge", 0.0, False),
    (losses.SquaredHinge(), "squared_hinge", 0.0, False),
    (losses.BinaryCrossentropy(), "bce", 0.0, False),
    (losses.BinaryCrossentropy(label_smoothing=0.2), "bce", 0.2, False),
    (losses.BinaryCrossentropy(from_logits=True), "bce_logits", 0.0, False),
    (losses.CategoricalCrossentropy(), "cce", 0.0, False),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), "cce_logits", 0.1,
     False),
    (losses.SparseCategoricalCrossentropy(), "cce", 0.0, True),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "cce_logits", 0.0, True),
]


@pytest.mark.parametrize("loss,kind,smoothing,sparse", CALLED, ids=[c[1] + ("-sparse" if c[3]
                                                                           else f"-{c[2]}")
                                                                     for c in CALLED])
def test_a_loss_called_with_sample_weight_is_keras(loss, kind, smoothing, sparse):
    """``sum_i w_i L_i / n`` for weights of shape (n,) and (n, 1), any real numbers (Keras
    allows negative ones), and a scalar for all."""
    rng = np.random.default_rng(8)
    p, y = batch(rng, kind, np.float64, (6, 4))
    if kind == "bce":
        p[0, :3] = [0.3, 0.6, 0.01]  # in [0, 1], as the loss checks
    labels = np.argmax(y, axis=1) if sparse else y
    w = np.array([0.5, 0.0, 2.0, 1.0, -0.25, 3.0])
    want = float(np.sum(w * keras_per_sample(kind, p, y, smoothing)) / 6)
    assert loss(labels, p, sample_weight=w) == pytest.approx(want, rel=1e-12)
    assert loss(labels, p, sample_weight=w[:, None].tolist()) == pytest.approx(want, rel=1e-12)
    plain = loss(labels, p)
    assert loss(labels, p, sample_weight=0.5) == pytest.approx(0.5 * plain, rel=1e-12)
    assert loss(labels, p, sample_weight=np.ones(6)) == pytest.approx(plain, rel=1e-12)


def test_the_sum_is_divided_by_the_samples_not_by_the_weights():
    mse = losses.MeanSquaredError()
    assert mse([[0.0], [0.0]], [[1.0], [3.0]], sample_weight=[2.0, 0.0]) == 1.0  # (2 * 1) / 2
    cce = losses.CategoricalCrossentropy()
    assert cce([0, 1, 0], [0.05, 0.95, 0], sample_weight=2.0) == pytest.approx(-2 * np.log(0.95))
    assert cce([0, 1, 0], [0.05, 0.95, 0], sample_weight=[2.0]) == pytest.approx(-2 * np.log(0.95))


@pytest.mark.parametrize("sample_weight,message", [
    ([1.0, np.nan, 1.0], r"sample_weight\[1\] is nan .*finite.*weight of 0"),
    ([np.inf, 1.0, -np.inf], r"sample_weight\[0\] is inf \(2 weights are not finite numbers\)"),
    ([1.0, 1.0], r"shape \(2,\), but there are 3 samples.*\(3,\) or \(3, 1\)"),
    ([[1.0, 1.0]] * 3, r"shape \(3, 2\)"),
    ([[1.0, 1.0, 1.0]], r"shape \(1, 3\)"),
    ("heavy", "sample_weight cannot be read as an array of numbers"),
])
def test_bad_sample_weights_are_refused_with_the_fix(sample_weight, message):
    with pytest.raises(InvalidInputError, match=message):
        losses.MeanSquaredError()(np.zeros((3, 2)), np.ones((3, 2)), sample_weight=sample_weight)


# ------------------------------------------------------------------ on a GPU (skipped without)
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_ops_on_a_cuda_device_are_keras(dtype):
    """Every weighted op of the CuPy backend on a real device, against Keras's formulas (the
    CPU harness above runs the same kernel objects; this runs them on the GPU: FTZ, its libm,
    atomics in any order). Kept short: one call per op and kind."""
    gpu = require_cuda()
    dev = Device(gpu, gpu.from_host, gpu.to_host)
    rng = np.random.default_rng(9)
    for kind, smoothing in LOSS_CASES:
        p, y = batch(rng, kind, dtype, (1000, 10))
        w = weights(rng, len(p), dtype)
        ops = [("loss_grad", False)] + ([("logit_grad", True)] if kind in ("bce", "cce") else [])
        for op, fused in ops:
            want = keras_grad(kind, p, y, w, smoothing, fused=fused)
            rtol, atol = tolerance(dtype, np.abs(want).max())
            np.testing.assert_allclose(grad_of(dev, op, kind, p, y, smoothing, w), want,
                                       rtol=rtol, atol=atol, err_msg=f"{op} {kind}")
        assert loss_total_of(dev, kind, p, y, smoothing, w) == pytest.approx(
            keras_loss(kind, p, y, w, smoothing) * len(p),
            rel=2e-6 if dtype == np.float32 else 1e-12), kind
    p, y = hit_batch(rng, dtype, n=1000)
    w = (rng.integers(0, 33, (len(p), 1)) / 8).astype(dtype)
    for mode in ("categorical", "binary"):
        total = dev.zeros()
        gpu.accumulate_correct(dev.put(p), dev.put(y), mode, total, weights=dev.put(w))
        assert float(dev.get(total)) == keras_hits(p, y, mode, w), mode
    p, y = softmax_batch(rng, dtype, 20000, 10)
    w = weights(rng, len(p), dtype)
    loss, hits, grad = dev.zeros(), dev.zeros(), dev.zeros(p.shape, dtype)
    gpu.softmax_cce_step(dev.put(p), dev.put(y), grad, loss, hits, 0.1, weights=dev.put(w))
    want = keras_grad("cce", p, y, w, 0.1, fused=True)
    rtol, atol = tolerance(dtype, np.abs(want).max())
    np.testing.assert_allclose(dev.get(grad), want, rtol=rtol, atol=atol)
    assert float(dev.get(loss)) == pytest.approx(keras_loss("cce", p, y, w, 0.1) * len(p),
                                                 rel=2e-6 if dtype == np.float32 else 1e-12)
    assert float(dev.get(hits)) == float(np.sum(np.argmax(p, axis=1) == np.argmax(y, axis=1)))
