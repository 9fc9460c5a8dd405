"""Distance in units in the last place between float arrays, for exact-ish comparisons."""

import numpy as np

_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def ulp_distance(a, b):
    """Elementwise |a - b| in ulp (ordered integer representation: +0 and -0 are 0 apart), as
    exact uint64 counts. NaN against NaN is 0; NaN against a number is the dtype's maximum."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.dtype in _INT, (a.dtype, b.dtype)
    itype = _INT[a.dtype]
    big = np.iinfo(itype).max

    def ordered(x):
        i = x.view(itype).astype(np.int64)
        return np.where(i < 0, np.int64(np.iinfo(itype).min) - i, i).astype(np.uint64)

    oa, ob = ordered(a), ordered(b)  # as uint64: the difference below wraps, then is exact
    d = np.where(oa.view(np.int64) >= ob.view(np.int64), oa - ob, ob - oa)
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    d = np.where(nan_a & nan_b, np.uint64(0), d)
    return np.where(nan_a ^ nan_b, np.uint64(big), d)


def assert_ulp(actual, expected, max_ulp, what=""):
    """Fail with the worst element when ``actual`` and ``expected`` differ by more than
    ``max_ulp`` anywhere (NaN must match NaN; infinities must match exactly)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    d = ulp_distance(actual, expected)
    worst = np.unravel_index(np.argmax(d), d.shape) if d.size else None
    assert d.size == 0 or d[worst] <= max_ulp, (
        f"{what}: {d[worst]:.0f} ulp at {worst}: got {actual[worst]!r}, "
        f"expected {expected[worst]!r} ({np.count_nonzero(d > max_ulp)} elements over {max_ulp})")


#: Activation backwards that call the C library's expm1, tanh, exp or erf (NumPy has its own, and
#: no erf: the reference calls math.erf in float64): ulp allowed.
TRANSCENDENTAL_BACKWARD_ULP = {"softplus": 4, "silu": 4, "gelu": 4}


def assert_backward_matches(kind, actual, expected, y, dy):
    """An activation backward against NumPy's: bit-identical, except softplus (expm1 from
    another libm, 4 ulp) and softmax, whose ``dy - sum(dy y)`` cancels, so its row sum's
    rounding error is absolute (8 eps of max |dy|)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if kind != "softmax":
        assert_ulp(actual, expected, TRANSCENDENTAL_BACKWARD_ULP.get(kind, 0), f"{kind} backward")
        return
    finite = np.isfinite(dy).all(axis=1) & np.isfinite(y).all(axis=1)
    atol = 8 * np.finfo(dy.dtype).eps * np.abs(dy[finite]).max()
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=0, atol=atol)
    assert np.array_equal(np.isnan(actual), np.isnan(expected))


#: Loss kinds whose gradient kernels call exp or tanh (the C library's, where NumPy has its own)
#: and, for cce_logits, sum a row in another order; the others are NumPy's arithmetic.
TRANSCENDENTAL_LOSS_GRADS = ("bce_logits", "cce_logits", "log_cosh", "msle")


def assert_loss_grad_matches(kind, actual, expected, what=""):
    """A loss gradient against NumPy's: bit-identical, except the logits kinds, whose
    ``softmax(x) - t`` or ``sigmoid(x) - t`` cancels: their error is absolute, 16 eps of the
    largest |gradient|, plus k/4 eps for softmax's row sum over k classes (summed in order where
    NumPy sums pairwise); NaN must match NaN."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    if kind not in TRANSCENDENTAL_LOSS_GRADS:
        assert_ulp(actual, expected, 0, what or f"{kind} gradient")
        return
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), what or kind
    finite = ~np.isnan(expected)
    eps = (16 + (expected.shape[-1] / 4 if kind == "cce_logits" else 0)) * \
        np.finfo(expected.dtype).eps
    atol = eps * np.abs(expected[finite]).max()
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=0, atol=atol,
                               err_msg=what or f"{kind} gradient")
