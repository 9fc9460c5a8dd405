"""Keras's probabilistic losses: the KL divergence, Poisson, and the binary and categorical
cross-entropies (from probabilities or, ``from_logits=True``, raw scores), with label
smoothing (see the package's docstring)."""

from ..errors import InvalidInputError
from ..utils import inputs
from .base import REDUCTION, Loss


class KLDivergence(Loss):
    """Keras's Kullback-Leibler divergence: ``sum_j t_j log(t_j / c_j)`` per sample (its
    classes summed), averaged over the batch, with t, c = y_true, y_pred clipped to [1e-7, 1].
    Its gradient is ``-t / c / n`` where the clip is inactive, 0 where it is."""

    kind = "kld"
    default_name = "kl_divergence"


class Poisson(Loss):
    """Keras's Poisson loss: ``mean(p - y log(p + 1e-7))`` over the outputs, for counts
    predicted as rates (a non-negative output, e.g. softplus). Its gradient is ``(1 - y / (p +
    1e-7)) / (n k)``."""

    kind = "poisson"
    default_name = "poisson"

    def _check_predictions(self, p):
        super()._check_predictions(p)
        if p.min() < 0:
            raise InvalidInputError("y_pred holds negative values, but Poisson takes rates "
                                    "(p >= 0); give the model a non-negative output such as "
                                    "activation='softplus'")


class _Crossentropy(Loss):
    """A cross-entropy over probabilities, or with ``from_logits=True`` over raw scores."""

    _family = None  # "bce" or "cce"
    _activation = None  # the activation that turns logits into this loss's probabilities

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction=REDUCTION,
                 name=None):
        super().__init__(reduction, name)
        inputs.flag(from_logits, "from_logits")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing <= 1:
            raise InvalidInputError(
                f"label_smoothing must be a number in [0, 1], not {label_smoothing!r}")
        if axis not in (-1, 1) or isinstance(axis, bool):
            raise InvalidInputError(
                f"axis={axis!r} is not supported: Dense outputs are (samples, classes), so the "
                f"classes are axis -1")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = -1

    @property
    def kind(self):
        return self._family + "_logits" if self.from_logits else self._family

    @property
    def fused_activation(self):
        return None if self.from_logits else self._activation

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_Crossentropy):
    """Independent binary targets in [0, 1]; ``label_smoothing`` s uses ``y (1 - s) + s / 2``."""

    _family = "bce"
    _activation = "sigmoid"
    accuracy_mode = "binary"
    target_kind = "binary"
    default_name = "binary_crossentropy"


class CategoricalCrossentropy(_Crossentropy):
    """One-hot (or probability) rows; ``label_smoothing`` s uses ``y (1 - s) + s / k``."""

    _family = "cce"
    _activation = "softmax"
    target_kind = "categorical"
    default_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class labels (samples,)."""

    sparse = True
    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, axis=-1, reduction=REDUCTION,
                 name=None):
        if ignore_class is not None:
            raise InvalidInputError(
                f"ignore_class={ignore_class!r} is not supported; every label must be a class")
        super().__init__(from_logits, 0.0, axis, reduction, name)

    def get_config(self):
        config = super().get_config()
        del config["label_smoothing"]
        return {**config, "ignore_class": None}
