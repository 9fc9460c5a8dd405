"""The ``Loss`` base class: Keras 3's reductions, the loss on the device (its backend kind and
parameter) and on host arrays (``loss(y_true, y_pred, sample_weight=None)``, computed in
float64 by the NumPy backend), and the checks of predictions. The formulas are in the package's
docstring and in gpudnn/backend/base.py."""


import numpy as np

from ..backend.numpy_backend import NumpyBackend
from ..errors import InvalidInputError
from ..utils import inputs
from ..utils.identifiers import Configurable
from ..utils.watched import Watched

#: Keras's default reduction: the sum over the batch divided by its size.
REDUCTION = "sum_over_batch_size"
#: Keras 3's reductions (``None`` and ``"none"``: the per-sample losses). ``fit`` trains with
#: the batch-mean ones (TRAINABLE_REDUCTIONS); a loss called on host arrays takes any of them.
REDUCTIONS = (REDUCTION, "mean", "sum", "mean_with_sample_weight", None, "none")
TRAINABLE_REDUCTIONS = (REDUCTION, "mean")

_HOST = NumpyBackend()  # the standalone ``loss(y_true, y_pred)`` computes here, in float64


class Loss(Configurable, Watched):
    """Base class. ``kind`` is the backend's loss kind (see gpudnn.backend.base)."""

    #: backend loss kind: one of gpudnn.backend.LOSS_KINDS (``mse``, ``mape``, ``hinge``,
    #: ``bce``, ``cce_logits``, ...)
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


def _as_float64(data, what):
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} cannot be read as an array of numbers: {exc}") from None


def _sample_weights(sample_weight, n):
    """Keras's ``sample_weight`` for n samples as a float64 (n, 1) column, checked."""
    return inputs.sample_weight_column(sample_weight, n).reshape(n, 1)
