"""The counter-based generator of ``kernels/random.cu`` in NumPy: the CPU reference of its words
(Dropout's masks) and of its normals (GaussianNoise, GaussianDropout), to the bit.

Element i of the stream (seed, step) is the word ``mix64(key + GOLDEN * (i + 1))`` with
``key = mix64(mix64(seed) ^ step)`` (splitmix64). A normal is drawn from one word by Box-Muller
on its two 32-bit halves, its ln and cos computed from + - * / sqrt and frexp alone in the
kernel's order of operations (see the comment at the top of random.cu): every one of those is
exact or correctly rounded in IEEE double in NumPy as on the CPU and the GPU, so the draws agree
to the bit everywhere.
"""

import math

import numpy as np

#: splitmix64's constants (kernels/random.cu): the golden-ratio increment and the two multipliers.
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
WORD = (1 << 64) - 1
_U64 = np.uint64

#: gpudnn_normal's constants, the very doubles of random.cu's literals and constant quotients.
SQRT_HALF, LN2, ANGLE = 0.7071067811865476, 0.6931471805599453, 3.141592653589793 / 2147483648.0
#: ln's series 1 / (2k + 1), k = 10 .. 1 (Horner order; the last term, 1, is added after).
LN_TERMS = tuple(1.0 / (2 * k + 1) for k in range(10, 0, -1))
#: cos's and sin's Taylor terms (-1)^k / (2k)! and (-1)^k / (2k + 1)!, k = 8 .. 1 (Horner order):
#: ``x + (-c)`` is ``x - c`` in IEEE arithmetic, as random.cu writes it.
COS_TERMS = tuple((-1.0 if k % 2 else 1.0) / math.factorial(2 * k) for k in range(8, 0, -1))
SIN_TERMS = tuple((-1.0 if k % 2 else 1.0) / math.factorial(2 * k + 1) for k in range(8, 0, -1))


def mix64(z):
    """splitmix64's finaliser on a Python int (a 64-bit word)."""
    z &= WORD
    z = ((z ^ (z >> 30)) * MIX1) & WORD
    z = ((z ^ (z >> 27)) * MIX2) & WORD
    return z ^ (z >> 31)


def stream_key(seed, step):
    """``mix64(mix64(seed) ^ step)``: the key of the stream (seed, step), a Python int."""
    return mix64(mix64(int(seed)) ^ (int(step) & WORD))


def mix64_inplace(z, t):
    """mix64 on a uint64 array ``z`` in place (``t`` a scratch of its shape); uint64 array
    arithmetic wraps modulo 2^64 as the C code does."""
    for shift, mult in ((30, MIX1), (27, MIX2), (31, None)):
        np.right_shift(z, _U64(shift), out=t)
        z ^= t
        if mult is not None:
            z *= _U64(mult)


def words(key, index, out, scratch):
    """The words ``mix64(key + index)`` into ``out``; ``index`` holds ``GOLDEN * (i + 1)``
    (uint64, wrapped) for the elements wanted; ``key`` a Python int (a stream's key, plus
    ``GOLDEN * offset`` for a stream read from element ``offset``)."""
    np.add(index, _U64(int(key) & WORD), out=out)
    mix64_inplace(out, scratch)
    return out


def random_bits(seed, step, size, out=None, scratch=None, index=None):
    """The random words of kernels/random.cu for elements 0..size-1 of (seed, step), as uint64:
    ``mix64(mix64(mix64(seed) ^ step) + GOLDEN * (i + 1))``. ``index`` may hold the precomputed
    ``GOLDEN * (i + 1)``; ``out``/``scratch`` uint64 buffers of ``size`` (allocated when None)."""
    if index is None:
        index = golden_index(np.arange(size, dtype=np.uint64))
    z = np.empty(size, np.uint64) if out is None else out
    t = np.empty(size, np.uint64) if scratch is None else scratch
    return words(stream_key(seed, step), index, z, t)


def golden_index(elements):
    """``GOLDEN * (j + 1)`` (uint64, wrapped) of the element indices ``elements`` (uint64), in
    place."""
    elements += _U64(1)
    elements *= _U64(GOLDEN)
    return elements


def _horner(x, terms, last, out):
    """``(...(terms[0] x + terms[1]) x + ...) x + last`` into ``out``, operation for operation."""
    np.multiply(x, terms[0], out=out)
    for term in terms[1:]:
        out += term
        out *= x
    out += last
    return out


def normals(bits, out=None, work=None):
    """Standard normals (float64) from the words ``bits`` (uint64): random.cu's gpudnn_normal,
    the same operations in the same order, so the same doubles. ``work(name, dtype)`` gives a
    scratch array of bits' shape (allocated when None); ``out`` float64 of that shape."""
    shape = bits.shape
    if work is None:
        def work(_name, dtype):
            return np.empty(shape, dtype)
    out = np.empty(shape, np.float64) if out is None else out
    m, e = work("m", np.uint64), work("e", np.int32)
    f, s, p = work("f", np.float64), work("s", np.float64), work("p", np.float64)
    low = work("low", np.bool_)
    # ln u1, u1 = m / 2^33, m = 2 hi + 1 = f 2^e
    np.right_shift(bits, _U64(32), out=m)
    np.left_shift(m, _U64(1), out=m)
    np.bitwise_or(m, _U64(1), out=m)
    np.copyto(f, m)  # exact: m < 2^33
    np.frexp(f, out=(f, e))
    np.less(f, SQRT_HALF, out=low)
    np.add(f, f, out=f, where=low)
    np.subtract(e, 1, out=e, where=low)
    np.subtract(f, 1.0, out=s)
    f += 1.0
    s /= f  # s = (f - 1) / (f + 1)
    np.multiply(s, s, out=f)  # s2
    _horner(f, LN_TERMS, 1.0, p)
    s *= 2.0
    s *= p  # 2 s p: ln f
    e -= 33
    np.copyto(f, e)
    f *= LN2
    s += f  # ln u1
    s *= -2.0
    np.sqrt(s, out=s)  # the radius r
    # cos 2 pi u2: quadrant q and angle c in it; folded c > 2^29 -> 2^30 - c
    np.bitwise_and(bits, _U64(0xFFFFFFFF), out=m)
    q = work("q", np.uint64)
    np.right_shift(m, _U64(30), out=q)
    m &= _U64(0x3FFFFFFF)
    fold = work("fold", np.bool_)
    np.greater(m, _U64(0x20000000), out=fold)
    np.subtract(_U64(0x40000000), m, out=m, where=fold)
    np.copyto(f, m)  # exact: below 2^30
    f *= ANGLE  # a
    np.multiply(f, f, out=out)  # a2
    _horner(out, COS_TERMS, 1.0, p)  # cos a
    sin_a = _horner(out, SIN_TERMS, 1.0, work("sin", np.float64))
    sin_a *= f  # sin a
    # v: sin a where (q odd) != fold, else cos a; negated in quadrants 1 and 2
    np.bitwise_and(q, _U64(1), out=m)
    np.not_equal(m.view(np.int64), 0, out=low)
    np.not_equal(low, fold, out=low)
    np.copyto(p, sin_a, where=low)
    q += _U64(1)
    q &= _U64(2)
    np.not_equal(q.view(np.int64), 0, out=low)
    np.negative(p, out=p, where=low)
    np.multiply(s, p, out=out)
    return out
