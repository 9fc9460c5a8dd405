"""Checks and conversions of user data, done once per ``fit``/``evaluate``/``predict`` call.

Every problem is an InvalidInputError that names it and the fix, raised before any weight
changes. The results are host NumPy arrays in the model's float dtype, ready for one transfer.
"""

import math
import numbers

import numpy as np

from ..errors import InvalidInputError


def _as_numeric_array(data, what):
    if data is None:
        raise InvalidInputError(f"{what} is None; pass a NumPy array (or a nested list) of numbers")
    try:
        array = np.asarray(data)
    except Exception as exc:  # ragged lists and the like
        raise InvalidInputError(f"{what} cannot be read as an array of numbers: {exc}") from None
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if array.dtype.itemsize == 2 and array.dtype.name == "bfloat16":  # ml_dtypes: a float
        array = array.astype(np.float32)
    if not (np.issubdtype(array.dtype, np.number)) or np.issubdtype(array.dtype, np.complexfloating):
        raise InvalidInputError(
            f"{what} has dtype {array.dtype}; it must hold real numbers (convert it with "
            f"np.asarray({what}, dtype='float32'))")
    if array.ndim == 0 or array.shape[0] == 0:
        raise InvalidInputError(f"{what} is empty (shape {array.shape}); pass at least one sample")
    return array


def _check_finite(array, what):
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = np.argwhere(~np.isfinite(array))[0]
        raise InvalidInputError(
            f"{what} contains NaN or inf (first at index {tuple(int(i) for i in bad)}); remove or "
            f"impute those values before training (e.g. np.nan_to_num)")


def features(x, input_shape, dtype, what="x", any_rank=False):
    """``x`` as a finite C-contiguous array of ``dtype`` of shape (n, *input_shape).

    ``input_shape`` (one sample's shape, a tuple) None accepts any sample shape.
    A model of flat inputs (``input_shape`` of rank 1, ``any_rank`` False) takes a matrix
    (samples, features); one that flattens its input (``any_rank``: its first layer is Flatten,
    or its samples have rank > 1) takes samples of exactly its input shape.
    """
    array = _as_numeric_array(x, what)
    check_feature_shape(array.shape, input_shape, what, any_rank)
    _check_finite(array, what)
    return np.ascontiguousarray(array, dtype=dtype)


def check_feature_shape(shape, input_shape, what="x", any_rank=False):
    """The shape checks of :func:`features` alone (for data checked where it lives)."""
    if len(shape) == 0 or shape[0] == 0:
        raise InvalidInputError(f"{what} is empty (shape {shape}); pass at least one sample")
    if any_rank or (input_shape is not None and len(input_shape) != 1):
        _check_sample_shape(shape, input_shape, what)
        return
    input_dim = None if input_shape is None else input_shape[0]
    if len(shape) != 2:
        if len(shape) > 2:
            fix = f"{what}.reshape(len({what}), -1)"
        elif input_dim is not None and input_dim > 1 and shape[0] == input_dim:
            fix = f"{what}.reshape(1, -1) (one sample of {input_dim} features)"
        else:
            fix = f"{what}.reshape(-1, 1) (one feature per sample)"
        raise InvalidInputError(
            f"{what} has shape {shape} but Dense networks take a matrix (samples, features); "
            f"reshape it with {fix}")
    if input_dim is not None and shape[1] != input_dim:
        raise InvalidInputError(
            f"{what} has {shape[1]} features per sample but the model's input_shape is "
            f"({input_dim},); pass data with {input_dim} columns or build the model with "
            f"input_shape=({shape[1]},)")


def _check_sample_shape(shape, input_shape, what):
    """Samples of a model that flattens its input: (samples, *input_shape)."""
    if len(shape) < 2:
        wanted = "..." if input_shape is None else ", ".join(map(str, input_shape))
        raise InvalidInputError(
            f"{what} has shape {shape} but the model takes a batch of samples, shape "
            f"(samples, {wanted}); a single sample needs a batch axis: {what}[None]")
    if input_shape is not None and shape[1:] != tuple(input_shape):
        dims = ", ".join(map(str, input_shape))
        hint = ""
        if int(np.prod(shape[1:])) == int(np.prod(input_shape)):
            hint = f"; reshape it with {what}.reshape(len({what}), {dims})"
        raise InvalidInputError(
            f"{what} has samples of shape {shape[1:]} but the model's input shape is "
            f"(None, {dims}){hint}; pass data of shape (samples, {dims}) or build the model "
            f"with input_shape={shape[1:]}")


def targets(y, loss, units, dtype, what="y"):
    """``y`` as an (n, units) array of ``dtype`` fit for ``loss``; sparse labels become one-hot."""
    array = _as_numeric_array(y, what)
    _check_finite(array, what)
    n = array.shape[0]
    if loss.sparse:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidInputError(
                f"{what} has shape {array.shape} but sparse_categorical_crossentropy takes class "
                f"indices of shape (samples,); for one-hot rows use loss='categorical_crossentropy'")
        if not np.all(array == np.round(array)):
            raise InvalidInputError(f"{what} holds non-integer class indices; "
                                    "sparse labels must be whole numbers 0..classes-1")
        low, high = array.min(), array.max()
        if low < 0 or high >= units:
            raise InvalidInputError(
                f"{what} holds class index {int(low) if low < 0 else int(high)} but the model has "
                f"{units} outputs, so labels must be in 0..{units - 1}; give the last Dense layer "
                f"as many units as there are classes")
        onehot = np.zeros((n, units), dtype=dtype)
        onehot[np.arange(n), array.astype(np.intp)] = 1
        return onehot
    if array.ndim == 1 and units == 1:
        array = array[:, None]
    if array.ndim == 1 and loss.target_kind == "categorical":
        raise InvalidInputError(
            f"{what} has shape {array.shape} (class indices) but categorical_crossentropy needs "
            f"one-hot rows of shape (samples, {units}); use loss='sparse_categorical_crossentropy' "
            f"or gpudnn.utils.to_categorical({what}, {units})")
    if array.ndim != 2 or array.shape[1] != units:
        raise InvalidInputError(
            f"{what} has shape {array.shape} but the model's output is (samples, {units}); give "
            f"the last layer as many units as {what} has columns, or reshape {what}")
    if loss.target_kind != "real" and (array.min() < 0 or array.max() > 1):
        raise InvalidInputError(
            f"{what} holds values outside [0, 1] but {loss.name} needs probabilities or 0/1 "
            f"labels; for class indices use sparse_categorical_crossentropy")
    bad = row_not_summing_to_one(array) if loss.target_kind == "categorical" else None
    if bad is not None:
        raise InvalidInputError(
            f"row {bad[0]} of {what} sums to {bad[1]:g}, but categorical_crossentropy needs one "
            f"class per sample (one-hot rows, or probabilities summing to 1); for several labels "
            f"per sample use a sigmoid output with binary_crossentropy")
    return np.ascontiguousarray(array, dtype=dtype)


def row_not_summing_to_one(array):
    """``(row, its sum)`` of the first row of a 2-D array whose sum is not 1 (within 1e-3), or
    None when every row sums to 1."""
    sums = array.sum(axis=1, dtype=np.float64)
    bad = np.flatnonzero(np.abs(sums - 1) > 1e-3)
    return (int(bad[0]), float(sums[bad[0]])) if bad.size else None


def same_length(x, y):
    if x.shape[0] != y.shape[0]:
        raise InvalidInputError(
            f"x has {x.shape[0]} samples but y has {y.shape[0]}; they must pair up one to one")


def flag(value, what):
    """``value`` as a bool when it is True or False (NumPy's included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidInputError(f"{what} must be True or False, not {value!r}")
    return bool(value)


def positive_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise InvalidInputError(f"{what} must be a positive integer, not {value!r}")
    return int(value)


def non_negative_int(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidInputError(f"{what} must be an integer >= 0, not {value!r}")
    return int(value)


def real_number(value):
    """``value`` as a Python int or float when it is a real number (NumPy scalars included, so
    that configs stay JSON-able), else None; booleans are not numbers here."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _finite(number):
    """math.isfinite, False for an int too large for a float (10**400)."""
    try:
        return math.isfinite(number)
    except OverflowError:
        return False


def finite_number(value, what):
    """``value`` as a Python int or float (its type kept) when it is a finite real number."""
    number = real_number(value)
    if number is None or not _finite(number):
        raise InvalidInputError(f"{what} must be a finite number, not {value!r}")
    return number


def positive_number(value, what):
    """``value`` as a Python int or float when it is a finite real number > 0."""
    number = real_number(value)
    if number is None or not _finite(number) or not number > 0:
        raise InvalidInputError(f"{what} must be a positive finite number, not {value!r}")
    return number


def nonnegative_number(value, what, rule="a finite number >= 0"):
    """``value`` as a Python int or float when it is a finite real number >= 0 (``rule``: how
    the error names what is accepted)."""
    number = real_number(value)
    if number is None or not _finite(number) or number < 0:
        raise InvalidInputError(f"{what} must be {rule}, not {value!r}")
    return number


def weight_arrays(labeled_views, weights, hint=""):
    """Host ``weights`` for ``[(label, parameter view)]``, each checked (its shape, real numbers)
    and converted to its view's dtype, all of them before anything is copied."""
    arrays = []
    for (label, view), w in zip(labeled_views, weights):
        w = np.asarray(w)
        if w.shape != tuple(view.shape):
            raise InvalidInputError(
                f"weight {label} has shape {tuple(view.shape)} but the array given for it has "
                f"shape {w.shape}{hint}")
        if not (np.issubdtype(w.dtype, np.number) or w.dtype == np.bool_) or \
                np.issubdtype(w.dtype, np.complexfloating):
            raise InvalidInputError(f"weight {label} must hold real numbers, not dtype {w.dtype}")
        arrays.append(np.require(w, dtype=view.dtype, requirements="C"))  # 0-d stays 0-d
    return arrays


def sample_weight_column(sample_weight, n, what="sample_weight", nonnegative=False):
    """Keras's ``sample_weight`` for n samples as float64 (n,), checked: one number for all, or
    one weight per sample, shape (n,) or (n, 1); finite, and >= 0 with ``nonnegative`` (fit
    refuses negative weights; a loss or a metric called on arrays takes them, as Keras's)."""
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        w = np.full(n, float(sample_weight))
    else:
        try:
            w = np.asarray(sample_weight)
        except Exception as exc:
            raise InvalidInputError(f"{what} cannot be read as an array of numbers: {exc}") \
                from None
        if w.dtype.itemsize == 2 and w.dtype.name == "bfloat16":  # ml_dtypes: a float
            w = w.astype(np.float32)
        if w.dtype == np.bool_ or not np.issubdtype(w.dtype, np.number) \
                or np.issubdtype(w.dtype, np.complexfloating):
            raise InvalidInputError(f"{what} cannot be read as an array of numbers (dtype "
                                    f"{w.dtype}); give real numbers, one per sample")
        w = np.full(n, float(w)) if w.ndim == 0 else w
    if w.shape not in ((n,), (n, 1)):
        raise InvalidInputError(
            f"{what} has shape {w.shape}, but there are {n} samples: give one weight per "
            f"sample, shape ({n},) or ({n}, 1), or one number for all of them")
    w = w.reshape(n).astype(np.float64)
    bad = ~np.isfinite(w) | (w < 0) if nonnegative else ~np.isfinite(w)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        rule = "finite numbers >= 0" if nonnegative else "finite numbers"
        raise InvalidInputError(
            f"{what}[{first}] is {w[first]} ({int(bad.sum())} weights are not {rule}): "
            f"weights must be {rule}; give such samples a weight of 0 to leave them out "
            f"(numpy.nan_to_num(w, nan=0.0, posinf=0.0, neginf=0.0))")
    return w

