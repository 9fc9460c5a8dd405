"""The NumPy reference of the noise ops (backend/noise.py): shared dropout masks, GaussianNoise
and GaussianDropout, drawing the very words and normals of ``kernels/random.cu``
(counter_rng.py). A mixin of :class:`~gpudnn.backend.numpy_backend.NumpyBackend`.

The normals are drawn CHUNK elements at a time into work arrays of CHUNK elements kept by the
backend: a step allocates nothing after its first, whatever the layers' widths, and the dozen
passes of the Box-Muller arithmetic stay in cache.
"""

import numpy as np

from .base import dropout_threshold
from .counter_rng import GOLDEN, golden_index, normals, stream_key, words
from .numpy_mixed import quiet_overflow

#: Elements whose normals are drawn in one go.
CHUNK = 1 << 14


class NumpyNoise:
    """Mixin of NumpyBackend (which gives ``_scratch`` and ``_golden_index``)."""

    @quiet_overflow  # under float16 loss scaling an inf gradient meets a 0: no warning (see numpy_mixed)
    def dropout_shared(self, x, seed, step, rate, out, share):
        n, k = x.shape
        rows, cols = (1 if share[0] else n), (1 if share[1] else k)
        index = self._shared_index(rows, cols, k)
        bits = words(stream_key(seed, int(step[0])), index,
                     self._scratch((rows, cols), np.uint64, slot="shared-bits"),
                     self._scratch((rows, cols), np.uint64, slot="shared-t"))
        np.right_shift(bits, np.uint64(32), out=bits)
        keep = self._scratch((rows, cols), np.bool_, slot="shared-keep")
        np.greater_equal(bits, np.uint64(dropout_threshold(rate)), out=keep)
        np.multiply(x, x.dtype.type(1.0 / (1.0 - rate)), out=out)
        out *= keep  # broadcast along the shared axes: every element of a group, one draw

    def _shared_index(self, rows, cols, k):
        """``GOLDEN * (j + 1)``, j = r k + c, of the drawn (rows, cols) elements; kept."""
        cache = self.__dict__.setdefault("_shared_index_cache", {})
        index = cache.get((rows, cols, k))
        if index is None:
            if len(cache) >= 8:
                cache.pop(next(iter(cache)))
            flat = (np.arange(rows, dtype=np.uint64)[:, None] * np.uint64(k)
                    + np.arange(cols, dtype=np.uint64)[None, :])
            index = cache[(rows, cols, k)] = golden_index(flat)
        return index

    def gaussian_noise(self, x, seed, step, stddev, out):
        self._gaussian(x, seed, step, stddev, out, np.add, 0.0)

    def gaussian_dropout(self, x, seed, step, stddev, out):
        self._gaussian(x, seed, step, stddev, out, np.multiply, 1.0)

    @quiet_overflow
    def _gaussian(self, x, seed, step, stddev, out, combine, mean):
        """``out = combine(x, (T)(mean + stddev z))`` chunk by chunk (``stddev * z + mean`` is
        the kernel's ``mean + stddev * z``: IEEE + and * commute)."""
        key = stream_key(seed, int(step[0]))
        src, dst = x.reshape(-1), out.reshape(-1)
        index = self._golden_index(CHUNK)
        for start in range(0, src.size, CHUNK):
            m = min(CHUNK, src.size - start)

            def work(name, dtype, m=m):
                return self._scratch((CHUNK,), dtype, slot=("noise", name))[:m]

            # element start + i's word: key + GOLDEN (start + i + 1), wrapped
            bits = words(key + GOLDEN * start, index[:m], work("bits", np.uint64),
                         work("t", np.uint64))
            z = normals(bits, work("z", np.float64), work)
            z *= stddev
            if mean:
                z += mean
            noise = work("noise", x.dtype)
            np.copyto(noise, z, casting="same_kind")  # rounded once to T, as (T)(...)
            combine(src[start:start + m], noise, out=dst[start:start + m])
