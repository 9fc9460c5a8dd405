"""Batch workspaces: the preallocated buffers of one batch size, reused at every step so that a
training step allocates no array memory after its first batch.

Samples are flattened once per call, so every batch inside the model is an (n, features) matrix;
``Flatten`` (and ``Dropout`` outside training) are then the identity: no buffer, no call, their
output is their input.
"""

#: Batch sizes whose buffers a model keeps at once (fit uses two: full and last partial batch).
MAX_WORKSPACES = 6


class Workspace:
    """The buffers of one batch size n: each layer's output and, for training, the batch's
    inputs, targets and sample weights (gathered from the data set) and each layer's output
    gradient. Each in the layer's buffer dtype (``model._buffer_dtype``: 16 bits under a mixed
    policy), with float32 ones to widen the input of a float32 layer in a 16-bit model."""

    def __init__(self, backend, model, n, with_grads, layout):
        """``layout``: ``model._identity_layout()``, which leaf layers pass their input through
        in training and in inference."""
        dtype = model.dtype
        leaves = model._leaf_layers
        self.n = n
        # identity layers (Flatten; Dropout outside training) need no buffer of their own
        self.outputs = [None if training and inference
                        else backend.empty((n, layer.units), model._buffer_dtype(i))
                        for i, (layer, (training, inference)) in enumerate(zip(leaves, layout))]
        #: what each layer output in the last forward pass (its input when it is the identity)
        self.acts = [None] * len(leaves)
        #: what each layer was given in the last forward pass (its input, or the widened copy)
        self.inputs = [None] * len(leaves)
        widens = [model._widens_input(i) and not (training and inference)
                  for i, (training, inference) in enumerate(layout)]
        self.wide_inputs = [backend.empty((n, layer.input_dim), dtype) if wide else None
                            for layer, wide in zip(leaves, widens)]
        self.wide_dx = [None] * len(leaves)
        self.x = self.y = self.w = self.grads = None
        if with_grads:
            self.x = backend.empty((n, model.input_dim), dtype)
            self.y = backend.empty((n, model.output_dim), dtype)
            self.w = backend.empty((n, 1), dtype)  # per-sample weights, read when weighted
            self.grads = []
            for i, (layer, (training, _)) in enumerate(zip(leaves, layout)):
                if training:  # an identity layer's dL/dy is its dL/dx
                    self.grads.append(self.grads[i - 1] if i else None)
                else:
                    self.grads.append(backend.empty((n, layer.units), model._buffer_dtype(i)))
            self.wide_dx = [backend.empty((n, layer.input_dim), dtype) if wide else None
                            for layer, wide in zip(leaves, widens)]


class Workspaces:
    """Mixin of ``Sequential``: its workspaces by batch size."""

    def _identity_layout(self):
        """``((in training, in inference), ...)``: whether each leaf layer is the identity."""
        return tuple((self._identity(i, True), self._identity(i, False))
                     for i in range(len(self._leaf_layers)))

    def _workspace(self, n, with_grads):
        """The Workspace of batch size n, kept for reuse; the least recently made go first once
        more than MAX_WORKSPACES sizes are in use (predict on many sizes must not pile up)."""
        # which layers pass their input through decides the buffers (a Dropout whose rate
        # became 0 needs none); a change of that layout makes a new workspace
        layout = self._identity_layout()
        key = (n, with_grads, layout)
        ws = self._workspaces.get(key)
        if ws is None:
            while len(self._workspaces) >= MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[key] = Workspace(self.backend, self, n, with_grads, layout)
        return ws
