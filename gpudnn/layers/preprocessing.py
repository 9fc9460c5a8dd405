"""Keras 3's preprocessing layers for numeric features: ``Normalization`` and ``Rescaling``.

- ``Normalization(axis=-1, mean=None, variance=None)``: ``y = (x - mean) / max(sqrt(variance),
  1e-7)``, per feature (``axis=-1``) or with one mean and variance for every element
  (``axis=None``). The statistics are given, or learned from data by ``adapt(data)`` (before or
  after the layer is in a model): then they are the layer's weights ``[mean, variance, count]``,
  non-trainable, saved with the model, as in Keras 3 (``count`` stays 0 there too).
- ``Rescaling(scale, offset=0.0)``: ``y = x * scale + offset``; scalars or one value per feature.

Neither trains. Both run the BatchNormalization inference kernel (``kernels/normalization.cu``,
``y = gamma (x - m) / sqrt(v + eps) + beta`` per feature) on buffers that make it their
formula: for Rescaling gamma = scale, beta = offset, m = 0, v = 1, eps = 0, so ``x * scale +
offset`` exactly; for Normalization gamma = 1, beta = 0, m = mean, eps = 0 and v =
``max(variance, 1e-14)`` (a given variance floored once on the host, an adapted one by
``floor_into`` before each forward pass, as its weight may have been set or loaded since), so
``sqrt(v)`` is Keras's ``max(sqrt(variance), 1e-7)``; the multiplication by ``1 / sqrt(v)`` may
differ from Keras's division by one rounding. Backward (a layer above the first trainable one)
is ``dx = dy gamma / sqrt(v + eps)``.
"""

import itertools
import numbers

import numpy as np

from ..errors import InvalidInputError
from ..utils.py_dataset import PyDataset
from ..variables import Variable
from .base import Layer

#: the variance's floor: sqrt(1e-14) = 1e-7, Keras's backend.epsilon() under its square root
VARIANCE_FLOOR = 1e-14


class _Affine(Layer):
    """A fixed per-feature map run by the BatchNormalization inference kernel: subclasses give
    the kernel's gamma, beta, m, v (``_operands``, device (k,) arrays) and eps."""

    epsilon = 0.0

    def forward(self, backend, x, out):
        gamma, beta, m, v = self._operands(x.dtype)
        self._prepare(backend)
        if gamma.shape[0] != x.shape[1]:  # one value for every element: x as one column
            x, out = x.reshape(-1, 1), out.reshape(-1, 1)
        backend.batchnorm_inference(x, gamma, beta, m, v, self.epsilon, out)

    def backward(self, backend, x, y, dy, dx, skip_activation=False, param_grads=True):
        if dx is None:
            return
        gamma, _, _, v = self._operands(dy.dtype)
        if gamma.shape[0] != dy.shape[1]:
            dy, dx = dy.reshape(-1, 1), dx.reshape(-1, 1)
        backend.batchnorm_inference_backward(dy, gamma, v, self.epsilon, dx)

    def weight_trainable(self, name):
        return False

    def bind_compute(self, views):
        """Called by the model once the layer's dtype policy follows the model's: make the
        kernel's operands in that dtype (``_make_operands``), kept by dtype (a layer without
        weights may serve a float32 and a float64 model)."""
        super().bind_compute(views)
        dtype = np.dtype(self.variable_dtype)
        if not hasattr(self, "_by_dtype"):
            self._by_dtype = {}
        self._by_dtype[dtype] = self._make_operands(dtype)

    def _operands(self, dtype):
        """``(gamma, beta, m, v)`` of the kernel for inputs of ``dtype``."""
        return self._by_dtype[np.dtype(dtype)]

    def _prepare(self, backend):
        """Before each forward pass (Normalization's variance floor)."""

    def _constant(self, values, dtype):
        """A device copy of host ``values`` (a (k,) or (1,) array), in ``dtype`` and finite
        there."""
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(over="ignore"):
            cast = values.astype(dtype)
        if not np.isfinite(cast).all():
            raise InvalidInputError(f"{self.name!r}: {values.tolist()} overflows {dtype}")
        return self._backend.from_host(np.ascontiguousarray(cast))


class Normalization(_Affine):
    """Shifts and scales each feature to mean 0 and variance 1 by statistics given or learned
    with :meth:`adapt` (see the module docstring).

    Args:
        axis: -1 (a mean and variance per feature) or None (one for all elements).
        mean, variance: the statistics, both or neither: scalars or one value per feature.
            Given, they are constants of the layer (no weights), as in Keras.
        invert: False (True, the inverse map, is refused).
    """

    accepts_any_rank = True

    @property
    def elementwise(self):
        return self.axis is None

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, name=None,
                 input_shape=None, dtype=None):
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if axis is not None and (isinstance(axis, bool) or axis not in (-1, 1)):
            raise InvalidInputError(
                f"Normalization axis={axis!r}: gpudnn's samples are flat feature vectors; use "
                f"axis=-1 (a mean and variance per feature) or axis=None (one for all)")
        if invert:
            raise InvalidInputError("Normalization(invert=True) is not supported: multiply by "
                                    "sqrt(variance) and add the mean after predicting")
        if (mean is None) != (variance is None):
            raise InvalidInputError(f"give Normalization both mean and variance or neither, "
                                    f"not mean={mean!r}, variance={variance!r}")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.axis = None if axis is None else -1
        self.input_mean = self.input_variance = None
        if mean is not None:
            self.input_mean = _statistic(mean, "mean", self.axis)
            self.input_variance = _statistic(variance, "variance", self.axis)
            if self.input_mean.shape != self.input_variance.shape:
                raise InvalidInputError(f"Normalization mean and variance must have the same "
                                        f"shape, not {self.input_mean.shape} and "
                                        f"{self.input_variance.shape}")
            if (self.input_variance < 0).any():
                raise InvalidInputError("Normalization variance must be >= 0")
        #: the statistics adapt() learned before the layer had weights (float64, host)
        self._adapted = None
        #: the weights (views of the model's buffer) once bound
        self._mean_view = self._variance_view = self.count = None

    def build(self, input_dim):
        if self.input_mean is not None and self.axis == -1 and \
                self.input_mean.size not in (1, input_dim):
            raise InvalidInputError(f"Normalization {self.name!r} has {self.input_mean.size} "
                                    f"means for {input_dim} features")
        if self._adapted is not None and self.axis == -1 and self._adapted[0].size != input_dim:
            raise InvalidInputError(f"Normalization {self.name!r} was adapted to "
                                    f"{self._adapted[0].size} features but gets {input_dim}")
        super().build(input_dim)

    def param_specs(self):
        if self.input_mean is not None:
            return []
        shape = (self.input_dim,) if self.axis == -1 else ()
        adapted = self._adapted
        mean = "zeros" if adapted is None else (lambda s: adapted[0].reshape(s))
        variance = "ones" if adapted is None else (lambda s: adapted[1].reshape(s))
        return [("mean", shape, mean), ("variance", shape, variance), ("count", (), "zeros")]

    def parameter_views(self):
        return [self._mean_view, self._variance_view, self.count] if self.param_specs() else []

    @property
    def mean(self):
        """The mean the layer normalizes by, as a Variable (``.numpy()``, ``np.array(...)``):
        its weight once bound, the adapted one before (Keras's ``layer.mean`` after
        ``adapt``), or the one given; None before adapt."""
        return self._statistic("mean", self._mean_view, 0, self.input_mean)

    @property
    def variance(self):
        """The variance, as ``mean``."""
        return self._statistic("variance", self._variance_view, 1, self.input_variance)

    def _statistic(self, name, view, index, given):
        path = f"{self.name}/{name}"
        if view is not None:
            return Variable.view_of(self._backend, view, path, None, 0, 0)
        values = given if self._adapted is None else self._adapted[index]
        if values is None:
            return None
        shape = (self.input_dim,) if self.axis == -1 and self.input_dim else values.shape
        return Variable(np.asarray(values, self.variable_dtype).reshape(shape), name=path,
                        trainable=False, device="cpu")

    def bind(self, params, grads):
        if params:
            self._mean_view, self._variance_view, self.count = params
            self.mean_grad, self.variance_grad, self.count_grad = grads

    def _make_operands(self, dtype):
        width = self.input_dim if self.axis == -1 else 1
        ones, zeros = self._constant(np.ones(width), dtype), self._constant(np.zeros(width), dtype)
        if self._mean_view is not None:  # the weights; the floored variance: _prepare
            self._variance_row = self._variance_view.reshape(width)
            self._floored = self._backend.empty((width,), dtype)
            return ones, zeros, self._mean_view.reshape(width), self._floored
        return (ones, zeros, self._constant(np.broadcast_to(self.input_mean, (width,)), dtype),
                self._constant(np.maximum(np.broadcast_to(self.input_variance, (width,)),
                                          VARIANCE_FLOOR), dtype))

    def _prepare(self, backend):
        if self._mean_view is not None:
            backend.floor_into(self._variance_row, VARIANCE_FLOOR, self._floored)

    def adapt(self, data):
        """Learn the mean and the (biased) variance of ``data``: an array of samples, or an
        iterable of batches (a list of arrays, a generator, a PyDataset; ``(x, y)`` batches
        give their x), combined batch by batch as Keras combines them: ``layer.mean`` and
        ``layer.variance`` at once, the layer's weights in its model's buffer now if it is in
        a built model, else when a model builds with it."""
        if self.input_mean is not None:
            raise InvalidInputError(f"Normalization {self.name!r} was given its mean and "
                                    f"variance; adapt() is for a layer made without them")
        mean, variance = _moments(data, self.axis)
        if self.axis == -1 and self.input_dim is not None and mean.size != self.input_dim:
            raise InvalidInputError(f"Normalization {self.name!r} takes {self.input_dim} "
                                    f"features but adapt() got {mean.size}")
        self._adapted = (mean, variance)
        if self.axis == -1 and self.input_dim is None:  # as Keras's adapt builds the layer: a
            self.input_dim, self.input_shape = mean.size, (mean.size,)  # model of it can build
        for view, values in ((self._mean_view, mean), (self._variance_view, variance)):
            if view is not None and self._backend is not None:
                self._backend.copy_into(view, values.astype(view.dtype).reshape(view.shape))

    def declared_width(self):
        if self._adapted is not None and self.axis == -1:
            return (f"was adapted to data of {self.input_dim} features",
                    "adapt it to data of the model's features")
        return super().declared_width()

    def get_config(self):
        def listed(values):
            return None if values is None else values.tolist()
        return {**super().get_config(), "axis": self.axis, "invert": False,
                "mean": listed(self.input_mean), "variance": listed(self.input_variance)}


class Rescaling(_Affine):
    """``y = x * scale + offset`` (scalars, or one value per feature)."""

    accepts_any_rank = True

    @property
    def elementwise(self):
        return self.scale.size == 1 and self.offset.size == 1

    def __init__(self, scale, offset=0.0, name=None, input_shape=None, dtype=None):
        super().__init__(name=name, input_shape=input_shape, dtype=dtype)
        self.scale = _statistic(scale, "scale", -1)
        self.offset = _statistic(offset, "offset", -1)

    def build(self, input_dim):
        for what, values in (("scale", self.scale), ("offset", self.offset)):
            if values.size not in (1, input_dim):
                raise InvalidInputError(f"Rescaling {self.name!r} has {values.size} {what} "
                                        f"values for {input_dim} features")
        super().build(input_dim)

    def _make_operands(self, dtype):
        width = 1 if self.scale.size == self.offset.size == 1 else self.input_dim
        return (self._constant(np.broadcast_to(self.scale, (width,)), dtype),
                self._constant(np.broadcast_to(self.offset, (width,)), dtype),
                self._constant(np.zeros(width), dtype), self._constant(np.ones(width), dtype))

    def get_config(self):
        def plain(values):
            return float(values[0]) if values.size == 1 else values.tolist()
        return {**super().get_config(), "scale": plain(self.scale), "offset": plain(self.offset)}


def _statistic(values, what, axis):
    """``values`` (a scalar, or one per feature with ``axis=-1``) as a finite float64 vector."""
    if isinstance(values, bool):
        raise InvalidInputError(f"{what} must be numbers, not {values!r}")
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{what} must be a number or a list of numbers, not "
                                f"{values!r}") from None
    if array.size == 0 or not np.isfinite(array).all():
        raise InvalidInputError(f"{what} must be finite numbers, not {values!r}")
    if axis is None and array.size != 1:
        raise InvalidInputError(f"with axis=None, {what} is one number, not {array.size}")
    return array


def _moments(data, axis):
    """(mean, variance) of ``data`` as float64 arrays: per feature (axis -1) or of all
    elements (axis None, shape (1,)); batches combined by Keras's rule (pooled variance)."""
    if isinstance(data, PyDataset):
        batches = (data[i] for i in range(len(data)))
    elif isinstance(data, np.ndarray) or hasattr(data, "__array__") or \
            hasattr(data, "__dlpack__") or isinstance(data, numbers.Number) or \
            not hasattr(data, "__iter__") or _nested_numbers(data):
        batches = iter([data])  # one array (a nested list of numbers is one too)
    else:
        batches = iter(data)
    first = next(batches, None)
    if first is None:
        raise InvalidInputError("adapt() got no data; pass an array of samples or an iterable "
                                "of batches")
    mean = variance = None
    count = 0
    for batch in itertools.chain([first], batches):
        x = _batch_array(batch, axis)
        n = x.shape[0]
        batch_mean, batch_var = x.mean(axis=0), x.var(axis=0)
        if mean is not None and batch_mean.shape != mean.shape:
            raise InvalidInputError(f"adapt() got a batch of {batch_mean.size} features after "
                                    f"batches of {mean.size}")
        count += n
        w = n / count
        if mean is None:
            mean, variance = batch_mean, batch_var
            continue
        new_mean = mean * (1 - w) + batch_mean * w
        variance = (variance + (mean - new_mean) ** 2) * (1 - w) + \
            (batch_var + (batch_mean - new_mean) ** 2) * w
        mean = new_mean
    return mean, variance


def _nested_numbers(data):
    """True for a list or tuple of numbers or of lists of numbers: one array of samples, not
    a list of batches (Keras would refuse it)."""
    return isinstance(data, (list, tuple)) and bool(data) and \
        all(isinstance(item, (numbers.Number, list, tuple)) for item in data)


def _batch_array(batch, axis):
    """One batch as a finite float64 (samples, features) array; ``(x, y)`` gives x; with
    ``axis`` None, every element is a sample of one feature."""
    if isinstance(batch, tuple):
        batch = batch[0]
    if np.iscomplexobj(batch):
        raise InvalidInputError("adapt() data holds complex numbers; pass real features")
    try:
        x = np.asarray(batch, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"adapt() data cannot be read as numbers: {exc}") from None
    if x.size == 0:
        raise InvalidInputError("adapt() got an empty batch")
    if not np.isfinite(x).all():
        raise InvalidInputError("adapt() data contains NaN or inf; remove or impute them first")
    if axis is None or x.ndim == 0:
        return x.reshape(-1, 1)
    if x.ndim == 1:
        return x.reshape(-1, 1)  # samples of one feature
    return x.reshape(len(x), -1)
