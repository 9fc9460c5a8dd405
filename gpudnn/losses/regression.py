"""Keras's regression losses: each the mean over the n k outputs of one element's formula of
``d = y_pred - y_true`` (see the package's docstring)."""

from ..utils import inputs
from .base import REDUCTION, Loss


class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)^2)``."""

    kind = "mse"
    default_name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """``mean(|y_pred - y_true|)``; its gradient is ``sign(y_pred - y_true) / (n k)``."""

    kind = "mae"
    default_name = "mean_absolute_error"


class Huber(Loss):
    """Keras's Huber loss: ``mean(0.5 d^2 if |d| <= delta else delta |d| - 0.5 delta^2)`` over
    the outputs, ``d = y_pred - y_true``: quadratic near the target, linear (robust to outliers)
    beyond ``delta``. Its gradient is ``clip(d, -delta, delta) / (n k)``."""

    kind = "huber"
    default_name = "huber_loss"

    def __init__(self, delta=1.0, reduction=REDUCTION, name=None):
        super().__init__(reduction, name)
        self.delta = float(inputs.positive_number(delta, "Huber delta"))

    @property
    def parameter(self):
        return self.delta

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    """Keras's log-cosh loss: ``mean(log(cosh(y_pred - y_true)))`` over the outputs, computed as
    ``d + softplus(-2 d) - log 2`` (no overflow); about ``d^2 / 2`` near the target and ``|d| -
    log 2`` far from it. Its gradient is ``tanh(d) / (n k)``."""

    kind = "log_cosh"
    default_name = "log_cosh"
    # As Keras's formula, the float32 value cancels near the target (|d| ~ 1e-4 gives an error
    # of ~1e-8); its gradient, tanh(d), does not.


class MeanAbsolutePercentageError(Loss):
    """Keras's ``mean(100 |(y_true - y_pred) / max(|y_true|, 1e-7)|)`` over the outputs: the
    error as a percentage of the target. Its gradient is ``100 sign(y_pred - y_true) /
    max(|y_true|, 1e-7) / (n k)`` (0 where they are equal)."""

    kind = "mape"
    default_name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(Loss):
    """Keras's ``mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2)`` over the
    outputs: relative errors of positive targets. Its gradient is ``2 (log(c + 1) - log(u + 1))
    / (c + 1) / (n k)``, c and u the floored prediction and target, 0 where the floor acts."""

    kind = "msle"
    default_name = "mean_squared_logarithmic_error"
