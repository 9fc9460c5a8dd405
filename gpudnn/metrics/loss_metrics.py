"""Keras 3's metrics that are a loss averaged over the samples (its ``MeanMetricWrapper`` of a
loss function): each sample's loss L_i as the loss of the same name computes it (see
gpudnn.losses), averaged as ``sum_i w_i L_i / sum_i w_i`` (``w_i`` = 1 without
``sample_weight``). The state grows on the device by the backend's ``accumulate_loss``, the call
that sums a batch's loss for the logs. Lower is better."""

from ..errors import InvalidInputError
from ..utils import inputs
from .base import MeanOfSamples


class LossMetric(MeanOfSamples):
    """The mean over the samples of the backend loss ``kind`` (with its ``parameter``)."""

    direction = "down"
    kind = None
    parameter = 0.0

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_loss(self.kind, y_pred, y_true, state, self.parameter,
                                weights=weights)


def _loss_metric(class_name, kind, name, doc):
    """A LossMetric class with Keras's constructor ``(name=..., dtype=None)``."""

    def __init__(self, name=name, dtype=None):
        LossMetric.__init__(self, name=name, dtype=dtype)

    return type(class_name, (LossMetric,), {"kind": kind, "default_name": name,
                                            "__init__": __init__, "__doc__": doc,
                                            "__module__": __name__})


MeanAbsolutePercentageError = _loss_metric(
    "MeanAbsolutePercentageError", "mape", "mean_absolute_percentage_error",
    "``100 |(y_true - y_pred) / max(|y_true|, 1e-7)|``, averaged.")
MeanSquaredLogarithmicError = _loss_metric(
    "MeanSquaredLogarithmicError", "msle", "mean_squared_logarithmic_error",
    "``(log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))^2``, averaged.")
LogCoshError = _loss_metric("LogCoshError", "log_cosh", "logcosh",
                            "``log(cosh(y_pred - y_true))``, averaged.")
Hinge = _loss_metric("Hinge", "hinge", "hinge",
                     "``max(1 - t y_pred, 0)``, t the labels as -1 / 1 (0 read as -1).")
SquaredHinge = _loss_metric("SquaredHinge", "squared_hinge", "squared_hinge",
                            "``max(1 - t y_pred, 0)^2``, t the labels as -1 / 1.")
Poisson = _loss_metric("Poisson", "poisson", "poisson",
                       "``y_pred - y_true log(y_pred + 1e-7)``, averaged.")
KLDivergence = _loss_metric("KLDivergence", "kld", "kl_divergence",
                            "``sum_j t_j log(t_j / c_j)`` per sample, clipped to [1e-7, 1].")


class _Crossentropy(LossMetric):
    """A cross-entropy metric over probabilities, or raw scores with ``from_logits=True``."""

    _family = None

    def __init__(self, name=None, dtype=None, from_logits=False, label_smoothing=0.0):
        super().__init__(name=name or self.default_name, dtype=dtype)
        self.from_logits = inputs.flag(from_logits, "from_logits")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing <= 1:
            raise InvalidInputError(
                f"label_smoothing must be a number in [0, 1], not {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    @property
    def kind(self):
        return self._family + "_logits" if self.from_logits else self._family

    @property
    def parameter(self):
        return self.label_smoothing

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_Crossentropy):
    """Binary cross-entropy of each output, averaged over a sample's outputs, then the samples."""

    _family = "bce"
    default_name = "binary_crossentropy"


class CategoricalCrossentropy(_Crossentropy):
    """Categorical cross-entropy of each sample (one-hot or probability rows)."""

    _family = "cce"
    default_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class labels (standalone: ``y_true`` (samples,);
    in a model the labels reach it one-hot, as they reach the loss)."""

    default_name = "sparse_categorical_crossentropy"
    sparse = True

    def __init__(self, name=None, dtype=None, from_logits=False):
        super().__init__(name=name, dtype=dtype, from_logits=from_logits)

    def get_config(self):
        config = super().get_config()
        del config["label_smoothing"]
        return config
