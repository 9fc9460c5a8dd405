"""Helpers the course's Keras code uses, e.g. ``to_categorical``, ``clear_session``."""

import numpy as np

from ..errors import InvalidInputError
from .naming import clear_session
from .py_dataset import PyDataset

__all__ = ["PyDataset", "clear_session", "to_categorical"]


def to_categorical(y, num_classes=None, dtype="float32"):
    """One-hot rows (samples, num_classes) from integer class indices (samples,), as in Keras."""
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.size == 0 or not np.issubdtype(labels.dtype, np.number) \
            or not np.all(labels == np.round(labels)):
        raise InvalidInputError(
            f"to_categorical takes a non-empty vector of integer class indices, got shape "
            f"{labels.shape} of {labels.dtype}")
    labels = labels.astype(np.intp)
    if labels.min() < 0:
        raise InvalidInputError(f"class indices must be >= 0, found {labels.min()}")
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.max() >= classes:
        raise InvalidInputError(
            f"class index {labels.max()} is out of range for num_classes={classes}")
    out = np.zeros((labels.size, classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out
