"""Weight regularizers, Keras 3's ``L1``, ``L2`` and ``L1L2`` (also as ``l1``, ``l2``, ``l1_l2``).

A regularizer on a parameter w adds the penalty ``l1 sum|w| + l2 sum w^2`` to the loss that
``fit``, ``evaluate`` and ``train_on_batch`` report (Keras adds regularization losses to the
training and to the evaluation loss alike), and its gradient ``l1 sign(w) + 2 l2 w`` (sign(0) = 0)
to the parameter's gradient after back-propagation::

    Dense(64, activation="relu", kernel_regularizer=regularizers.l2(1e-4))

Both are device ops (``Backend.penalty_value``, ``Backend.add_penalty_grad``): no host sync.
"""

import numpy as np

from .utils.identifiers import Configurable, from_serialized, instance, serialized
from .utils.inputs import nonnegative_number
from .utils.watched import Watched


class Regularizer(Configurable, Watched):
    """Base class: the penalty ``l1 sum|w| + l2 sum w^2`` (both factors 0 here)."""

    l1 = 0.0
    l2 = 0.0

    def __call__(self, x):
        """The penalty of a host array ``x`` as a Python float (float64)."""
        w = np.asarray(x, dtype=np.float64)
        return float(self.l1 * np.sum(np.abs(w)) + self.l2 * np.sum(w * w))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _factor(value, name):
    """Keras's check: a finite, non-negative number."""
    return float(nonnegative_number(value, f"regularization factor {name}"))


class L1L2(Regularizer):
    """``l1 sum|w| + l2 sum w^2``; Keras 3's defaults l1=0.0, l2=0.0 (None means 0.0)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """``l1 sum|w|``; Keras's default l1=0.01 (None means 0.01)."""

    def __init__(self, l1=0.01):
        self.l1 = _factor(0.01 if l1 is None else l1, "l1")

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 sum w^2``; Keras's default l2=0.01 (None means 0.01)."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def get_config(self):
        return {"l2": self.l2}


#: Keras's function-style names (the very classes, as in Keras 3).
l1 = L1
l2 = L2
l1_l2 = L1L2

_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
#: String identifiers. "l1_l2" has l1 = l2 = 0.01, as Keras documents for the string form.
_BY_NAME = {"l1": L1, "l2": L2, "l1_l2": lambda: L1L2(0.01, 0.01), "l1l2": L1L2}  # any case


def get(identifier):
    """A Regularizer from None (None), a name ("l1", "l2", "l1_l2"), a class, an instance or a
    serialized dict."""
    return instance("regularizer", identifier, _BY_NAME, Regularizer,
                    " such as regularizers.l2(0.01) (gpudnn runs the L1/L2 penalty as a device "
                    "kernel, so arbitrary functions are not accepted)", deserialize)


def serialize(regularizer):
    """``{"class_name": ..., "config": ...}`` of a gpudnn regularizer (JSON-able); None for
    None (no regularizer), as Keras's."""
    return None if regularizer is None else serialized("regularizer", regularizer, Regularizer)


def deserialize(data):
    """The regularizer that ``serialize`` described."""
    return from_serialized("regularizer", data, _CLASSES)
