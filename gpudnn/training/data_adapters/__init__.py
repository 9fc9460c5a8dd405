"""Where batches come from: one adapter per kind of source behind one small interface
(base.DataAdapter), so the loops never ask where a batch came from (Keras 3's
``trainers/data_adapters`` is the model).

- arrays.py: arrays that fit (NumPy, CuPy, anything with ``__dlpack__`` or
  ``__cuda_array_interface__``): on the model's device once, used in place when they already are
  there in its dtype; batches gathered on the device by the step.
- streams.py: memory-mapped arrays, read batch by batch by a background thread (prefetch.py).
- python_batches.py: generators, iterators and PyDatasets, through the same pipeline.
- weights.py: ``sample_weight`` and ``class_weight`` as per-sample weights.
"""

import collections.abc
import inspect

import numpy as np

from ...errors import InvalidInputError
from . import weights
from .arrays import ArrayAdapter
from .python_batches import DatasetAdapter, IteratorAdapter, warn_ran_out
from .sources import mapped_file
from .streams import MappedArrayAdapter

__all__ = ["adapt", "checked_arrays", "warn_ran_out", "is_python_source", "unwrap_named"]


def is_dataset(x):
    """A PyDataset or anything with its contract (gpudnn's, Keras's, a keras.utils.Sequence)."""
    return callable(getattr(x, "__getitem__", None)) and callable(getattr(x, "__len__", None)) \
        and callable(getattr(x, "on_epoch_end", None)) and not hasattr(x, "__array__") \
        and not isinstance(x, (list, tuple, dict, str))


def is_iterable_source(x):
    """A generator, an iterator, or an iterable that is not an array (a DataLoader, say)."""
    if inspect.isgenerator(x) or isinstance(x, collections.abc.Iterator):
        return True
    return isinstance(x, collections.abc.Iterable) and not isinstance(x, (list, tuple, str, dict)) \
        and not hasattr(x, "__array__") and not hasattr(x, "__dlpack__") \
        and not hasattr(x, "__cuda_array_interface__") and not hasattr(x, "__getitem__")


def is_python_source(x):
    return is_dataset(x) or is_iterable_source(x)


def adapt(model, caller, x, y=None, sample_weight=None, class_weight=None, batch_size=32,
          steps=None, what=""):
    """The adapter for data given to ``caller`` ("fit", "evaluate" or "predict"), with the
    model built from it if needed. ``steps``: batches per epoch (None: one pass, or until a
    generator ends), continuing across epochs as Keras's epoch iterator does; ``what``: a
    suffix for the names in errors ("_val": x_val, y_val). ``class_weight`` is checked by the
    adapter once the model is built (its number of outputs)."""
    x, y = unwrap_named(model, x, "x"), unwrap_named(model, y, "y")
    if is_python_source(x):
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise InvalidInputError(
                    f"{name} must be None when x is a generator or a PyDataset: its batches "
                    f"carry their targets and weights as (x, y) or (x, y, sample_weight)")
        if is_dataset(x):
            return DatasetAdapter(model, caller, x, class_weight, steps)
        return IteratorAdapter(model, caller, x, class_weight, steps)
    if mapped_file(x) is not None:
        return MappedArrayAdapter(model, caller, x, y, sample_weight, class_weight, batch_size,
                                  steps)
    return array_adapter(model, caller, x, y, sample_weight, class_weight, batch_size, what,
                         steps)


def unwrap_named(model, data, which):
    """Keras's dict form of a one-input, one-output model's data: ``{input name: x}`` and
    ``{output layer name: y}`` give x and y; any other dict is refused with the names."""
    if not isinstance(data, dict):
        return data
    if which == "x":
        source = getattr(model, "_input", None)
        name = source.name if source is not None else None
    else:  # the output layer of model.layers (a nested model's own name, as Keras's)
        outer = model.layers
        name = outer[-1].name if outer else None
    if len(data) == 1 and (name is None or next(iter(data)) == name):
        return next(iter(data.values()))
    expected = f"{{{name!r}: ...}}" if name else "one entry"
    raise InvalidInputError(
        f"{which} is a dict with keys {sorted(map(str, data))}; the model has one "
        f"{'input' if which == 'x' else 'output'}, so a dict {which} is {expected} "
        f"(or pass the array itself)")


def array_adapter(model, caller, x, y, sample_weight, class_weight, batch_size, what="",
                  steps=None):
    """Arrays that fit, checked and converted once (:func:`checked_arrays`), batches gathered
    on the device by the step."""
    be = model.backend
    x_dev, y_host, w_host = checked_arrays(model, caller, x, y, sample_weight, class_weight,
                                           what)
    return ArrayAdapter(be, x_dev, None if y_host is None else be.adopt(y_host),
                        None if w_host is None else be.adopt(w_host), batch_size, steps)


def checked_arrays(model, caller, x, y=None, sample_weight=None, class_weight=None, what=""):
    """``(x, y, w)`` checked and converted for the model: x as the backend's array, used in
    place when it already is one in the model's dtype (a NumPy array on the CPU, a CuPy array
    or a DLPack GPU tensor on the model's GPU; checked there, never copied back), else after
    one transfer or conversion; y (n, outputs) and the weights (n, 1) or None on the host
    (small: given on a GPU they are checked after one copy back). y and w are None for
    "predict"."""
    be = model.backend
    x, y = unwrap_named(model, x, "x"), unwrap_named(model, y, "y")
    x_in = be.foreign_input(x, "x" + what)
    if be.is_device_array(x_in):
        x_dev = model._prepare_device(caller, x_in, what)
    else:
        x_dev = be.adopt(model._prepare_features(x_in, what))
    if caller == "predict":
        return x_dev, None, None
    y_host = model._prepare_targets(caller, be.host_array(be.foreign_input(y, "y" + what)),
                                    what)
    if y_host.shape[0] != x_dev.shape[0]:
        raise InvalidInputError(f"x has {x_dev.shape[0]} samples but y has {y_host.shape[0]}; "
                                f"they must pair up one to one")
    cw = weights.check_class_weight(class_weight, model.output_dim)
    if sample_weight is not None:
        sample_weight = be.host_array(be.foreign_input(sample_weight, "sample_weight" + what))
    return x_dev, y_host, weights.sample_weights(sample_weight, cw, y_host, model.dtype,
                                                 "sample_weight" + what)


def split_arrays(x, y, sample_weight, validation_split):
    """Keras's ``validation_split``: the last fraction of the samples (before shuffling) is held
    out; ``(x, y, w), (x_val, y_val, w_val)`` as views of the arrays given."""
    n = len(x)
    n_val = n - int(np.ceil(n * (1 - validation_split)))
    if n_val == 0 or n_val == n:
        raise InvalidInputError(
            f"validation_split={validation_split} leaves {n_val} of {n} samples "
            f"for validation; use a split that keeps samples on both sides")
    w_train = w_val = sample_weight
    if sample_weight is not None and np.ndim(sample_weight) > 0:
        w_train, w_val = sample_weight[:-n_val], sample_weight[-n_val:]
    return (x[:-n_val], y[:-n_val], w_train), (x[-n_val:], y[-n_val:], w_val)
