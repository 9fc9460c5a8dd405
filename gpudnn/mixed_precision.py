"""Keras's ``keras.mixed_precision``: the global dtype policy and loss scaling.

    from gpudnn import mixed_precision
    mixed_precision.set_global_policy("mixed_bfloat16")   # layers made from now on
    model = Sequential([Dense(512, "relu", input_shape=(784,)), Dense(10, "softmax")])

Under ``mixed_bfloat16`` / ``mixed_float16`` the weights and the optimizer state stay float32,
the layers compute in 16 bits, and the loss, softmax and metrics in float32 (see
:mod:`gpudnn.dtype_policies`). ``compile`` wraps the optimizer in a ``LossScaleOptimizer`` under
``mixed_float16``. Keras 3's newer names are ``gpudnn.config.set_dtype_policy`` and
``gpudnn.config.dtype_policy``.
"""

from . import config
from .dtype_policies import DTypePolicy, Policy
from .optimizers.loss_scale import LossScaleOptimizer

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "set_global_policy", "global_policy",
           "set_dtype_policy", "dtype_policy"]


def set_global_policy(policy):
    """The policy of the layers created from now on without ``dtype=``: ``"mixed_bfloat16"``,
    ``"mixed_float16"``, ``"float32"``, ``"float64"``, a ``DTypePolicy``, or None (floatx's)."""
    config.set_dtype_policy(policy)


def global_policy():
    """The global DTypePolicy (floatx's while none was set)."""
    return config.dtype_policy()


set_dtype_policy = config.set_dtype_policy
dtype_policy = config.dtype_policy
