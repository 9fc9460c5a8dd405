"""Keras's hinge losses, for binary labels -1 / 1 (or 0 / 1, which Keras turns into -1 / 1) and
a raw score y_pred (a linear or tanh output): with t the label as -1 / 1,

- ``Hinge``: ``mean(max(1 - t y_pred, 0))`` over the outputs, gradient ``-t / (n k)`` where the
  margin ``1 - t y_pred`` is positive;
- ``SquaredHinge``: ``mean(max(1 - t y_pred, 0)^2)``, gradient ``-2 t max(1 - t y_pred, 0) /
  (n k)``.

Keras converts a batch whose labels are all 0 or 1 and leaves any other as it is; gpudnn reads
each 0 as -1, the same for batches of 0 / 1 and of -1 / 1 labels."""

from .base import Loss


class Hinge(Loss):
    """``mean(max(1 - t y_pred, 0))``, t the label as -1 / 1."""

    kind = "hinge"
    default_name = "hinge"
    accuracy_mode = "binary"


class SquaredHinge(Hinge):
    """``mean(max(1 - t y_pred, 0)^2)``, t the label as -1 / 1."""

    kind = "squared_hinge"
    default_name = "squared_hinge"
