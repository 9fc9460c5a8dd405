"""The metric ops of every backend (kernels/metrics.cu) against the NumPy reference.

The compiled CPU backend (OpenMP and serial builds, and never falling back to NumPy:
``kernels_only``) and the CuPy backend's own call sites routed to the g++ harness
(``kernel_harness``) run the kernels on random batches with edge values (ties, exact thresholds,
0 and 1, NaN, inf); their counts must equal NumPy's exactly and their weighted sums to rounding.
The kernels' NVRTC compile is tests/test_kernel_nvrtc.py (every kernel of kernels/).
"""


import numpy as np
import pytest

from gpudnn.backend import NumpyBackend
from kernel_harness import host

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy on NaN

DTYPES = (np.float32, np.float64)


@pytest.fixture(scope="module")
def gpu():
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


@pytest.fixture(params=["native", "cupy-harness"])
def other(request, compiled, kernels_only):
    """(backend, to_device) of the backend under test."""
    if request.param == "native":
        return compiled, lambda a: a
    return request.getfixturevalue("gpu"), lambda a: host(np.array(a))


def batch(dtype, n=70, k=5, seed=0):
    rng = np.random.default_rng(seed)
    p = np.round(rng.random((n, k)) * 8).astype(dtype) / 8  # ties and exact thresholds
    p[:10] = rng.random((10, k))
    p[10, :] = [0.5, 0.5, 1.0, 0.0, 0.25][:k]
    p[11, :] = [np.nan, 0.3, np.inf, -np.inf, 0.7][:k]
    p[12, :] = [-0.5, 1.5, 2.0, -3.0, 0.999][:k]
    y = (rng.random((n, k)) < 0.35).astype(dtype)
    y[20:30] = np.eye(k, dtype=dtype)[rng.integers(0, k, 10)]
    y[30:34] = np.round(rng.random((4, k)) * 4) / 4  # soft targets
    w = (rng.random((n, 1)) * 2).astype(dtype)
    w[::7] = 0
    return p.astype(dtype), y, w


def assert_same(expected, got, weighted):
    got = np.asarray(got).view(np.ndarray)
    if weighted:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, expected)


def compare(other, op, shape, dtype, weighted):
    """Run ``op(backend, p, y, acc, weights)`` on NumPy and on the other backend; the NumPy
    accumulator (never all zeros: an op that added nothing would pass) is returned."""
    backend, dev = other
    p, y, w = batch(dtype)
    expected = np.zeros(shape)
    op(NumpyBackend(), p, y, expected, w if weighted else None)
    got = dev(np.zeros(shape))
    op(backend, dev(p), dev(y), got, dev(w) if weighted else None)
    assert_same(expected, got, weighted)
    assert expected.any()
    return expected


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threshold", [None, 0.5, 0.3])
def test_matches(other, dtype, weighted, threshold):
    compare(other, lambda be, p, y, t, w: be.accumulate_matches(p, y, t, threshold, weights=w),
            (), dtype, weighted)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 2, 4, 9])
def test_top_k(other, dtype, weighted, k):
    compare(other, lambda be, p, y, t, w: be.accumulate_top_k(p, y, k, t, weights=w),
            (), dtype, weighted)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("squared", [False, True])
def test_errors(other, dtype, weighted, squared):
    backend, dev = other
    p, y, w = batch(dtype)
    p = np.nan_to_num(p, nan=0.1, posinf=3.0, neginf=-2.0)  # finite: NaN sums are NaN anyway
    expected, got = np.zeros(()), dev(np.zeros(()))
    NumpyBackend().accumulate_errors(p, y, squared, expected, weights=w if weighted else None)
    backend.accumulate_errors(dev(p), dev(y), squared, got, weights=dev(w) if weighted else None)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12)


CONFUSION = [{}, {"class_id": 3}, {"top_k": 2}, {"top_k": 1, "class_id": 0},
             {"label_weights": (1.0, 0.5, 2.0, 0.0, 3.0)}, {"from_logits": True}]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("options", CONFUSION)
@pytest.mark.parametrize("thresholds", [(0.5,), (0.0, 0.25, 0.5, 0.9, 1.0), (-1e10,)])
def test_confusion(other, dtype, weighted, options, thresholds):
    counts = compare(other, lambda be, p, y, c, w: be.accumulate_confusion(
        p, y, thresholds, c, weights=w, **options), (4, len(thresholds)), dtype,
        weighted or "label_weights" in options)
    # every element counted once per threshold
    columns = 1 if "class_id" in options else 5
    if not weighted and "label_weights" not in options:
        assert (counts.sum(axis=0) == 70 * columns).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("threshold", [None, 0.5, 0.25])
def test_class_counts(other, dtype, weighted, threshold):
    """F-score counts: ties, a NaN row, soft targets (counted by value), exact thresholds."""
    counts = compare(other, lambda be, p, y, c, w: be.accumulate_class_counts(
        p, y, threshold, c, weights=w), (4, 5), dtype, weighted)
    np.testing.assert_allclose(counts[0] + counts[2], counts[3], rtol=1e-12)  # TP + FN = S


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("options", [{}, {"multi_label": True}, {"from_logits": True},
                                     {"label_weights": (1.0, 0.5, 2.0, 0.0, 3.0)}])
@pytest.mark.parametrize("buckets", [200, 3, 11])
def test_buckets(other, dtype, weighted, options, buckets):
    labels = 5 if options.get("multi_label") else 1
    counts = compare(other, lambda be, p, y, c, w: be.accumulate_buckets(
        p, y, c, weights=w, **options), (2, labels, buckets + 1), dtype,
        weighted or "label_weights" in options)
    if not weighted and "label_weights" not in options:
        assert counts.sum() == 70 * 5
        assert counts[:, :, buckets].sum() == 1  # the NaN, positive at no threshold
        assert counts[:, :, buckets - 1].sum() == 0  # only above 1 + eps: never after clipping


def test_buckets_are_keras_ceil_minus_one():
    """N = 3 thresholds [-eps, 0.5, 1 + eps]: p in (b/(N - 1), (b + 1)/(N - 1)] falls in bucket
    b (positive at thresholds 0..b), 0 and below in bucket 0, above 1 as 1."""
    p = np.array([[0.0, 0.5, 0.50001, 1.0, -1.0, 0.2, 7.0]], np.float32)
    counts = np.zeros((2, 1, 4))
    NumpyBackend().accumulate_buckets(p, np.ones_like(p), counts)
    assert counts[0, 0].tolist() == [4.0, 3.0, 0.0, 0.0]  # 0, 0.5, -1, 0.2 | 0.50001, 1, 7
