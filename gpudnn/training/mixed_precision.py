"""Mixed precision in the model: the 16-bit copy of the weights, and each layer's buffer dtype.

Under a mixed policy (``mixed_bfloat16``, ``mixed_float16``) the model's flat parameter buffer,
its gradients and the optimizer's slots stay float32 (the master weights). Beside them the model
keeps ``_half_params``, a 16-bit copy of the flat buffer with the same layout; each layer that
computes in 16 bits (``Layer.computes_in_half``: Dense and the activations) reads the weights
its GEMMs multiply from it (``layer.operand``: Dense's kernel); Dense's bias is added in float32,
from the master weights, inside the activation kernel (as a GEMM epilogue adds it). The copy is refreshed from the master weights at the start of
every training step and of every inference call (evaluate, predict, model(x), gradients; the
weights do not change within one), so no write to the weights (an update, ``set_weights``, a
load, an EMA overwrite) can leave it stale.

Buffers: a 16-bit layer's output and output gradient are stored in its compute dtype; the
model's last layer (the last that computes, with the pass-through layers after it) always
outputs float32 (the loss, the softmax and the metrics are computed in
float32, and predictions come back float32), and a layer that computes in float32 (Dropout,
BatchNormalization, the noise layers) gets its 16-bit input widened into a float32 buffer and
writes its input gradient through a float32 one. The dtypes of an (n, k) batch are thus::

    x (float32) -> Dense[bf16] -> Dense[bf16] -> Dense[float32 out: the last layer] -> loss
"""

import numpy as np

from ..dtype_policies import DTypePolicy, numpy_dtype
from ..errors import InvalidInputError


class MixedPrecision:
    """Mixin of ``Sequential``: the 16-bit weight copy and the buffer dtypes (module docstring)."""

    #: the 16-bit copy of ``params`` (None: no layer computes in 16 bits)
    _half_params = None

    def _bind_half_weights(self, leaves, starts):
        """After build: check the layers' policies against the model, make the 16-bit copy and
        give each 16-bit layer its views. ``starts[j]``: where leaf j's weights begin."""
        for layer in leaves:
            if not layer._dtype_given and not layer.dtype_policy.is_mixed:
                layer._dtype_policy = DTypePolicy(self.dtype.name)  # follows the model's dtype
            if np.dtype(layer.variable_dtype) != self.dtype:
                raise InvalidInputError(
                    f"layer {layer.name!r} has dtype policy {layer.dtype_policy.name!r} "
                    f"(variables in {layer.variable_dtype}) but model {self.name!r} keeps its "
                    f"weights in {self.dtype.name}; give the layer a policy with "
                    f"{self.dtype.name} variables or Sequential(dtype={layer.variable_dtype!r})")
        halves = sorted({layer.half_dtype() for layer in leaves} - {None})
        self._half_params = None
        for layer in leaves:
            layer.bind_compute([])
        if not halves:
            return
        if len(halves) > 1:
            raise InvalidInputError(
                f"model {self.name!r} has layers computing in {' and '.join(halves)}; one model "
                f"computes in one 16-bit dtype: give its layers one mixed policy")
        half = numpy_dtype(halves[0])
        self._half_params = self.backend.flat_zeros(self.params.shape[0], half, slot=1)
        for layer, start in zip(leaves, starts):
            if layer.half_dtype() is None:
                continue
            views, offset = [], start
            for _, shape, *_ in layer.param_specs():
                size = int(np.prod(shape))
                views.append(self._half_params[offset:offset + size].reshape(shape))
                offset += size
            layer.bind_compute(views)

    def _refresh_half_weights(self):
        """The 16-bit copy of the weights from the float32 master weights (one rounding pass)."""
        if self._half_params is not None:
            self.backend.copy_into(self._half_params, self.params)

    def _buffer_dtype(self, i):
        """The dtype of leaf i's output and output-gradient buffers: float32 from the last
        layer that computes in both training and inference on (the layers after it may pass
        their input through: Flatten, Dropout, the noise layers in inference), so that the
        model's output is float32 in either mode."""
        if self._half_params is None or i >= self._float32_output_from():
            return self.dtype
        half = self._leaf_layers[i].half_dtype()
        return self.dtype if half is None else self._half_params.dtype

    def _float32_output_from(self):
        leaves = self._leaf_layers
        first = len(leaves) - 1
        while first > 0 and (self._identity(first, True) or self._identity(first, False)):
            first -= 1
        return first

    def _widens_input(self, i):
        """True when leaf i computes in float32 inside a 16-bit model: a 16-bit input is
        widened into a float32 buffer first, and its input gradient written through one."""
        return self._half_params is not None and self._leaf_layers[i].half_dtype() is None

    def _loss_scaled(self):
        """True when the optimizer scales the loss (a LossScaleOptimizer)."""
        return getattr(self.optimizer, "loss_scaled", False)
