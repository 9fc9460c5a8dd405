"""Per-sample weights from ``sample_weight`` and ``class_weight`` (Keras 3's semantics).

The loss of a batch is ``sum_i w_i L_i / n`` (Keras's default reduction, sum over the batch
size); ``class_weight={class: weight}`` gives every sample the weight of its class (the argmax
of a one-hot row, or ``y > 0.5`` for a single output), classes not named weigh 1, and with both
arguments the weights multiply, as in Keras. Weights are checked on the host and come back as an
(n, 1) column in the model's dtype, the shape the weighted loss kernels read.
"""

import numbers

import numpy as np

from ...errors import InvalidInputError
from ...utils import inputs


def check_class_weight(class_weight, units):
    """``class_weight`` as ``{int class: float weight}``, or None; classes must be 0..classes-1
    (0/1 for a single output) and weights finite numbers >= 0."""
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict) or not class_weight:
        raise InvalidInputError(
            f"class_weight must be a non-empty dict {{class index: weight}}, not {class_weight!r}")
    classes = 2 if units == 1 else units
    checked = {}
    for key, weight in class_weight.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, numbers.Integral) \
                or not 0 <= int(key) < classes:
            raise InvalidInputError(
                f"class_weight names class {key!r}, but the model's classes are 0..{classes - 1} "
                f"(its last layer has {units} output{'s' if units != 1 else ''}); use class "
                f"indices as keys")
        checked[int(key)] = float(inputs.nonnegative_number(weight, f"class_weight[{key!r}]"))
    return checked


def sample_weights(sample_weight, class_weight, y, dtype, what="sample_weight"):
    """The (n, 1) weights of the checked targets ``y`` (n, units), or None when neither
    argument is given; ``class_weight`` already passed through :func:`check_class_weight`."""
    if sample_weight is None and class_weight is None:
        return None
    n = y.shape[0]
    weights = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        weights *= inputs.sample_weight_column(sample_weight, n, what, nonnegative=True)
    if class_weight is not None:
        classes = (y[:, 0] > 0.5).astype(np.intp) if y.shape[1] == 1 else np.argmax(y, axis=1)
        table = np.ones(max(int(classes.max()), max(class_weight)) + 1)
        for cls, weight in class_weight.items():
            table[cls] = weight
        weights *= table[classes]
    return np.ascontiguousarray(weights.reshape(n, 1), dtype=dtype)
