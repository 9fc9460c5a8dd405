"""What a model takes as data: (x, y) checked and converted on the host for this model (building
it on first use), and the loss checked against the model's output layer."""

import numpy as np

from ..errors import InvalidInputError
from ..layers.reshaping import flattens_first
from ..utils import inputs


class ModelInputs:
    """Mixin of ``Sequential``: data checks and conversion before the loops and the step."""

    def _prepare(self, caller, x, y, what=""):
        """Host-check and convert (x, y) for this model (builds it if needed); ``y`` None is
        refused, naming ``caller``, unless ``caller`` is "predict"."""
        x_host = self._prepare_features(x, what)
        if caller == "predict":
            return x_host, None
        y_host = self._prepare_targets(caller, y, what)
        inputs.same_length(x_host, y_host)
        return x_host, y_host

    def _flattens(self):
        return flattens_first(self._leaves())

    def _one_feature(self, x):
        """``x`` of shape (samples,) as (samples, 1) when the model takes one feature per
        sample (Keras does the same for an input of shape (None, 1)); else ``x`` as it is."""
        shape = self.sample_shape if self.built else self._declared_input_shape()
        if shape == (1,) and getattr(x, "ndim", np.ndim(x) if isinstance(x, list) else None) == 1:
            return x.reshape(-1, 1) if hasattr(x, "reshape") else np.asarray(x).reshape(-1, 1)
        return x

    def _prepare_features(self, x, what=""):
        """x checked and converted on the host to (samples, input_dim); builds the model."""
        x = self._one_feature(x)
        x_host = inputs.features(x, self.sample_shape if self.built else None, self.dtype,
                                 "x" + what, any_rank=self._flattens())
        if not self.built:
            self.build(x_host.shape[1:])
        return x_host.reshape(x_host.shape[0], self.input_dim)  # a view: samples flattened

    def _prepare_targets(self, caller, y, what=""):
        """y checked and converted on the host to (samples, output_dim) for the loss."""
        if y is None:
            raise InvalidInputError(f"{caller}() needs targets y")
        self._check_output_fits_loss()
        return inputs.targets(y, self.loss, self.output_dim, self.dtype, "y" + what)

    def _prepare_device(self, caller, x_dev, what=""):
        """A device array x of this model's backend checked where it is (shapes on the host,
        finite values by a device reduction) and viewed as (samples, input_dim) in the model's
        dtype: no copy when it is C-contiguous in that dtype, else one conversion on the
        device. Builds the model."""
        name = "x" + what
        x_dev = self._one_feature(x_dev)
        inputs.check_feature_shape(tuple(x_dev.shape), self.sample_shape if self.built else None,
                                   name, any_rank=self._flattens())
        if not self.built:
            self.build(tuple(x_dev.shape[1:]))
        be = self.backend
        x_dev = be.adopt(x_dev.reshape(x_dev.shape[0], self.input_dim), self.dtype)
        if not be.all_finite(x_dev):
            raise InvalidInputError(
                f"{name} contains NaN or inf; remove or impute those values before "
                f"{caller}() (e.g. cupy.nan_to_num)")
        return x_dev

    def _output_activation(self):
        """The kind of the activation the last layer applies ("linear" when none)."""
        spec = self._leaf_layers[self._output_index].activation_spec
        return spec.kind if spec is not None else "linear"

    def _check_output_fits_loss(self):
        """Categorical cross-entropy of probabilities is defined here on rows that sum to 1: a
        softmax output. (Keras divides other outputs by their row sum first; rather than train
        on a silently different function, gpudnn asks for the softmax.) With ``from_logits=True``
        the loss applies the softmax or sigmoid itself, so a last layer that applies one too is
        refused (Keras only warns; training through both is the classic silent bug)."""
        kind, loss = self._output_activation(), self.loss
        last = self._leaf_layers[self._output_index].name
        if loss.from_logits and kind in ("softmax", "sigmoid"):
            raise InvalidInputError(
                f"{loss!r} takes raw scores (logits), but the last layer {last!r} applies "
                f"{kind!r}, which the loss would apply a second time; drop the activation from "
                f"the last layer (e.g. Dense(10)) or use from_logits=False")
        if loss.target_kind == "categorical" and not loss.from_logits and kind != "softmax":
            raise InvalidInputError(
                f"{loss.name} needs a softmax output, but the last layer {last!r} has activation "
                f"{kind!r}; use activation='softmax' on the last layer, from_logits=True with a "
                f"linear last layer, or binary_crossentropy for independent sigmoid outputs")
