"""Losses by name or class, with Keras's reductions (mean over the batch).

For predictions p and targets y of shape (n, k):

- ``MeanSquaredError``: ``mean((p - y)^2)`` over all n*k entries.
- ``BinaryCrossentropy``: ``mean(-(y log p + (1 - y) log(1 - p)))`` over all n*k entries.
- ``CategoricalCrossentropy``: ``sum(-y log p) / n`` with y one-hot (n, k).
- ``SparseCategoricalCrossentropy``: the same with integer labels (n,), one-hot encoded once
  per ``fit`` on the host.

p is clipped to [1e-7, 1 - 1e-7] inside every log, like Keras. After a softmax (categorical) or
a sigmoid (binary) output, the gradient with respect to the pre-activation is the fused, stable
``(p - y) / n`` (categorical) or ``(p - y) / (n k)`` (binary) instead of chaining the loss's and
the activation's derivatives.
"""

from .identifiers import instance


class Loss:
    #: backend loss kind: ``mse``, ``bce`` or ``cce``
    kind = None
    #: the output activation whose derivative is fused into this loss's gradient
    fused_activation = None
    #: labels are integer class indices rather than one-hot rows
    sparse = False
    #: the accuracy that the generic ``"accuracy"`` metric means with this loss
    accuracy_mode = "categorical"

    def fused_scale(self, n, k):
        """Scale of ``(p - y)`` in the fused gradient for a batch of n rows and k outputs."""
        raise NotImplementedError

    @property
    def name(self):
        return _NAME_OF[type(self)]

    def __repr__(self):
        return f"{type(self).__name__}()"


class MeanSquaredError(Loss):
    kind = "mse"


class BinaryCrossentropy(Loss):
    kind = "bce"
    fused_activation = "sigmoid"
    accuracy_mode = "binary"

    def fused_scale(self, n, k):
        return 1.0 / (n * k)


class CategoricalCrossentropy(Loss):
    kind = "cce"
    fused_activation = "softmax"

    def fused_scale(self, n, k):
        return 1.0 / n


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    sparse = True


_BY_NAME = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_NAME_OF = {MeanSquaredError: "mean_squared_error", BinaryCrossentropy: "binary_crossentropy",
            CategoricalCrossentropy: "categorical_crossentropy",
            SparseCategoricalCrossentropy: "sparse_categorical_crossentropy"}


def get(identifier):
    """A Loss from a name, a Loss class or a Loss instance."""
    return instance("loss", identifier, _BY_NAME, Loss)
