"""What the monitoring callbacks share: a monitored log entry, its direction, "improved"."""

import math
import warnings

import numpy as np

from .. import metrics
from ..errors import InvalidInputError

MODES = ("auto", "min", "max")


def check_mode(mode, owner):
    if mode not in MODES:
        raise InvalidInputError(f"{owner} mode must be 'auto', 'min' or 'max', not {mode!r}")
    return mode


def direction(monitor, mode, owner, model=None):
    """``"min"`` or ``"max"``: ``mode`` itself, or for "auto" what the name says: a loss
    (``loss``, ``val_loss``, ``*_loss``) goes down, an accuracy (a name with ``acc``) goes up,
    and a metric goes its own way (``auc`` up, ``mse`` down): the metric object ``model`` was
    compiled with under that name (``auc_1``, a name= of one's own), as Keras looks it up, or
    the metric a name stands for."""
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    if "acc" in name:
        return "max"
    compiled = getattr(model, "_metric_object", None)
    metric = compiled(name) if compiled is not None else None
    if metric is not None:
        known = {"up": "max", "down": "min"}.get(metric.direction)
    else:
        known = metrics.direction(name)  # auc, precision, recall: up; mse, mae: down
    if known is not None:
        return known
    raise InvalidInputError(
        f"{owner} cannot tell whether {monitor!r} should go up or down; pass mode='max' to "
        f"keep the highest value or mode='min' to keep the lowest")


def improves(direction, value, reference, min_delta=0.0):
    """Whether ``value`` beats ``reference`` by more than ``min_delta`` in ``direction``."""
    if direction == "min":
        return value + min_delta < reference
    return value - min_delta > reference


def monitored(logs, monitor, owner):
    """``logs[monitor]`` as a float, or None with Keras's warning when it is missing."""
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(f"{owner} is conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs or {})}", stacklevel=3)
        return None
    if np.ndim(value) and np.size(value) != 1:
        raise InvalidInputError(
            f"{owner} monitors `{monitor}`, which has {np.size(value)} values (one per "
            f"threshold); monitor a metric of one threshold, e.g. compile "
            f"Precision(thresholds=0.5, name='precision_at_0.5') beside it")
    return float(np.reshape(value, ()))


def number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidInputError(f"{what} must be a number, not {value!r}")
    return float(value)
