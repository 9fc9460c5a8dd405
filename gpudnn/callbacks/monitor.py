"""What the monitoring callbacks share: a monitored log entry, its direction, "improved"."""

import math
import warnings

from .. import metrics
from ..errors import InvalidInputError

MODES = ("auto", "min", "max")


def check_mode(mode, owner):
    if mode not in MODES:
        raise InvalidInputError(f"{owner} mode must be 'auto', 'min' or 'max', not {mode!r}")
    return mode


def direction(monitor, mode, owner):
    """``"min"`` or ``"max"``: ``mode`` itself, or for "auto" what the name says: a loss
    (``loss``, ``val_loss``, ``*_loss``) goes down, an accuracy (a name with ``acc``) goes up,
    and a gpudnn.metrics name goes the metric's way (``auc`` up, ``mse`` down)."""
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name == "loss" or name.endswith("_loss"):
        return "min"
    if "acc" in name:
        return "max"
    known = metrics.direction(name)  # auc, precision, recall: up; mse, mae: down (as Keras)
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
    return float(value)


def number(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise InvalidInputError(f"{what} must be a number, not {value!r}")
    return float(value)
