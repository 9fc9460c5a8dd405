"""The noise ops beyond plain dropout: a dropout mask shared along an axis (Keras's
``noise_shape``), GaussianNoise and GaussianDropout. A mixin of Backend; each backend implements
them (NumPy: numpy_noise.py, the reference; compiled CPU: native_noise.py; CuPy: cupy_noise.py)
with the kernels of ``kernels/random.cu``.

Every op is keyed like ``dropout``: a host ``seed`` in [0, 2^63) fixed for the run and a (1,)
int64 device array ``step`` read when the op runs, so a recorded or captured step replays with
the step it finds; element i of the flat (n, k) batch uses the word of (seed, ``step[0]``, i).
x and out are (n, k) C-contiguous arrays of the model's dtype; ``out`` may be ``x``. The same
call on the gradient (x = dy) applies the same noise: the backward pass.
"""

from abc import abstractmethod


class NoiseOps:
    """Mixin of Backend: the ops of GaussianNoise, GaussianDropout and shared dropout masks."""

    @abstractmethod
    def dropout_shared(self, x, seed, step, rate, out, share):
        """Inverted dropout whose mask is shared along the axes ``share = (rows, cols)`` (bools)
        of the (n, k) batch: ``out[r, c] = x[r, c] * (1 / (1 - rate)) * keep[r', c']`` with
        ``r' = 0`` if ``share[0]`` else ``r`` and ``c' = 0`` if ``share[1]`` else ``c``, where
        ``keep[r', c']`` is dropout's test on the word of flat element ``r' k + c'``. So
        ``share=(False, False)`` is ``dropout`` itself, ``(False, True)`` keeps or drops whole
        samples and ``(True, False)`` applies one mask row to every sample."""

    @abstractmethod
    def gaussian_noise(self, x, seed, step, stddev, out):
        """``out = x + (T)(stddev * z)``: z the standard normal (double) of element i's word,
        Box-Muller as ``kernels/random.cu`` computes it (the same bits on every device),
        rounded once to x's dtype; ``stddev`` a host float."""

    @abstractmethod
    def gaussian_dropout(self, x, seed, step, stddev, out):
        """``out = x * (T)(1 + stddev * z)``, z as in :meth:`gaussian_noise`: multiplicative
        noise of mean 1 and standard deviation ``stddev`` (GaussianDropout's
        ``sqrt(rate / (1 - rate))``)."""
