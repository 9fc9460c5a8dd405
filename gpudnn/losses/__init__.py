"""Losses as Keras 3 objects (or by name), with Keras's reduction: the mean over the batch.

For predictions p (or raw scores x, ``from_logits=True``) and targets y of shape (n, k):

- ``MeanSquaredError``: ``mean((p - y)^2)`` over all n*k entries.
- ``MeanAbsoluteError``: ``mean(|p - y|)`` over all n*k entries (gradient ``sign(p - y)``, 0 at
  p == y, as Keras).
- ``Huber(delta=1.0)``: ``mean(0.5 d^2 if |d| <= delta else delta |d| - 0.5 delta^2)``,
  ``d = p - y``, over all n*k entries (gradient ``clip(d, -delta, delta)``).
- ``LogCosh``: ``mean(log(cosh(p - y)))`` over all n*k entries, as ``d + softplus(-2 d) - log
  2`` (gradient ``tanh(d)``).
- ``KLDivergence``: ``sum(t log(t / c)) / n``, t and c the targets and predictions clipped to
  [1e-7, 1] (gradient ``-t / c``, 0 where the clip is active).
- ``Poisson``: ``mean(p - y log(p + 1e-7))`` over all n*k entries (gradient ``1 - y / (p +
  1e-7)``).
- ``MeanAbsolutePercentageError``: ``mean(100 |(y - p) / max(|y|, 1e-7)|)``;
  ``MeanSquaredLogarithmicError``: ``mean((log(max(p, 1e-7) + 1) - log(max(y, 1e-7) + 1))^2)``.
- ``Hinge`` and ``SquaredHinge``: ``mean(max(1 - t p, 0))`` and its square, t the labels as
  -1 / 1 (0 read as -1), see hinge.py.
- ``BinaryCrossentropy``: ``mean(-(t log p + (1 - t) log(1 - p)))`` over all n*k entries; from
  logits ``mean(max(x, 0) - x t + log1p(exp(-|x|)))``, the same function of ``p = sigmoid(x)``
  without overflow. Label smoothing s: ``t = y (1 - s) + s / 2``.
- ``CategoricalCrossentropy``: ``sum(-t log p) / n`` with y one-hot (n, k); from logits
  ``sum_i sum_j t_ij (logsumexp(x_i) - x_ij) / n`` (stable log-sum-exp). Label smoothing s:
  ``t = y (1 - s) + s / k``.
- ``SparseCategoricalCrossentropy``: the same with integer labels (n,), one-hot encoded once per
  ``fit`` on the host (Keras gives it no label smoothing).

p is clipped to [1e-7, 1 - 1e-7] inside every log, like Keras. Gradients are fused, never the
chain of the loss's and the activation's derivatives: after a softmax (categorical) or sigmoid
(binary) output the gradient with respect to the pre-activation is ``(p - t) / n`` or
``(p - t) / (n k)``; from logits, with respect to the logits, ``(softmax(x) - t) / n`` or
``(sigmoid(x) - t) / (n k)``.

Per-sample weights (Keras 3's ``sample_weight``): with L_i the loss of sample i alone (the mean
over its outputs for MSE, MAE, MAPE, MSLE, Huber, LogCosh, Poisson, the hinges and binary
cross-entropy, the sum over its
classes for the categorical ones and KLDivergence) and w_i its weight, the weighted loss is ``sum_i
w_i L_i / n``: Keras's ``sum_over_batch_size`` divides by the number of samples, not by the sum of
the weights.

Every loss is callable on host arrays, ``loss(y_true, y_pred, sample_weight=None)`` -> a Python
float (computed in float64), has ``get_config()``, and round-trips through ``serialize`` /
``deserialize``.
"""

from ..errors import InvalidInputError
from ..utils.identifiers import from_serialized, instance, serialized
from .base import REDUCTION, REDUCTIONS, TRAINABLE_REDUCTIONS, Loss
from .probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, Poisson,
                            SparseCategoricalCrossentropy)
from .functions import (CLASS_OF, binary_crossentropy, categorical_crossentropy, hinge, huber,
                        kl_divergence, kld, log_cosh, mae, mape, mean_absolute_error,
                        mean_absolute_percentage_error, mean_squared_error,
                        mean_squared_logarithmic_error, mse, msle, poisson,
                        sparse_categorical_crossentropy, squared_hinge)
from .hinge import Hinge, SquaredHinge
from .regression import (Huber, LogCosh, MeanAbsoluteError, MeanAbsolutePercentageError,
                         MeanSquaredError, MeanSquaredLogarithmicError)

__all__ = ["Loss", "REDUCTION", "REDUCTIONS", "TRAINABLE_REDUCTIONS", "MeanSquaredError",
           "MeanAbsoluteError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError",
           "Huber", "LogCosh", "KLDivergence", "Poisson", "Hinge", "SquaredHinge",
           "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
           "get", "serialize", "deserialize", "mean_squared_error", "mean_absolute_error",
           "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber",
           "log_cosh", "kl_divergence", "poisson", "hinge", "squared_hinge",
           "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
           "mse", "mae", "mape", "msle", "kld"]

_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, Huber, LogCosh,
                                          KLDivergence, Poisson, BinaryCrossentropy,
                                          CategoricalCrossentropy, SparseCategoricalCrossentropy,
                                          MeanAbsolutePercentageError,
                                          MeanSquaredLogarithmicError, Hinge, SquaredHinge)}
_BY_NAME = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kldivergence": KLDivergence,
    "poisson": Poisson,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(identifier):
    """A Loss from a name, a Loss class, a Loss instance or a serialized dict."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier) and not isinstance(identifier, type) and \
            not isinstance(identifier, Loss):
        cls = CLASS_OF.get(identifier)
        if cls is None:
            raise InvalidInputError(
                f"loss {identifier!r} is a function of your own: gpudnn computes a loss and its "
                f"gradient with device kernels, so it takes one of its own losses, by name "
                f"('mse', 'binary_crossentropy', ...), as a gpudnn.losses object or function "
                f"(losses.mean_squared_error)")
        return cls()
    return instance("loss", identifier, _BY_NAME, Loss)


def serialize(loss):
    """``{"class_name": ..., "config": ...}`` of a gpudnn loss (JSON-able)."""
    return serialized("loss", loss, Loss)


def deserialize(data):
    """The loss that ``serialize`` described."""
    return from_serialized("loss", data, _CLASSES)
