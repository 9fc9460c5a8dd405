"""Keras 3's regression metrics: each sample's mean over its outputs of ``(y_pred - y_true)^2``
(``MeanSquaredError``) or ``|y_pred - y_true|`` (``MeanAbsoluteError``), averaged over the samples
(weighted by ``sample_weight`` when given); ``RootMeanSquaredError`` is the square root of the
first. Lower is better."""

import math

from .base import MeanOfSamples


class MeanSquaredError(MeanOfSamples):
    """The mean squared error of the predictions."""

    default_name = "mean_squared_error"
    direction = "down"
    per_output = True
    squared = True

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_errors(y_pred, y_true, self.squared, state, weights=weights)


class MeanAbsoluteError(MeanSquaredError):
    """The mean absolute error of the predictions."""

    default_name = "mean_absolute_error"
    squared = False

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(name=name, dtype=dtype)


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the mean squared error (Keras's: of the mean over every output of
    every sample, weighted)."""

    default_name = "root_mean_squared_error"

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def result_of(self, state, weight, outputs):
        return math.sqrt(super().result_of(state, weight, outputs))
