"""Losses as Keras 3 objects (or by name), with Keras's reduction: the mean over the batch.

For predictions p (or raw scores x, ``from_logits=True``) and targets y of shape (n, k):

- ``MeanSquaredError``: ``mean((p - y)^2)`` over all n*k entries.
- ``MeanAbsoluteError``: ``mean(|p - y|)`` over all n*k entries (gradient ``sign(p - y)``, 0 at
  p == y, as Keras).
- ``Huber(delta=1.0)``: ``mean(0.5 d^2 if |d| <= delta else delta |d| - 0.5 delta^2)``,
  ``d = p - y``, over all n*k entries (gradient ``clip(d, -delta, delta)``).
- ``LogCosh``: ``mean(log(cosh(p - y)))`` over all n*k entries, as ``d + softplus(-2 d) - log
  2`` (gradient ``tanh(d)``).
- ``KLDivergence``: ``sum(t log(t / c)) / n``, t and c the targets and predictions clipped to
  [1e-7, 1] (gradient ``-t / c``, 0 where the clip is active).
- ``Poisson``: ``mean(p - y log(p + 1e-7))`` over all n*k entries (gradient ``1 - y / (p +
  1e-7)``).
- ``BinaryCrossentropy``: ``mean(-(t log p + (1 - t) log(1 - p)))`` over all n*k entries; from
  logits ``mean(max(x, 0) - x t + log1p(exp(-|x|)))``, the same function of ``p = sigmoid(x)``
  without overflow. Label smoothing s: ``t = y (1 - s) + s / 2``.
- ``CategoricalCrossentropy``: ``sum(-t log p) / n`` with y one-hot (n, k); from logits
  ``sum_i sum_j t_ij (logsumexp(x_i) - x_ij) / n`` (stable log-sum-exp). Label smoothing s:
  ``t = y (1 - s) + s / k``.
- ``SparseCategoricalCrossentropy``: the same with integer labels (n,), one-hot encoded once per
  ``fit`` on the host (Keras gives it no label smoothing).

p is clipped to [1e-7, 1 - 1e-7] inside every log, like Keras. Gradients are fused, never the
chain of the loss's and the activation's derivatives: after a softmax (categorical) or sigmoid
(binary) output the gradient with respect to the pre-activation is ``(p - t) / n`` or
``(p - t) / (n k)``; from logits, with respect to the logits, ``(softmax(x) - t) / n`` or
``(sigmoid(x) - t) / (n k)``.

Per-sample weights (Keras 3's ``sample_weight``): with L_i the loss of sample i alone (the mean
over its outputs for MSE, MAE, Huber, LogCosh, Poisson and binary cross-entropy, the sum over its
classes for the categorical ones and KLDivergence) and w_i its weight, the weighted loss is ``sum_i
w_i L_i / n``: Keras's ``sum_over_batch_size`` divides by the number of samples, not by the sum of
the weights.

Every loss is callable on host arrays, ``loss(y_true, y_pred, sample_weight=None)`` -> a Python
float (computed in float64), has ``get_config()``, and round-trips through ``serialize`` /
``deserialize``.
"""


import numpy as np

from .utils import inputs
from .backend.numpy_backend import NumpyBackend
from .errors import InvalidInputError
from .utils.identifiers import Configurable, from_serialized, instance, serialized
from .utils.watched import Watched

#: Keras's default reduction: the sum over the batch divided by its size.
REDUCTION = "sum_over_batch_size"
#: Keras 3's reductions (``None`` and ``"none"``: the per-sample losses). ``fit`` trains with
#: the batch-mean ones (TRAINABLE_REDUCTIONS); a loss called on host arrays takes any of them.
REDUCTIONS = (REDUCTION, "mean", "sum", "mean_with_sample_weight", None, "none")
TRAINABLE_REDUCTIONS = (REDUCTION, "mean")

_HOST = NumpyBackend()  # the standalone ``loss(y_true, y_pred)`` computes here, in float64


class Loss(Configurable, Watched):
    """Base class. ``kind`` is the backend's loss kind (see gpudnn.backend.base)."""

    #: backend loss kind: ``mse``, ``mae``, ``huber``, ``log_cosh``, ``kld``, ``poisson``,
    #: ``bce``, ``cce``, ``bce_logits`` or ``cce_logits``
    kind = None
    #: the output activation whose derivative is fused into this loss's gradient (None: none)
    fused_activation = None
    #: labels are integer class indices rather than one-hot rows
    sparse = False
    #: the accuracy that the generic ``"accuracy"`` metric means with this loss
    accuracy_mode = "categorical"
    #: what y must hold: "real" numbers, "binary" values in [0, 1], "categorical" rows summing to 1
    target_kind = "real"
    from_logits = False
    label_smoothing = 0.0
    default_name = "loss"

    def __init__(self, reduction=REDUCTION, name=None):
        if reduction not in REDUCTIONS:
            raise InvalidInputError(
                f"{type(self).__name__}: reduction={reduction!r} is not one of Keras's "
                f"reductions {list(REDUCTIONS)}")
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"a loss name must be a string, not {name!r}")
        self.reduction = reduction
        self.name = name or self.default_name

    @property
    def parameter(self):
        """The backend loss kind's parameter: the cross-entropies' label smoothing, Huber's
        delta (the backend's ``smoothing`` argument)."""
        return self.label_smoothing

    # ---------------------------------------------------------------- on the device
    def value(self, backend, y_pred, y_true):
        """The batch's mean loss as a 0-d device array."""
        return backend.loss_value(self.kind, y_pred, y_true, self.parameter)

    def accumulate(self, backend, y_pred, y_true, total, weights=None):
        """``total += value * n = sum_i L_i`` in place on the device (``total`` 0-d float64);
        with ``weights`` w, a device array (n, 1) of y_pred's dtype, ``total += sum_i w_i L_i``
        (see the module docstring)."""
        backend.accumulate_loss(self.kind, y_pred, y_true, total, self.parameter,
                                weights=weights)

    def gradient(self, backend, y_pred, y_true, out, fused, weights=None):
        """``out = dL/dy_pred``, or with ``fused`` (the output activation is
        ``fused_activation``) ``dL/dz`` with respect to that activation's input; with
        ``weights`` w (n, 1) the gradient of ``sum_i w_i L_i / n``: row i times w_i."""
        if fused:
            backend.logit_grad(self.kind, y_pred, y_true, out, self.parameter,
                               weights=weights)
        else:
            backend.loss_grad(self.kind, y_pred, y_true, out, self.parameter,
                              weights=weights)

    # ---------------------------------------------------------------- on the host
    def __call__(self, y_true, y_pred, sample_weight=None):
        """The loss of (y_true, y_pred), host arrays, reduced by ``self.reduction`` as Keras 3:
        ``sum_over_batch_size`` and ``mean``: ``sum_i w_i L_i / samples`` (a Python float);
        ``sum``: ``sum_i w_i L_i``; ``mean_with_sample_weight``: ``sum_i w_i L_i / sum_i w_i``;
        None or ``"none"``: the per-sample ``w_i L_i`` as a float64 array (samples,).

        y_pred is (samples, outputs), or one sample (outputs,) as Keras reads a vector; y_true
        as ``fit`` takes it (class indices for the sparse loss). ``sample_weight``: one finite
        weight per sample, shape (samples,) or (samples, 1), or one number for all (w_i = 1
        without it).
        """
        p = _as_float64(y_pred, "y_pred")
        if p.ndim == 1:  # one sample
            p = p[None, :]
            y_true = np.reshape(_as_float64(y_true, "y_true"), (-1,) if self.sparse else (1, -1))
        if p.ndim != 2:
            raise InvalidInputError(
                f"y_pred has shape {p.shape}; a loss takes (samples, outputs) predictions")
        y = inputs.targets(y_true, self, p.shape[1], np.float64, "y_true")
        if y.shape[0] != p.shape[0]:
            raise InvalidInputError(f"y_true has {y.shape[0]} samples but y_pred has "
                                    f"{p.shape[0]}; they must pair up one to one")
        self._check_predictions(p)
        n = p.shape[0]
        if self.reduction in (REDUCTION, "mean") and sample_weight is None:
            return float(self.value(_HOST, p, y))
        w = np.ones((n, 1)) if sample_weight is None else _sample_weights(sample_weight, n)
        if self.reduction in (None, "none"):
            return np.array([float(self.value(_HOST, p[i:i + 1], y[i:i + 1])) * w[i, 0]
                             for i in range(n)])
        total = np.zeros((), np.float64)
        self.accumulate(_HOST, p, y, total, weights=w)
        if self.reduction == "sum":
            return float(total)
        if self.reduction == "mean_with_sample_weight":
            weight = float(w.sum())
            return float(total) / weight if weight else 0.0
        return float(total) / n

    def _check_predictions(self, p):
        if not np.isfinite(p).all():
            raise InvalidInputError("y_pred contains NaN or inf")
        if self.from_logits or self.target_kind == "real":
            return
        if p.min() < 0 or p.max() > 1:
            raise InvalidInputError(
                f"y_pred holds values outside [0, 1], but {self!r} takes probabilities; for "
                f"raw scores (logits) use {type(self).__name__}(from_logits=True)")
        bad = inputs.row_not_summing_to_one(p) if self.target_kind == "categorical" else None
        if bad is not None:
            raise InvalidInputError(
                f"row {bad[0]} of y_pred sums to {bad[1]:g}, but {self!r} takes probability "
                f"rows (a softmax output); for raw scores use "
                f"{type(self).__name__}(from_logits=True)")

    # ---------------------------------------------------------------- configuration
    def get_config(self):
        """The constructor's arguments, JSON-able: ``type(loss)(**loss.get_config())`` is equal."""
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self):
        defaults = type(self)().get_config()
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v != defaults[k])
        return f"{type(self).__name__}({args})"


class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)^2)``."""

    kind = "mse"
    default_name = "mean_squared_error"


class MeanAbsoluteError(Loss):
    """``mean(|y_pred - y_true|)``; its gradient is ``sign(y_pred - y_true) / (n k)``."""

    kind = "mae"
    default_name = "mean_absolute_error"


class Huber(Loss):
    """Keras's Huber loss: ``mean(0.5 d^2 if |d| <= delta else delta |d| - 0.5 delta^2)`` over
    the outputs, ``d = y_pred - y_true``: quadratic near the target, linear (robust to outliers)
    beyond ``delta``. Its gradient is ``clip(d, -delta, delta) / (n k)``."""

    kind = "huber"
    default_name = "huber_loss"

    def __init__(self, delta=1.0, reduction=REDUCTION, name=None):
        super().__init__(reduction, name)
        self.delta = float(inputs.positive_number(delta, "Huber delta"))

    @property
    def parameter(self):
        return self.delta

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class LogCosh(Loss):
    """Keras's log-cosh loss: ``mean(log(cosh(y_pred - y_true)))`` over the outputs, computed as
    ``d + softplus(-2 d) - log 2`` (no overflow); about ``d^2 / 2`` near the target and ``|d| -
    log 2`` far from it. Its gradient is ``tanh(d) / (n k)``."""

    kind = "log_cosh"
    default_name = "log_cosh"
    # As Keras's formula, the float32 value cancels near the target (|d| ~ 1e-4 gives an error
    # of ~1e-8); its gradient, tanh(d), does not.


class KLDivergence(Loss):
    """Keras's Kullback-Leibler divergence: ``sum_j t_j log(t_j / c_j)`` per sample (its
    classes summed), averaged over the batch, with t, c = y_true, y_pred clipped to [1e-7, 1].
    Its gradient is ``-t / c / n`` where the clip is inactive, 0 where it is."""

    kind = "kld"
    default_name = "kl_divergence"


class Poisson(Loss):
    """Keras's Poisson loss: ``mean(p - y log(p + 1e-7))`` over the outputs, for counts
    predicted as rates (a non-negative output, e.g. softplus). Its gradient is ``(1 - y / (p +
    1e-7)) / (n k)``."""

    kind = "poisson"
    default_name = "poisson"

    def _check_predictions(self, p):
        super()._check_predictions(p)
        if p.min() < 0:
            raise InvalidInputError("y_pred holds negative values, but Poisson takes rates "
                                    "(p >= 0); give the model a non-negative output such as "
                                    "activation='softplus'")


class _Crossentropy(Loss):
    """A cross-entropy over probabilities, or with ``from_logits=True`` over raw scores."""

    _family = None  # "bce" or "cce"
    _activation = None  # the activation that turns logits into this loss's probabilities

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction=REDUCTION,
                 name=None):
        super().__init__(reduction, name)
        inputs.flag(from_logits, "from_logits")
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, (int, float)) \
                or not 0 <= label_smoothing <= 1:
            raise InvalidInputError(
                f"label_smoothing must be a number in [0, 1], not {label_smoothing!r}")
        if axis not in (-1, 1) or isinstance(axis, bool):
            raise InvalidInputError(
                f"axis={axis!r} is not supported: Dense outputs are (samples, classes), so the "
                f"classes are axis -1")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)
        self.axis = -1

    @property
    def kind(self):
        return self._family + "_logits" if self.from_logits else self._family

    @property
    def fused_activation(self):
        return None if self.from_logits else self._activation

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_Crossentropy):
    """Independent binary targets in [0, 1]; ``label_smoothing`` s uses ``y (1 - s) + s / 2``."""

    _family = "bce"
    _activation = "sigmoid"
    accuracy_mode = "binary"
    target_kind = "binary"
    default_name = "binary_crossentropy"


class CategoricalCrossentropy(_Crossentropy):
    """One-hot (or probability) rows; ``label_smoothing`` s uses ``y (1 - s) + s / k``."""

    _family = "cce"
    _activation = "softmax"
    target_kind = "categorical"
    default_name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class labels (samples,)."""

    sparse = True
    default_name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False, ignore_class=None, axis=-1, reduction=REDUCTION,
                 name=None):
        if ignore_class is not None:
            raise InvalidInputError(
                f"ignore_class={ignore_class!r} is not supported; every label must be a class")
        super().__init__(from_logits, 0.0, axis, reduction, name)

    def get_config(self):
        config = super().get_config()
        del config["label_smoothing"]
        return {**config, "ignore_class": None}


_CLASSES = {cls.__name__: cls for cls in (MeanSquaredError, MeanAbsoluteError, Huber, LogCosh,
                                          KLDivergence, Poisson, BinaryCrossentropy,
                                          CategoricalCrossentropy, SparseCategoricalCrossentropy)}
_BY_NAME = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "kldivergence": KLDivergence,
    "poisson": Poisson,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def _as_float64(data, what):
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} cannot be read as an array of numbers: {exc}") from None


def _sample_weights(sample_weight, n):
    """Keras's ``sample_weight`` for n samples as a float64 (n, 1) column, checked."""
    return inputs.sample_weight_column(sample_weight, n).reshape(n, 1)


def get(identifier):
    """A Loss from a name, a Loss class, a Loss instance or a serialized dict."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    return instance("loss", identifier, _BY_NAME, Loss)


def serialize(loss):
    """``{"class_name": ..., "config": ...}`` of a gpudnn loss (JSON-able)."""
    return serialized("loss", loss, Loss)


def deserialize(data):
    """The loss that ``serialize`` described."""
    return from_serialized("loss", data, _CLASSES)
