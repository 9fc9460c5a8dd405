"""The noise layers, Keras 3's regularization layers: ``Dropout``, ``GaussianNoise`` and
``GaussianDropout``. Each is active while training and the identity otherwise.

Training (``fit``, ``train_on_batch``, ``gradients``, ``model(x, training=True)``):

- ``Dropout(rate, noise_shape)``: ``y = x * keep / (1 - rate)`` with ``keep`` 1 for an element
  kept, 0 for one dropped, each kept with probability ``1 - rate``; backward
  ``dx = dy * keep / (1 - rate)`` with the same mask. ``noise_shape=(a, b)`` shares the mask
  along the axes of the (batch, features) activations whose entry is 1: ``(None, 1)`` keeps or
  drops whole samples, ``(1, None)`` applies one mask to every sample of the batch.
- ``GaussianNoise(stddev)``: ``y = x + stddev * z``; backward ``dx = dy``.
- ``GaussianDropout(rate)``: ``y = x * (1 + sqrt(rate / (1 - rate)) * z)``; backward
  ``dx = dy`` times the same factor.

Here z is a standard normal per element. Inference (``evaluate``, ``predict``, ``model(x)``):
``y = x``, with no buffer and no kernel.

The noise is not stored: it is a pure function of (the layer's seed, the model's step counter,
the element's flat index in the batch), the counter-based generator of ``kernels/random.cu``, so
backward recomputes it in its one pass, and the CPU and the GPU draw the same noise to the bit.
The seed is fixed when the layer is made (``seed=``, or drawn from gpudnn's generator, so
``gpudnn.set_seed`` repeats it); the step counter lives in device memory, owned by the model
(``model.state_arrays()["dropout_step"]``), and advances once per training step.
"""

import math
import numbers

from .. import config
from ..errors import InvalidInputError
from .base import Layer

#: Seeds are 63-bit: the kernel takes them as int64.
SEED_LIMIT = 2 ** 63


def _seed(seed, cls):
    """The layer's seed: ``seed`` checked, or one drawn from gpudnn's generator when None."""
    if seed is None:
        return int(config.rng().integers(0, SEED_LIMIT))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
            not 0 <= seed < SEED_LIMIT:
        raise InvalidInputError(
            f"{cls} seed must be None or an integer in [0, 2**63), not {seed!r}")
    return int(seed)


def _rate(rate, cls, what):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise InvalidInputError(
            f"{cls} rate must be a number in [0, 1), {what}, not {rate!r}"
            + (" (rate=1 would drop everything)" if rate == 1 else ""))
    return float(rate)


def _noise_shape(noise_shape):
    """``noise_shape`` as a pair of entries None or positive ints, or None."""
    if noise_shape is None:
        return None
    try:
        dims = tuple(noise_shape)
    except TypeError:
        dims = ()
    if len(dims) != 2 or not all(
            d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1)
            for d in dims):
        raise InvalidInputError(
            f"Dropout noise_shape must be None or a pair (batch, features) for gpudnn's "
            f"(batch, features) activations, each entry None (the input's size), 1 (one draw "
            f"shared along that axis) or the input's size: (None, 1) drops whole samples, "
            f"(1, None) applies one mask to the whole batch; not {noise_shape!r}")
    return tuple(None if d is None else int(d) for d in dims)


class NoiseLayer(Layer):
    """A layer of random noise while training, the identity otherwise (see the module)."""

    accepts_any_rank = True

    @property
    def elementwise(self):
        return getattr(self, "noise_shape", None) is None
    stochastic = True

    def _config(self, **arguments):
        config = {**super().get_config(), **arguments, "seed": self.seed}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config


class Dropout(NoiseLayer):
    """Randomly sets a fraction ``rate`` of its inputs to 0 while training, scaling the rest by
    ``1 / (1 - rate)`` so that the expected sum is unchanged.

    Args:
        rate: the fraction dropped, a float in [0, 1).
        noise_shape: None (an independent draw per element), or a pair ``(batch, features)``
            whose entries of 1 share the mask along that axis, the others None or the input's
            size: ``(None, 1)`` drops whole samples, ``(1, None)`` (or ``(1, features)``)
            applies one mask to every sample of the batch.
        seed: a non-negative int below 2**63, or None to draw one from gpudnn's generator.
        input_shape: the shape of one sample, for the first layer of a model.
    """

    def __init__(self, rate, noise_shape=None, seed=None, name=None, input_shape=None,
                 dtype=None):
        rate = _rate(rate, "Dropout", "the fraction of inputs dropped")
        noise_shape = _noise_shape(noise_shape)
        seed = _seed(seed, "Dropout")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.rate = rate
        self.noise_shape = noise_shape
        self.seed = seed

    def build(self, input_dim):
        if self.noise_shape is not None and self.noise_shape[1] not in (None, 1, input_dim):
            raise InvalidInputError(
                f"Dropout {self.name!r}: noise_shape={self.noise_shape} does not fit inputs of "
                f"{input_dim} features: its second entry must be None, 1 or {input_dim}")
        super().build(input_dim)

    def identity_in(self, training):
        return not training or self.rate == 0

    def _shared(self, n):
        """``(rows, cols)``: whether the mask is shared along the batch and the features."""
        if self.noise_shape is None:
            return False, False
        batch, features = self.noise_shape
        if batch not in (None, 1, n):
            raise InvalidInputError(
                f"Dropout {self.name!r}: noise_shape={self.noise_shape} asks for batches of "
                f"{batch} samples, but this batch has {n}; use None (any batch) or 1")
        return batch == 1, features == 1

    def forward(self, backend, x, out, step):
        """``out = x * keep / (1 - rate)``, the mask keyed by (seed, ``step[0]``, element)."""
        shared = self._shared(x.shape[0])
        if shared == (False, False):
            backend.dropout(x, self.seed, step, self.rate, out)
        else:
            backend.dropout_shared(x, self.seed, step, self.rate, out, shared)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, step=None):
        """``dx = dy * keep / (1 - rate)`` with the forward pass's mask (same key)."""
        if dx is not None:
            self.forward(backend, dy, dx, step)

    def get_config(self):
        shape = None if self.noise_shape is None else list(self.noise_shape)
        return self._config(rate=self.rate, noise_shape=shape)


class GaussianNoise(NoiseLayer):
    """Adds zero-centered Gaussian noise of standard deviation ``stddev`` while training
    (Keras's ``GaussianNoise``): ``y = x + stddev * z``, z ~ N(0, 1) per element.

    Args:
        stddev: the noise's standard deviation, a finite float >= 0.
        seed: a non-negative int below 2**63, or None to draw one from gpudnn's generator.
        input_shape: the shape of one sample, for the first layer of a model.
    """

    def __init__(self, stddev, seed=None, name=None, input_shape=None, dtype=None):
        if isinstance(stddev, bool) or not isinstance(stddev, numbers.Real) or \
                not math.isfinite(stddev) or stddev < 0:
            raise InvalidInputError(
                f"GaussianNoise stddev must be a finite number >= 0, the standard deviation of "
                f"the noise added, not {stddev!r}")
        seed = _seed(seed, "GaussianNoise")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.stddev = float(stddev)
        self.seed = seed

    def identity_in(self, training):
        return not training or self.stddev == 0

    def forward(self, backend, x, out, step):
        """``out = x + stddev * z``, z keyed by (seed, ``step[0]``, element)."""
        backend.gaussian_noise(x, self.seed, step, self.stddev, out)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, step=None):
        """``dx = dy``: the noise does not depend on x."""
        if dx is not None and dx is not dy:
            backend.copy_into(dx, dy)

    def get_config(self):
        return self._config(stddev=self.stddev)


class GaussianDropout(NoiseLayer):
    """Multiplies its inputs by Gaussian noise of mean 1 while training (Keras's
    ``GaussianDropout``): ``y = x * (1 + sqrt(rate / (1 - rate)) * z)``, z ~ N(0, 1) per
    element, the variance of ``Dropout(rate)``'s factor.

    Args:
        rate: the drop probability it imitates, a float in [0, 1).
        seed: a non-negative int below 2**63, or None to draw one from gpudnn's generator.
        input_shape: the shape of one sample, for the first layer of a model.
    """

    def __init__(self, rate, seed=None, name=None, input_shape=None, dtype=None):
        rate = _rate(rate, "GaussianDropout", "the drop probability whose variance it imitates")
        seed = _seed(seed, "GaussianDropout")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.rate = rate
        self.seed = seed

    @property
    def stddev(self):
        """The factor's standard deviation, ``sqrt(rate / (1 - rate))`` as Keras computes it."""
        return math.sqrt(self.rate / (1.0 - self.rate))

    def identity_in(self, training):
        return not training or self.rate == 0

    def forward(self, backend, x, out, step):
        """``out = x * (1 + stddev * z)``, z keyed by (seed, ``step[0]``, element)."""
        backend.gaussian_dropout(x, self.seed, step, self.stddev, out)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, step=None):
        """``dx = dy * (1 + stddev * z)`` with the forward pass's factor (same key)."""
        if dx is not None:
            backend.gaussian_dropout(dy, self.seed, step, self.stddev, dx)

    def get_config(self):
        return self._config(rate=self.rate)
