"""``BatchNormalization`` with Keras 3's arguments, defaults, formulas and weight order.

Training (``fit``, ``train_on_batch``, ``model(x, training=True)``): each feature is normalized
by the batch's mean and (biased) variance, ``y = gamma (x - mean) / sqrt(var + epsilon) +
beta``, and the moving statistics follow the batch's: ``moving = moving * momentum + batch *
(1 - momentum)``. Inference (``evaluate``, ``predict``, ``model(x)``) uses the moving
statistics. A frozen layer (``trainable = False``) runs in inference mode while training too,
as in Keras 3, and its moving statistics stay as they are.

Weights, in Keras's order: ``gamma`` (with ``scale``), ``beta`` (with ``center``) — trainable —
then ``moving_mean`` and ``moving_variance``, non-trainable (updated by the forward pass, never by
the optimizer). The math and the kernels are in gpudnn/backend/normalization.py.
"""

import numbers

import numpy as np

from ..errors import InvalidInputError
from .base import Layer
from .weight_settings import gamma_beta_specs, set_weight_settings, weight_settings_config

_STATISTICS = ("moving_mean", "moving_variance")


class BatchNormalization(Layer):
    """Normalizes each feature over the batch (training) or by its moving statistics
    (inference), then scales by ``gamma`` and shifts by ``beta``.

    Args:
        axis: -1 (the features of a dense batch; other axes are refused).
        momentum: of the moving statistics, in [0, 1] (Keras's default 0.99).
        epsilon: added to the variance, > 0 (default 1e-3).
        center, scale: learn ``beta`` / ``gamma`` (True), or use 0 / 1.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: initializers as Dense's (defaults zeros, ones, zeros,
            ones).
        beta_regularizer, gamma_regularizer: None or a weight penalty (gpudnn.regularizers).
        beta_constraint, gamma_constraint: None or a projection after each update
            (gpudnn.constraints).
    """

    #: the forward pass differs in training and inference: the model passes ``training``
    mode_dependent = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, name=None, input_shape=None, dtype=None):
        if axis not in (-1, 1) or isinstance(axis, bool):
            raise InvalidInputError(
                f"BatchNormalization axis={axis!r}: dense batches are (samples, features), "
                f"normalized per feature over the samples; use axis=-1")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 <= momentum <= 1:
            raise InvalidInputError(f"BatchNormalization momentum must be in [0, 1], not "
                                    f"{momentum!r}")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not epsilon > 0:
            raise InvalidInputError(f"BatchNormalization epsilon must be > 0, not {epsilon!r}")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.axis = -1
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        set_weight_settings(self, beta_initializer=beta_initializer,
                            gamma_initializer=gamma_initializer,
                            moving_mean_initializer=moving_mean_initializer,
                            moving_variance_initializer=moving_variance_initializer,
                            beta_regularizer=beta_regularizer,
                            gamma_regularizer=gamma_regularizer,
                            beta_constraint=beta_constraint, gamma_constraint=gamma_constraint)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        self.gamma_grad = self.beta_grad = None
        self._mean = self._inv_std = None  # the batch's statistics, kept for backward

    def build(self, input_dim):
        self.input_dim = self.units = input_dim
        self.built = True

    def param_specs(self):
        k = self.input_dim
        return gamma_beta_specs(self) + [
            ("moving_mean", (k,), self.moving_mean_initializer),
            ("moving_variance", (k,), self.moving_variance_initializer)]

    def weight_trainable(self, name):
        return name not in _STATISTICS

    def bind(self, params, grads):
        names = [name for name, *_ in self.param_specs()]
        for name, param, grad in zip(names, params, grads):
            setattr(self, name, param)
            setattr(self, f"{name}_grad", grad)  # the statistics' stay zero: they never train
        be, k, dtype = self._backend, self.input_dim, params[0].dtype  # set by the model
        # without scale / center, gamma is ones and beta zeros that nothing updates
        if not self.scale:
            self.gamma = be.from_host(_filled(k, 1.0, dtype))
        if not self.center:
            self.beta = be.zeros((k,), dtype)
        self._mean, self._inv_std = be.zeros((k,), dtype), be.zeros((k,), dtype)

    @property
    def fuses_following_activation(self):
        """Its training passes can compute the activation of an Activation layer right after
        it: this class's own passes (a subclass's may not know of it)."""
        return type(self).forward is BatchNormalization.forward and \
            type(self).backward is BatchNormalization.backward

    def forward(self, backend, x, out, training=False, trains_in_inference=False,
                activation=None):
        """``training``: normalize by the batch and move the statistics; else by the moving
        statistics, and with ``trains_in_inference`` (a trainable layer called with
        ``training=False`` in a training step) keep ``1 / sqrt(moving_var + eps)`` for
        backward. ``activation`` (training only): the activation ``Spec`` of the Activation
        layer that follows, computed in the same pass (``out`` is then that layer's output)."""
        if training:
            kind, alpha = ("linear", 0.0) if activation is None else activation
            backend.batchnorm_forward(x, self.gamma, self.beta, self.moving_mean,
                                      self.moving_variance, self.momentum, self.epsilon, out,
                                      self._mean, self._inv_std, kind, alpha)
        else:
            backend.batchnorm_inference(x, self.gamma, self.beta, self.moving_mean,
                                        self.moving_variance, self.epsilon, out)
            if trains_in_inference:
                backend.inverse_sqrt_into(self.moving_variance, self.epsilon, self._inv_std)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, param_grads=True,
                 inference=False, activation=None):
        """``param_grads`` False: the layer is frozen, so its forward ran in inference mode.
        ``activation``: the forward fused the following Activation layer's (training); ``y``
        and ``dy`` are then that layer's output and its gradient.

        ``inference``: a layer called with ``training=False`` in a functional model trains in
        inference mode (Keras's fine-tuning with BatchNormalization kept in inference): with
        ``s = 1 / sqrt(moving_var + eps)`` (kept by forward), ``dgamma = sum_i dy (x - moving_mean) s``, ``dbeta = sum_i
        dy`` (the training kernel's column sums, on the moving statistics) and ``dx = dy
        gamma s``."""
        if not param_grads or inference:
            if param_grads and (self.scale or self.center):
                backend.batchnorm_backward(x, dy, self.gamma, self.moving_mean, self._inv_std,
                                           self.gamma_grad if self.scale else None,
                                           self.beta_grad if self.center else None, None)
            if dx is not None:
                backend.batchnorm_inference_backward(dy, self.gamma, self.moving_variance,
                                                     self.epsilon, dx)
            return
        kind, alpha = ("linear", 0.0) if activation is None else activation
        backend.batchnorm_backward(x, dy, self.gamma, self._mean, self._inv_std,
                                   self.gamma_grad if self.scale else None,
                                   self.beta_grad if self.center else None, dx,
                                   None if activation is None else y, kind, alpha)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **weight_settings_config(self, ("beta", "gamma", "moving_mean",
                                                "moving_variance"))}


def _filled(k, value, dtype):
    return np.full(k, value, dtype=dtype)
