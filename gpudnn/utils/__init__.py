"""Helpers the course's Keras code uses, e.g. ``to_categorical``, ``set_random_seed``,
``clear_session``."""

import random

import numpy as np

from .. import config
from ..errors import InvalidInputError
from .naming import clear_session
from .py_dataset import PyDataset

__all__ = ["PyDataset", "clear_session", "set_random_seed", "to_categorical"]


def set_random_seed(seed):
    """Keras 3's ``keras.utils.set_random_seed``: seed Python's ``random``, NumPy's global
    generator and gpudnn's (``gpudnn.set_seed``), so that a program gives the same result
    each run."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"Expected `seed` argument to be an integer. Received: "
                                f"seed={seed!r} (of type {type(seed).__name__})")
    if not 0 <= seed < 2**32:
        raise InvalidInputError(f"a random seed is an integer in [0, 2**32) (NumPy's global "
                                f"generator takes no other), not {seed}")
    config.set_seed(seed)
    random.seed(int(seed))
    np.random.seed(int(seed))


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
