"""Dense and Activation layers.

``Dense``: ``y = f(x W + b)`` with kernel W of shape (input_dim, units) and bias b of shape
(units,), as in Keras. Backward, with ``dz = dy * f'(z)`` computed from the retained output:
``dW = x^T dz``, ``db = sum_rows(dz)``, ``dx = dz W^T``. Every GEMM reads C-contiguous
operands (x^T and W^T are transpose flags to BLAS, not copies).

Under a mixed policy both layers compute in 16 bits: Dense's GEMMs read the 16-bit copy of W
(``operand``), its bias is added in float32 from the master weights, and its output and dy are
16-bit buffers (see training/mixed_precision.py).
"""

import numpy as np

from .. import activations
from ..backend.normalization import FUSED_ACTIVATIONS
from ..errors import InvalidInputError
from .base import Layer
from .weight_settings import set_weight_settings, weight_settings_config


#: Pre-activation buffers a Dense keeps (one per batch size in use, as the model's workspaces)
_PREACTIVATION_BUFFERS = 6


class Dense(Layer):
    """Fully connected layer ``f(x W + b)``.

    Args:
        units: output width, a positive int.
        activation: a name (``"relu"``...), None for linear, or an activation layer object
            such as ``LeakyReLU(alpha=0.1)``; it is fused into the layer's forward kernel.
        use_bias: add the bias vector b.
        kernel_initializer, bias_initializer: an initializer: a name (``"he_normal"``), an
            object (``initializers.HeNormal(seed=1)``), a Keras config dict or a callable
            (see gpudnn.initializers).
        kernel_regularizer, bias_regularizer: None, or a weight penalty such as
            ``regularizers.l2(0.01)`` (see gpudnn.regularizers), added to the loss.
        kernel_constraint, bias_constraint: None, or a projection applied after each update
            such as ``constraints.MaxNorm(3)`` (see gpudnn.constraints).
        input_shape: ``(features,)`` or a bare int, for the first layer of a model.
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 input_shape=None, input_dim=None, name=None, dtype=None):
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units <= 0:
            raise InvalidInputError(f"Dense units must be a positive integer, not {units!r}")
        units = int(units)
        if activity_regularizer is not None:
            raise InvalidInputError(
                "Dense activity_regularizer is not supported by gpudnn (a penalty on the "
                "layer's outputs); penalize its weights with kernel_regularizer, or leave it out")
        super().__init__(name=name, input_shape=input_shape if input_dim is None else input_dim,
                         dtype=dtype)
        self.units = units
        self.activation_spec = activations.get(activation)
        self.use_bias = bool(use_bias)
        set_weight_settings(self, kernel_initializer=kernel_initializer,
                            bias_initializer=bias_initializer,
                            kernel_regularizer=kernel_regularizer,
                            bias_regularizer=bias_regularizer,
                            kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self.kernel = self.bias = self.kernel_grad = self.bias_grad = None

    computes_in_half = True

    def build(self, input_dim):
        self.input_dim = input_dim
        self.built = True

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation_spec),
                "use_bias": self.use_bias,
                **weight_settings_config(self, ("kernel", "bias"))}

    def param_specs(self):
        specs = [("kernel", (self.input_dim, self.units), self.kernel_initializer)]
        if self.use_bias:
            specs.append(("bias", (self.units,), self.bias_initializer))
        return specs

    def bind(self, params, grads):
        self.kernel, self.kernel_grad = params[0], grads[0]
        if self.use_bias:
            self.bias, self.bias_grad = params[1], grads[1]

    def forward(self, backend, x, out):
        backend.matmul(x, self.operand("kernel"), out=out)
        spec = self.activation_spec
        if spec.kind in activations.FROM_INPUT:  # keep x W + b for backward, then f of it
            pre = self._preactivation(backend, out)
            backend.activation_forward("linear", out, self.bias, out=pre)
            backend.activation_forward(spec.kind, pre, None, out=out, alpha=spec.alpha)
            return
        # the bias is added in float32 from the master weights (a GEMM epilogue's bias)
        backend.activation_forward(spec.kind, out, self.bias, out=out, alpha=spec.alpha)

    def _preactivation(self, backend, out):
        """The buffer of ``x W + b`` for an activation whose derivative needs its input
        (silu, gelu): one per output shape and dtype, kept (a recorded step reuses it)."""
        buffers = self.__dict__.setdefault("_preactivations", {})
        backend = backend.unrecorded()  # allocated once, outside a recorded step's calls
        key = (id(backend), out.shape, str(out.dtype))
        if key not in buffers:
            while len(buffers) >= _PREACTIVATION_BUFFERS:  # the oldest first (a recorded step
                buffers.pop(next(iter(buffers)))  # keeps its own by reference)
            buffers[key] = backend.empty(out.shape, out.dtype)
        return buffers[key]

    def backward(self, backend, x, y, dy, dx, skip_activation=False, param_grads=True):
        """``param_grads`` False (a frozen layer): ``dx`` only, no kernel or bias gradient."""
        spec = self.activation_spec
        if not skip_activation and spec.kind != "linear":  # linear's, in place, is nothing
            source = self._preactivation(backend, y) if spec.kind in activations.FROM_INPUT \
                else y
            backend.activation_backward(spec.kind, source, dy, out=dy, alpha=spec.alpha)
        if param_grads:
            backend.matmul(x.T, dy, out=self.kernel_grad)
            if self.use_bias:
                backend.sum_rows(dy, out=self.bias_grad)
        if dx is not None:
            backend.matmul(dy, self.operand("kernel").T, out=dx)


class Activation(Layer):
    """Applies an activation to its input: ``Activation("relu")``, ``Activation("softmax")``."""

    computes_in_half = True
    accepts_any_rank = True

    @property
    def elementwise(self):
        return self.activation_spec.kind != "softmax"

    def __init__(self, activation, name=None, input_shape=None, dtype=None):
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.activation_spec = activations.get(activation)

    def get_config(self):
        return {**super().get_config(),
                "activation": activations.serialize(self.activation_spec)}

    def forward(self, backend, x, out):
        spec = self.activation_spec
        backend.activation_forward(spec.kind, x, None, out=out, alpha=spec.alpha)

    def fusable_spec(self):
        """Its activation ``Spec`` when a layer before it can compute it in its own passes
        (see ``Layer.fuses_following_activation``), else None: an element-wise activation
        other than linear (a copy, nothing to fuse), computed by Activation's own forward and
        backward (not a subclass's)."""
        spec = self.activation_spec
        own = type(self).forward is Activation.forward and \
            type(self).backward is Activation.backward
        return spec if own and spec.kind in FUSED_ACTIVATIONS[1:] else None

    def backward(self, backend, x, y, dy, dx, skip_activation=False):
        if dx is None:
            return
        if skip_activation:
            backend.copy_into(dx, dy)
        else:
            spec = self.activation_spec
            source = x if spec.kind in activations.FROM_INPUT else y  # silu, gelu: from x
            backend.activation_backward(spec.kind, source, dy, out=dx, alpha=spec.alpha)
