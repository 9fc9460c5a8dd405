"""Keras 3's ``FBetaScore`` and ``F1Score``: the F-score of each class (each output column).

As Keras's ``update_state``: the decision ``d`` of each output is ``y_pred > threshold``, or,
with ``threshold=None``, ``y_pred >= the row's highest score and |y_pred| > 1e-9`` (every
tied column counts; an all-zero row decides nothing). The state sums, per class, ``TP = sum
w d y``, ``FP = sum w d (1 - y)``, ``FN = sum w (1 - d) y`` and the support ``sum w y``, with
the label ``y`` as a number (a soft label counts by its value) and ``w`` the sample weight
(backend op ``accumulate_class_counts``, one pass over the batch). Then, with Keras's epsilon
``1e-7``::

    precision = TP / (TP + FP + 1e-7),  recall = TP / (TP + FN + 1e-7)
    F = (1 + beta^2) precision recall / (beta^2 precision + recall + 1e-7)

``average``: None gives one score per class (an array), ``"macro"`` their mean,
``"weighted"`` their sum weighted by ``support / (sum(support) + 1e-7)``, ``"micro"`` the
score of the counts summed over the classes.
"""

import numpy as np

from ..errors import InvalidInputError
from ..utils.inputs import real_number
from .base import Metric

#: Keras's backend.epsilon(), in every denominator of the score
EPSILON = 1e-7
AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """The F-beta score: recall counts ``beta`` times as much as precision."""

    default_name = "fbeta_score"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        if average not in AVERAGES:
            raise InvalidInputError(f"Invalid `average` argument value. Expected one of: "
                                    f"{list(AVERAGES)}. Received: average={average!r}")
        beta_value = real_number(beta)
        if beta_value is None or not 0 < beta_value < float("inf"):
            raise InvalidInputError(f"`beta` should be a float > 0. Received: beta={beta!r}")
        if threshold is not None:
            value = real_number(threshold)
            if value is None or not 0 < value <= 1:
                raise InvalidInputError(f"`threshold` should be a float in (0, 1] or None. "
                                        f"Received: threshold={threshold!r}")
            threshold = float(value)
        self.average, self.beta, self.threshold = average, float(beta_value), threshold
        super().__init__(name=name, dtype=dtype)

    def state_shape(self, outputs):
        return (4, outputs)

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_class_counts(y_pred, y_true, self.threshold, state, weights=weights)

    def result(self):
        if self._state is None:  # Keras's zero counts
            return 0.0
        return super().result()

    def result_of(self, state, weight, outputs):
        tp, fp, fn, support = np.asarray(state, np.float64)
        if self.average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
        b2 = self.beta ** 2
        precision = tp / (tp + fp + EPSILON)
        recall = tp / (tp + fn + EPSILON)
        score = (1 + b2) * (precision * recall / (b2 * precision + recall + EPSILON))
        if self.average == "weighted":
            return float(np.sum(score * (support / (np.sum(support) + EPSILON))))
        if self.average is None:
            return score.astype(self.dtype)
        return float(np.mean(score))

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta,
                "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score, the harmonic mean of precision and recall (beta 1)."""

    default_name = "f1_score"

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
