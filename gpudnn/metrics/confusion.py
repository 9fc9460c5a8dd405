"""Keras 3's confusion-matrix metrics: ``Precision``, ``Recall``, ``AUC``, and the counts
``TruePositives``, ``FalsePositives``, ``TrueNegatives``, ``FalseNegatives(thresholds=None)``.

Every output of every sample is one binary decision: its label is positive when ``y_true !=
0``, its prediction positive at threshold t when ``y_pred > t`` (both in the metric's float
dtype). The state counts true and false positives and negatives, weighted by ``sample_weight``.

- ``Precision(thresholds=None, top_k=None, class_id=None)``: ``TP / (TP + FP)`` (0 when nothing
  is predicted positive); ``Recall``: ``TP / (TP + FN)``. The default threshold is 0.5; with
  ``top_k`` only a sample's k highest predictions can be positive (threshold default -1e10, as
  Keras's NEG_INF); ``class_id`` keeps one output column. Several thresholds give an array
  of one value per threshold (in a compiled model's logs too; the progress bar shows their
  mean, as Keras's).
- ``AUC(num_thresholds=200, curve="ROC", summation_method="interpolation", ...)``: the counts
  at thresholds ``[-1e-7, 1/(N-1), ..., (N-2)/(N-1), 1 + 1e-7]`` (bucketed in one pass, as
  Keras's evenly-spaced path), then the Riemann sum of TPR over FPR (ROC) or of precision over
  recall (PR; with "interpolation" Keras's Davis & Goadrich closed form); "minoring" /
  "majoring" take the lower / upper height of each interval. ``from_logits`` applies a sigmoid
  first; ``multi_label`` computes one curve per output and averages them (``label_weights``
  weighs the average; without multi_label they weigh each output's decisions).
"""

import numpy as np

from ..errors import InvalidInputError
from ..utils import inputs
from .base import Metric

#: Keras's NEG_INF: the default threshold with top_k (any kept prediction is above it)
NEG_INF = -1e10
#: Keras's backend.epsilon(): AUC's end thresholds are -EPSILON and 1 + EPSILON
EPSILON = 1e-7


def _divide_no_nan(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.zeros(a.shape)
    np.divide(a, b, out=out, where=b != 0)
    return out


def _floats(values, what):
    values = [values] if isinstance(values, (int, float)) else list(values)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise InvalidInputError(f"{what} must be numbers, not {values!r}")
    return [float(v) for v in values]


class _Confusion(Metric):
    """Precision and Recall: counts (4, m) at m thresholds, in the order TP, FP, TN, FN."""

    auto_named = True

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        if thresholds is not None:
            checked = _floats(thresholds, f"{type(self).__name__} thresholds")
            if not checked or any(not 0 <= t <= 1 for t in checked):
                raise InvalidInputError(f"Threshold values must be in [0, 1]; got {thresholds!r}")
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else inputs.positive_int(top_k, "top_k")
        self.class_id = None if class_id is None else inputs.non_negative_int(class_id, "class_id")
        super().__init__(name=name, dtype=dtype)

    @property
    def thresholds(self):
        """The thresholds as Keras holds them (0.5, or NEG_INF with top_k, by default)."""
        if self.init_thresholds is None:
            return [0.5 if self.top_k is None else NEG_INF]
        return _floats(self.init_thresholds, "thresholds")

    def state_shape(self, outputs):
        if self.class_id is not None and self.class_id >= outputs:
            raise InvalidInputError(f"{self.name}: class_id={self.class_id}, but y_pred has "
                                    f"{outputs} outputs (classes 0 to {outputs - 1})")
        return (4, len(self.thresholds))

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        backend.accumulate_confusion(y_pred, y_true, tuple(self.thresholds), state,
                                     weights=weights, class_id=self.class_id, top_k=self.top_k)

    def result(self):
        if self._state is None:  # Keras's zero counts: 0 at every threshold
            return self.result_of(np.zeros((4, len(self.thresholds))), 0.0, None)
        return super().result()

    def result_of(self, state, weight, outputs):
        tp, fp, _, fn = np.asarray(state, np.float64)
        value = _divide_no_nan(tp, tp + (fp if self._of_predicted else fn))
        return float(value[0]) if value.size == 1 else value.astype(self.dtype)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_Confusion):
    """The fraction of positive predictions whose label is positive, ``TP / (TP + FP)``."""

    default_name = "precision"
    _of_predicted = True


class Recall(_Confusion):
    """The fraction of positive labels predicted positive, ``TP / (TP + FN)``."""

    default_name = "recall"
    _of_predicted = False


class _ConditionCount(_Confusion):
    """One cell of the confusion matrix: the (weighted) count of decisions at each threshold
    (a float, or an array for several thresholds), as Keras's ``TruePositives`` & co."""

    direction = None  # neither more nor fewer is better: a monitor needs mode= (as Keras)
    _cell = 0

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result_of(self, state, weight, outputs):
        value = np.asarray(state, np.float64)[self._cell]
        return float(value[0]) if value.size == 1 else value.astype(self.dtype)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}


class TruePositives(_ConditionCount):
    """Positive labels predicted positive."""

    default_name = "true_positives"
    _cell = 0


class FalsePositives(_ConditionCount):
    """Negative labels predicted positive."""

    default_name = "false_positives"
    _cell = 1


class TrueNegatives(_ConditionCount):
    """Negative labels predicted negative."""

    default_name = "true_negatives"
    _cell = 2


class FalseNegatives(_ConditionCount):
    """Positive labels predicted negative."""

    default_name = "false_negatives"
    _cell = 3


_CURVES = {"roc": "ROC", "pr": "PR"}
_SUMMATIONS = ("interpolation", "majoring", "minoring")


class AUC(Metric):
    """The area under the ROC or precision-recall curve, approximated on thresholds."""

    default_name = "auc"
    auto_named = True

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        if not isinstance(curve, str) or curve not in ("ROC", "roc", "PR", "pr"):
            raise InvalidInputError(f'Invalid AUC curve value: {curve!r}; expected "ROC" or "PR"')
        if summation_method not in _SUMMATIONS + tuple(s.capitalize() for s in _SUMMATIONS):
            raise InvalidInputError(f"Invalid AUC summation method value: {summation_method!r}; "
                                    f"expected one of {list(_SUMMATIONS)}")
        if thresholds is not None:
            inner = sorted(_floats(thresholds, "AUC thresholds"))
            num_thresholds = len(inner) + 2
        elif isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) \
                or num_thresholds <= 1:
            raise InvalidInputError(f"Argument `num_thresholds` must be an integer > 1. "
                                    f"Received: num_thresholds={num_thresholds!r}")
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        if num_labels is not None and not multi_label:
            raise InvalidInputError("`num_labels` is needed only when `multi_label` is True.")
        self.num_thresholds = num_thresholds
        self.curve = _CURVES[curve.lower()]
        self.summation_method = summation_method.lower()
        self.multi_label = bool(multi_label)
        self.num_labels = None if num_labels is None else \
            inputs.non_negative_int(num_labels, "num_labels")
        self.label_weights = None if label_weights is None else \
            _floats(np.asarray(label_weights).reshape(-1).tolist(), "label_weights")
        self.from_logits = bool(from_logits)
        self._init_from_thresholds = thresholds is not None
        self._inner = inner
        count = len(inner) + 2  # Keras's test: [0] + inner + [1] evenly spaced, as float32
        even = np.arange(count, dtype=np.float32) / (count - 1)
        self._evenly = count >= 3 and bool(np.allclose([0.0] + inner + [1.0], even,
                                                       atol=EPSILON))
        super().__init__(name=name, dtype=dtype)

    @property
    def thresholds(self):
        """Every threshold, the end points -1e-7 and 1 + 1e-7 included."""
        return [0.0 - EPSILON] + list(self._inner) + [1.0 + EPSILON]

    def _labels(self, outputs):
        if self.multi_label and self.num_labels is not None and self.num_labels != outputs:
            raise InvalidInputError(f"{self.name}: num_labels={self.num_labels}, but y_pred "
                                    f"has {outputs} outputs")
        if self.label_weights is not None and len(self.label_weights) != outputs:
            raise InvalidInputError(f"{self.name}: {len(self.label_weights)} label_weights for "
                                    f"{outputs} outputs; give one per output")
        return outputs if self.multi_label else 1

    def state_shape(self, outputs):
        labels = self._labels(outputs)
        if self._evenly:
            return (2, labels, self.num_thresholds + 1)
        if self.multi_label:
            raise InvalidInputError(
                "AUC(multi_label=True) is computed on evenly spaced thresholds here (its "
                "default num_thresholds); give num_thresholds instead of uneven thresholds")
        return (4, self.num_thresholds)

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        # label_weights weigh decisions only when the outputs are flattened into one curve
        lw = None if self.multi_label or self.label_weights is None else \
            tuple(self.label_weights)
        if self._evenly:
            backend.accumulate_buckets(y_pred, y_true, state, weights=weights,
                                       multi_label=self.multi_label, label_weights=lw,
                                       from_logits=self.from_logits)
        else:
            backend.accumulate_confusion(y_pred, y_true, tuple(self.thresholds), state,
                                         weights=weights, label_weights=lw,
                                         from_logits=self.from_logits)

    def confusion(self, state):
        """``(tp, fp, tn, fn)``, each (labels, num_thresholds) float64, from a state."""
        state = np.asarray(state, np.float64)
        if state.shape[0] == 4:
            return tuple(state[c][None, :] for c in range(4))
        n = self.num_thresholds
        positive, negative = state[0], state[1]
        tp = np.cumsum(positive[:, :n][:, ::-1], axis=1)[:, ::-1]
        fp = np.cumsum(negative[:, :n][:, ::-1], axis=1)[:, ::-1]
        return tp, fp, negative.sum(axis=1)[:, None] - fp, positive.sum(axis=1)[:, None] - tp

    def result_of(self, state, weight, outputs):
        tp, fp, tn, fn = self.confusion(state)
        if self.curve == "PR" and self.summation_method == "interpolation":
            by_label = _interpolated_pr_auc(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:, :-1] + y[:, 1:]) / 2.0
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:, :-1], y[:, 1:])
            else:
                heights = np.maximum(y[:, :-1], y[:, 1:])
            by_label = ((x[:, :-1] - x[:, 1:]) * heights).sum(axis=1)
        if not self.multi_label:
            return float(by_label[0])
        if self.label_weights is None:
            return float(by_label.mean())
        lw = np.asarray(self.label_weights, np.float64)
        return float(_divide_no_nan(np.sum(by_label * lw), np.sum(lw)))

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds,
                  "curve": self.curve, "summation_method": self.summation_method,
                  "multi_label": self.multi_label, "num_labels": self.num_labels,
                  "label_weights": self.label_weights, "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = list(self._inner)
        return config


def _interpolated_pr_auc(tp, fp, fn):
    """Keras's ``AUC.interpolate_pr_auc`` (Davis & Goadrich 2006's interpolation, in Keras's
    closed form) per label: ``sum_t slope_t (dTP_t + intercept_t log(P_t / P_t+1)) /
    (TP_t+1 + FN_t+1)`` with P = TP + FP, slope = dTP / dP, intercept = TP_t+1 - slope
    P_t+1."""
    dtp = tp[:, :-1] - tp[:, 1:]
    p = tp + fp
    dp = p[:, :-1] - p[:, 1:]
    slope = _divide_no_nan(dtp, np.maximum(dp, 0))
    intercept = tp[:, 1:] - slope * p[:, 1:]
    both = (p[:, :-1] > 0) & (p[:, 1:] > 0)
    ratio = np.where(both, _divide_no_nan(p[:, :-1], np.maximum(p[:, 1:], 0)), 1.0)
    increment = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                               np.maximum(tp[:, 1:] + fn[:, 1:], 0))
    return increment.sum(axis=1)
