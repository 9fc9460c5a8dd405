"""``Dropout``: inverted dropout while training, the identity otherwise (Keras's semantics).

Training (``fit``, ``train_on_batch``, ``gradients``, ``model(x, training=True)``):
``y = x * keep / (1 - rate)`` with ``keep`` 1 for an element kept, 0 for one dropped, each kept
with probability ``1 - rate``; backward ``dx = dy * keep / (1 - rate)`` with the same mask.
Inference (``evaluate``, ``predict``, ``model(x)``): ``y = x``, with no buffer and no kernel.

The mask is not stored: it is a pure function of (the layer's seed, the model's step counter,
the element's flat index in the batch), the counter-based generator of ``kernels/random.cu``, so
backward recomputes it in its one pass, and the CPU and the GPU drop the same elements. The seed
is fixed when the layer is made (``seed=``, or drawn from gpudnn's generator, so
``gpudnn.set_seed`` repeats it); the step counter lives in device memory, owned by the model
(``model.state_arrays()["dropout_step"]``), and advances once per training step.
"""

import numbers

from .. import config
from ..errors import InvalidInputError
from .base import Layer

#: Seeds are 63-bit: the kernel takes them as int64.
SEED_LIMIT = 2 ** 63


class Dropout(Layer):
    """Randomly sets a fraction ``rate`` of its inputs to 0 while training, scaling the rest by
    ``1 / (1 - rate)`` so that the expected sum is unchanged.

    Args:
        rate: the fraction dropped, a float in [0, 1).
        noise_shape: must be None (a mask shared along some axes is not supported).
        seed: a non-negative int below 2**63, or None to draw one from gpudnn's generator.
        input_shape: the shape of one sample, for the first layer of a model.
    """

    accepts_any_rank = True
    stochastic = True

    def __init__(self, rate, noise_shape=None, seed=None, name=None, input_shape=None):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise InvalidInputError(
                f"Dropout rate must be a number in [0, 1), the fraction of inputs dropped, not "
                f"{rate!r}" + (" (rate=1 would drop everything)" if rate == 1 else ""))
        if noise_shape is not None:
            raise InvalidInputError(
                f"Dropout(noise_shape={noise_shape!r}) is not supported: gpudnn draws an "
                f"independent mask for every element; leave noise_shape=None")
        if seed is None:
            seed = int(config.rng().integers(0, SEED_LIMIT))
        elif isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or \
                not 0 <= seed < SEED_LIMIT:
            raise InvalidInputError(
                f"Dropout seed must be None or an integer in [0, 2**63), not {seed!r}")
        super().__init__(name=name, input_shape=input_shape)
        self.rate = float(rate)
        self.noise_shape = None
        self.seed = int(seed)

    def identity_in(self, training):
        return not training or self.rate == 0

    def forward(self, backend, x, out, step):
        """``out = x * keep / (1 - rate)``, the mask keyed by (seed, ``step[0]``, element)."""
        backend.dropout(x, self.seed, step, self.rate, out)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, step=None):
        """``dx = dy * keep / (1 - rate)`` with the forward pass's mask (same key)."""
        if dx is not None:
            backend.dropout(dy, self.seed, step, self.rate, dx)

    def get_config(self):
        config = {"name": self.name, "rate": self.rate, "noise_shape": None, "seed": self.seed}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config
