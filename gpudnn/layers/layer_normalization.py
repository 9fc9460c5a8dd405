"""``LayerNormalization`` and ``RMSNormalization`` with Keras 3's arguments, defaults, formulas
and weight order: each sample is normalized over its own features (not over the batch, as
``BatchNormalization`` does), so training and inference compute the same thing and there are no
moving statistics.

    LayerNormalization:  y = gamma (x - mean(x)) / sqrt(var(x) + epsilon) + beta
    RMSNormalization:    y = scale x / sqrt(mean(x^2) + epsilon)

with the mean and (biased) variance taken over each row's features. Weights: ``gamma`` (with
``scale``) then ``beta`` (with ``center``); RMSNormalization's ``scale``. The math and its
gradient are in gpudnn/backend/row_normalization.py.
"""

import numbers

from .. import initializers
from ..errors import InvalidInputError
from .base import Layer
from .weight_settings import gamma_beta_specs, set_weight_settings, weight_settings_config


def _check_axis(cls_name, axis):
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, bool) or axis not in (-1, 1):
        raise InvalidInputError(
            f"{cls_name} axis={axis!r}: dense batches are (samples, features), normalized per "
            f"sample over the features; use axis=-1")
    return -1


def _check_epsilon(cls_name, epsilon):
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon > 0:
        raise InvalidInputError(f"{cls_name} epsilon must be a number > 0, not {epsilon!r}")
    return float(epsilon)


class _RowNormalization(Layer):
    """What the two layers share: the backend's row ops, on the weights each names."""

    #: normalized about the mean (False: the root mean square)
    centered = True

    def bind(self, params, grads):
        for (name, *_), param, grad in zip(self.param_specs(), params, grads):
            setattr(self, name, param)
            setattr(self, f"{name}_grad", grad)

    def _weights(self):
        """(gamma, beta) as the row ops take them, None where the layer has none."""
        raise NotImplementedError

    def _weight_grads(self):
        """The gradient views of (gamma, beta), None where the layer has none."""
        raise NotImplementedError

    def forward(self, backend, x, out):
        gamma, beta = self._weights()
        backend.row_norm_forward(x, gamma, beta, self.epsilon, self.centered, out)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, param_grads=True):
        """``param_grads`` False (a frozen layer): ``dx`` only."""
        gamma, _ = self._weights()
        dgamma, dbeta = self._weight_grads() if param_grads else (None, None)
        if dgamma is None and dbeta is None and dx is None:
            return
        backend.row_norm_backward(x, dy, gamma, self.epsilon, self.centered, dgamma, dbeta, dx)


class LayerNormalization(_RowNormalization):
    """Normalizes each sample over its features, then scales by ``gamma`` and shifts by
    ``beta`` (Ba et al., 2016).

    Args:
        axis: -1 (the features of a dense batch; other axes are refused).
        epsilon: added to the variance, > 0 (default 1e-3, as Keras).
        center, scale: learn ``beta`` / ``gamma`` (True), or leave them out.
        beta_initializer, gamma_initializer: initializers (defaults zeros, ones).
        beta_regularizer, gamma_regularizer: None or a weight penalty (gpudnn.regularizers).
        beta_constraint, gamma_constraint: None or a projection after each update
            (gpudnn.constraints).
        rms_scaling: Keras's deprecated flag; True is refused (use RMSNormalization).
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 rms_scaling=False, name=None, input_shape=None, dtype=None):
        if rms_scaling:
            raise InvalidInputError(
                "LayerNormalization(rms_scaling=True) is deprecated in Keras 3 (it scales by the "
                "variance, not the root mean square); use layers.RMSNormalization")
        self.axis = _check_axis("LayerNormalization", axis)
        self.epsilon = _check_epsilon("LayerNormalization", epsilon)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.center, self.scale = bool(center), bool(scale)
        set_weight_settings(self, beta_initializer=beta_initializer,
                            gamma_initializer=gamma_initializer,
                            beta_regularizer=beta_regularizer,
                            gamma_regularizer=gamma_regularizer,
                            beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.gamma = self.beta = self.gamma_grad = self.beta_grad = None

    def param_specs(self):
        return gamma_beta_specs(self)

    def _weights(self):
        return (self.gamma if self.scale else None), (self.beta if self.center else None)

    def _weight_grads(self):
        return (self.gamma_grad if self.scale else None), (self.beta_grad if self.center else None)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": False,
                **weight_settings_config(self, ("beta", "gamma"))}


class RMSNormalization(_RowNormalization):
    """Scales each sample by the inverse root mean square of its features, then by the learned
    ``scale`` (Keras 3's ``RMSNormalization``; ``scale`` starts at ones).

    Args:
        axis: -1 (the features of a dense batch; other axes are refused).
        epsilon: added to the mean square, > 0 (default 1e-6, as Keras).
    """

    centered = False

    def __init__(self, axis=-1, epsilon=1e-6, name=None, input_shape=None, dtype=None):
        self.axis = _check_axis("RMSNormalization", axis)
        self.epsilon = _check_epsilon("RMSNormalization", epsilon)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.scale = self.scale_grad = None

    def param_specs(self):
        return [("scale", (self.input_dim,), initializers.check("ones"))]

    def _weights(self):
        return self.scale, None

    def _weight_grads(self):
        return self.scale_grad, None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
