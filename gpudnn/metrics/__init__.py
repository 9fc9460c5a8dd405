"""Metrics as Keras 3 objects (or by name), standalone on host arrays or compiled into a model.

Standalone::

    m = gpudnn.metrics.AUC()
    m.update_state(y_true, y_pred, sample_weight=None)
    m.result()        # a Python float
    m.reset_state()

Compiled: ``model.compile(..., metrics=["accuracy", gpudnn.metrics.AUC(), "precision"])``. The
values accumulate on the device inside the training step (float64 accumulators the step adds
into; read by the host only for the progress bar and the epoch's logs) and are logged under the
metric's name (``auc``, ``val_auc``; a string is logged as written, ``"mse"``).

Names ``get`` knows, as Keras's ``metrics.get``: the class names and their snake_case forms
(``"auc"``, ``"precision"``, ``"top_k_categorical_accuracy"``, ...) and ``"mse"`` / ``"mae"``.
Default names are Keras's. As in Keras, ``Precision``, ``Recall``, ``AUC`` and the counts
(``TruePositives``...) created without ``name=`` are numbered in the process: a second ``AUC()``
is ``auc_1`` (``gpudnn.utils.clear_session()`` starts over); the others keep their class's name.
"""

from ..errors import InvalidInputError, unknown_name
from ..utils.identifiers import from_serialized, serialized
from .accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                       SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy)
from .base import Mean, Metric
from .confusion import (AUC, FalseNegatives, FalsePositives, Precision, Recall, TrueNegatives,
                        TruePositives)
from .f_score import F1Score, FBetaScore
from .loss_metrics import (BinaryCrossentropy, CategoricalCrossentropy, Hinge, KLDivergence,
                           LogCoshError, MeanAbsolutePercentageError,
                           MeanSquaredLogarithmicError, Poisson, SparseCategoricalCrossentropy,
                           SquaredHinge)
from .regression import MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError

__all__ = ["Metric", "Mean", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
           "SparseCategoricalAccuracy", "TopKCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "Precision", "Recall", "AUC", "TruePositives",
           "FalsePositives", "TrueNegatives", "FalseNegatives", "F1Score", "FBetaScore",
           "MeanSquaredError",
           "RootMeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
           "MeanSquaredLogarithmicError", "LogCoshError", "Hinge", "SquaredHinge", "Poisson",
           "KLDivergence", "BinaryCrossentropy", "CategoricalCrossentropy",
           "SparseCategoricalCrossentropy", "get", "serialize", "deserialize"]

_CLASSES = {cls.__name__: cls for cls in (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, Precision, Recall, AUC,
    TruePositives, FalsePositives, TrueNegatives, FalseNegatives, F1Score, FBetaScore,
    MeanSquaredError,
    RootMeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, LogCoshError, Hinge, SquaredHinge, Poisson, KLDivergence,
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)}
#: Keras's names: the class name, its snake_case (each class's default name) and aliases
_BY_NAME = {**_CLASSES, **{cls.default_name: cls for cls in _CLASSES.values()},
            "mse": MeanSquaredError, "MSE": MeanSquaredError,
            "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
            "mape": MeanAbsolutePercentageError, "MAPE": MeanAbsolutePercentageError,
            "msle": MeanSquaredLogarithmicError, "MSLE": MeanSquaredLogarithmicError,
            "kld": KLDivergence, "KLD": KLDivergence, "log_cosh": LogCoshError}
#: where Keras's loss functions live (losses.mean_absolute_error as a metric is its class)
_LOSS_FUNCTIONS = "gpudnn.losses.functions"
#: Every name ``get`` knows, with its class (compile lists them in its errors).
NAMES = dict(_BY_NAME)


def get(identifier):
    """A Metric from a name, a Metric class, a Metric instance (returned as is) or a
    serialized dict; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier) and getattr(identifier, "__module__", "") == _LOSS_FUNCTIONS and \
            getattr(identifier, "__name__", None) in _BY_NAME:  # metrics=[losses.mae], as Keras
        return _BY_NAME[identifier.__name__]()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier)
        if cls is None:
            raise unknown_name("metric", identifier, _BY_NAME)
        return cls()
    raise InvalidInputError(f"a metric must be a name ({', '.join(sorted(_BY_NAME))}) or a "
                            f"gpudnn.metrics object, not {identifier!r}")


def serialize(metric):
    """``{"class_name": ..., "config": ...}`` of a gpudnn metric (JSON-able)."""
    return serialized("metric", metric, Metric)


def deserialize(data):
    """The metric that ``serialize`` described."""
    return from_serialized("metric", data, _CLASSES)


def direction(name):
    """``"max"`` or ``"min"`` for a metric's default name or alias (what a monitoring callback
    with ``mode="auto"`` reads, as Keras reads a metric's direction), else None."""
    cls = _BY_NAME.get(name)
    if cls is None or cls.direction is None:
        return None
    return "max" if cls.direction == "up" else "min"
