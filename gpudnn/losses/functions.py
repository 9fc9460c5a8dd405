"""Keras's loss functions (``keras.losses.mean_squared_error(y_true, y_pred)`` ...): each
sample's loss, as the loss class of the same name computes it with ``reduction=None`` (a
float64 array (samples,); a float for one sample given as a vector). Given to ``compile``
(``loss=losses.mean_squared_error``), a function is its class with Keras's defaults."""

import numpy as np

from .hinge import Hinge, SquaredHinge
from .probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, Poisson,
                            SparseCategoricalCrossentropy)
from .regression import (Huber, LogCosh, MeanAbsoluteError, MeanAbsolutePercentageError,
                         MeanSquaredError, MeanSquaredLogarithmicError)

#: each function and the loss class it is, for ``losses.get``
CLASS_OF = {}


def _per_sample(cls, y_true, y_pred, **arguments):
    values = cls(reduction=None, **arguments)(y_true, y_pred)
    return float(values[0]) if np.ndim(y_pred) == 1 else values


def _function(cls, doc):
    def loss(y_true, y_pred):
        return _per_sample(cls, y_true, y_pred)
    loss.__doc__ = doc
    loss.__name__ = loss.__qualname__ = cls.default_name  # Keras's function names
    CLASS_OF[loss] = cls
    return loss


mean_squared_error = _function(MeanSquaredError, "Each sample's ``mean((y_pred - y_true)^2)``.")
mean_absolute_error = _function(MeanAbsoluteError, "Each sample's ``mean(|y_pred - y_true|)``.")
mean_absolute_percentage_error = _function(
    MeanAbsolutePercentageError, "Each sample's ``100 mean(|(y_true - y_pred) / y_true|)``.")
mean_squared_logarithmic_error = _function(
    MeanSquaredLogarithmicError, "Each sample's ``mean((log(p + 1) - log(y + 1))^2)``.")
log_cosh = _function(LogCosh, "Each sample's ``mean(log(cosh(y_pred - y_true)))``.")
kl_divergence = _function(KLDivergence, "Each sample's ``sum(y log(y / p))``, clipped.")
poisson = _function(Poisson, "Each sample's ``mean(p - y log(p + 1e-7))``.")
hinge = _function(Hinge, "Each sample's ``mean(max(1 - t p, 0))``, t the labels as -1 / 1.")
squared_hinge = _function(SquaredHinge, "Each sample's ``mean(max(1 - t p, 0)^2)``.")


def huber(y_true, y_pred, delta=1.0):
    """Each sample's Huber loss (see ``Huber``)."""
    return _per_sample(Huber, y_true, y_pred, delta=delta)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Each sample's binary cross-entropy, averaged over its outputs."""
    return _per_sample(BinaryCrossentropy, y_true, y_pred, from_logits=from_logits,
                       label_smoothing=label_smoothing, axis=axis)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Each sample's categorical cross-entropy."""
    return _per_sample(CategoricalCrossentropy, y_true, y_pred, from_logits=from_logits,
                       label_smoothing=label_smoothing, axis=axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    """Each sample's categorical cross-entropy of integer labels."""
    return _per_sample(SparseCategoricalCrossentropy, y_true, y_pred, from_logits=from_logits,
                       ignore_class=ignore_class, axis=axis)


CLASS_OF.update({huber: Huber, binary_crossentropy: BinaryCrossentropy,
                 categorical_crossentropy: CategoricalCrossentropy,
                 sparse_categorical_crossentropy: SparseCategoricalCrossentropy})

#: Keras's short names of the same functions
mse, mae, mape, msle = (mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
                        mean_squared_logarithmic_error)
kld = kl_divergence
