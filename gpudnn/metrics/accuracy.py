"""Keras 3's accuracy metrics: how often predictions match the targets.

- ``Accuracy``: an output matches when ``y_pred == y_true`` exactly; each sample's fraction of
  matching outputs, averaged.
- ``BinaryAccuracy(threshold=0.5)``: an output matches when ``y_true == (y_pred > threshold)``
  (1 or 0); averaged as Accuracy.
- ``CategoricalAccuracy`` / ``SparseCategoricalAccuracy``: a sample matches when the argmax of
  y_pred is its class (argmax of a one-hot y_true, or the index itself).
- ``TopKCategoricalAccuracy(k=5)`` / ``SparseTopKCategoricalAccuracy(k=5)``: a sample matches
  when fewer than k predictions are strictly greater than the one of its class (ties count as
  in the top k, as ``ops.in_top_k``).

Each is the (``sample_weight``-weighted) mean over the samples. In a compiled model the sparse
ones see the targets the model trains on: with ``sparse_categorical_crossentropy`` those are
one-hot rows, whose argmax is the class index.
"""

import math
import numbers

from ..errors import InvalidInputError
from ..utils import inputs
from .base import MeanOfSamples


class Accuracy(MeanOfSamples):
    """How often predictions equal labels, output by output."""

    default_name = "accuracy"
    per_output = True

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_matches(y_pred, y_true, state, None, weights=weights)


class BinaryAccuracy(MeanOfSamples):
    """How often predictions thresholded at ``threshold`` match binary labels."""

    default_name = "binary_accuracy"
    per_output = True

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) \
                or not math.isfinite(threshold):
            raise InvalidInputError(f"BinaryAccuracy threshold must be a finite number (0.5 for "
                                    f"probabilities, 0.0 for logits), not {threshold!r}")
        super().__init__(name=name, dtype=dtype)
        self.threshold = float(threshold)

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_matches(y_pred, y_true, state, self.threshold, weights=weights)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(MeanOfSamples):
    """How often the argmax of the prediction is the argmax of the one-hot label."""

    default_name = "categorical_accuracy"
    accuracy_mode = "categorical"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_correct(y_pred, y_true, "categorical", state, weights=weights)


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """How often the argmax of the prediction is the integer label."""

    default_name = "sparse_categorical_accuracy"
    sparse = True

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanOfSamples):
    """How often the one-hot label's class is among the ``k`` highest predictions."""

    default_name = "top_k_categorical_accuracy"

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        k = inputs.positive_int(k, f"{type(self).__name__} k")
        super().__init__(name=name, dtype=dtype)
        self.k = k

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_top_k(y_pred, y_true, self.k, state, weights=weights)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """How often the integer label is among the ``k`` highest predictions."""

    default_name = "sparse_top_k_categorical_accuracy"
    sparse = True

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None):
        super().__init__(k=k, name=name, dtype=dtype)
