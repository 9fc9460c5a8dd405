"""The metric protocol (Keras 3's ``Metric``) and ``Mean``.

A metric is a piece, like a loss: its state is a float64 accumulator that only ever grows by
backend calls, so the same object works two ways.

- **Standalone**, on host arrays: ``update_state(y_true, y_pred, sample_weight=None)`` adds a
  batch on the NumPy reference backend, ``result()`` reads the value (a Python float, or a list
  for several thresholds), ``reset_state()`` starts again.
- **Compiled** (``model.compile(metrics=[...])``): the training step calls
  ``accumulate(backend, y_pred, y_true, state, weights)`` on the device with a
  ``state_shape(outputs)`` accumulator the model keeps (zeroed every epoch), and the host reads
  it only for the progress bar and the epoch's logs, through ``result_of(state, weight,
  outputs)``: a float, or an array (one value per threshold), which the logs keep as Keras's.

``weight`` is the number of samples seen, or the sum of their weights when the metric is
weighted (Keras's ``sample_weight``: a weighted metric averages ``sum_i w_i v_i / sum_i w_i``).
"""

import numpy as np

from .. import config
from ..backend.numpy_backend import NumpyBackend
from ..errors import InvalidInputError
from ..utils import inputs
from ..utils.identifiers import Configurable
from ..utils.naming import auto_name
from ..utils.watched import Watched

_HOST = NumpyBackend()  # standalone metrics accumulate here


def _as_array(data, what, dtype=None):
    try:
        return np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} cannot be read as an array of numbers: {exc}") from None


def sample_weights(sample_weight, n, dtype):
    """Keras's ``sample_weight`` for n samples as an (n, 1) array of ``dtype``, checked: one
    number for all, or one finite weight per sample, (n,) or (n, 1)."""
    return np.ascontiguousarray(inputs.sample_weight_column(sample_weight, n).reshape(n, 1),
                                dtype=dtype)


class Metric(Configurable, Watched):
    """Base class of gpudnn's metrics (see the module docstring). Subclasses set
    ``default_name`` and define ``accumulate`` and ``result_of`` (and ``state_shape`` when the
    state is not one number)."""

    default_name = "metric"
    #: Keras's ``name=None`` default (Precision, Recall, AUC): an object created without a name
    #: takes the next automatic one, ``auc``, ``auc_1``... (utils/naming.py); the other classes
    #: default to ``default_name`` itself, as Keras's do
    auto_named = False
    #: Keras's ``_direction``: "up" when larger is better (what ``mode="auto"`` monitors read)
    direction = "up"
    #: "categorical" when the metric is argmax accuracy, which the fused softmax + categorical
    #: cross-entropy step counts in the same launch; None otherwise
    accuracy_mode = None
    #: y_true holds integer class indices (standalone ``update_state`` one-hot encodes them)
    sparse = False

    def __init__(self, name=None, dtype=None):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"a metric name must be a string, not {name!r}")
        dtype = np.dtype(dtype or config.floatx())
        if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InvalidInputError(f"a metric's dtype is float32 or float64, not {dtype}")
        self.name = name or (auto_name(type(self).__name__) if self.auto_named else
                             self.default_name)
        self.dtype = dtype.name
        self.reset_state()

    # ---------------------------------------------------------------- on the device
    def compile_problem(self):
        """Why ``compile(metrics=[...])`` cannot take this metric, or None."""
        return None

    def state_shape(self, outputs):
        """The shape of the float64 accumulator for a model of ``outputs`` outputs."""
        return ()

    def accumulate(self, backend, y_pred, y_true, state, weights=None):
        """Add the batch (y_pred, y_true: (n, outputs) of the backend) into ``state`` with
        backend calls only; ``weights`` (n, 1) or None."""
        raise NotImplementedError

    def result_of(self, state, weight, outputs):
        """The metric's value from the host copy of ``state`` and the samples' ``weight``."""
        raise NotImplementedError

    # ---------------------------------------------------------------- on the host
    def update_state(self, y_true, y_pred, sample_weight=None):
        """Add a batch of host arrays: y_pred (samples, outputs), or (samples,) for one output
        each; y_true of the same shape (class indices (samples,) for a sparse metric);
        ``sample_weight`` one number or one weight per sample."""
        p, y, w = self._host_batch(y_true, y_pred, sample_weight)
        if self._state is None:
            self._state = np.zeros(self.state_shape(p.shape[1]), np.float64)
            self._outputs = p.shape[1]
        elif p.shape[1] != self._outputs:
            raise InvalidInputError(
                f"{self.name}: y_pred has {p.shape[1]} outputs, but earlier batches had "
                f"{self._outputs}; call reset_state() to start over with other data")
        self.accumulate(_HOST, p, y, self._state, weights=w)
        self._weight += p.shape[0] if w is None else float(np.sum(w, dtype=np.float64))

    def result(self):
        """The metric over every batch since the last ``reset_state`` (0.0 before any)."""
        if self._state is None:
            return 0.0
        return self.result_of(self._state, self._weight, self._outputs)

    def reset_state(self):
        """Forget every batch."""
        self._state, self._weight, self._outputs = None, 0.0, None

    def __call__(self, y_true, y_pred, sample_weight=None):
        """``update_state`` then ``result()``, as Keras's ``metric(y_true, y_pred)``."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def _host_batch(self, y_true, y_pred, sample_weight):
        dtype = np.dtype(self.dtype)
        p = _as_array(y_pred, "y_pred", dtype)
        if p.ndim == 1:
            p = p[:, None]  # one output per sample
        if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] == 0:
            raise InvalidInputError(f"y_pred has shape {p.shape}; a metric takes (samples, "
                                    f"outputs) predictions, or (samples,) for one output")
        p = np.ascontiguousarray(p)
        n, k = p.shape
        y = self._host_targets(y_true, n, k, dtype)
        w = None if sample_weight is None else sample_weights(sample_weight, n, dtype)
        return p, y, w

    def _host_targets(self, y_true, n, k, dtype):
        if self.sparse:
            labels = _as_array(y_true, "y_true").reshape(-1)
            if labels.size != n or not np.all(np.isfinite(labels)) or \
                    np.any(labels != np.round(labels)) or labels.min() < 0 or labels.max() >= k:
                raise InvalidInputError(
                    f"{self.name} takes y_true as {n} class indices in [0, {k}), one per "
                    f"sample; got {labels.size} values {labels[:5].tolist()}...")
            return np.ascontiguousarray(np.eye(k, dtype=dtype)[labels.astype(np.int64)])
        y = _as_array(y_true, "y_true", dtype)
        if y.shape != (n, k):
            if y.size != n * k or y.ndim > 2:
                raise InvalidInputError(
                    f"y_true has shape {y.shape}, y_pred ({n}, {k}); they must match")
            y = y.reshape(n, k)
        return np.ascontiguousarray(y)

    # ---------------------------------------------------------------- configuration
    def get_config(self):
        """The constructor's arguments, JSON-able, as Keras's (``name``, ``dtype``, ...)."""
        return {"name": self.name, "dtype": self.dtype}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __hash__(self):  # equal metrics (same class and config) have one name
        return hash((type(self).__name__, self.name))


class MeanOfSamples(Metric):
    """A metric whose state is one sum ``sum_i w_i v_i`` of per-sample values (Keras's
    ``MeanMetricWrapper``): the value is ``state / weight``, divided by the outputs too when
    ``per_output`` (the state sums over every output of a sample, Keras averages them)."""

    per_output = False

    def result_of(self, state, weight, outputs):
        denominator = weight * (outputs if self.per_output else 1)
        return float(state) / denominator if denominator else 0.0


class Mean(Metric):
    """Keras's ``Mean``: the (weighted) mean of the values given to ``update_state(values,
    sample_weight=None)``; a value per sample (an array (samples, ...) is averaged over its
    other axes first), ``sum_i w_i v_i / sum_i w_i``. Host only: ``compile`` takes metrics of
    ``(y_true, y_pred)``."""

    default_name = "mean"

    def compile_problem(self):
        return ("Mean averages the values given to its update_state; compile takes metrics of "
                "(y_true, y_pred) such as 'auc' or gpudnn.metrics.Precision()")

    def update_state(self, values, sample_weight=None):
        v = _as_array(values, "values", np.float64)
        if v.ndim == 0:
            v = v.reshape(1)
        if v.ndim > 1:
            v = v.mean(axis=tuple(range(1, v.ndim)))
        w = np.ones(v.shape[0]) if sample_weight is None else \
            inputs.sample_weight_column(sample_weight, v.shape[0])
        self._total += float(np.dot(v, w))
        self._weight += float(w.sum())

    def result(self):
        return self._total / self._weight if self._weight else 0.0

    def reset_state(self):
        self._total, self._weight = 0.0, 0.0
