"""Subnormals flushed to zero in the NumPy backend's optimizer updates, as the compiled kernels do.

The kernels run with FTZ|DAZ (see :mod:`~gpudnn.backend.host_kernels`): a subnormal operand reads
as a zero of its sign and a subnormal result is written as one. :func:`flushing` wraps an update
method ``update(backend, param, grad, ...)`` so that NumPy reaches the same bits:

- where :mod:`~gpudnn.backend.fp_mode` can set the mode from Python (x86-64, glibc) the update
  runs in it, the caller's mode restored after: exact by construction, about 1 us per call;
- elsewhere it is emulated: the parameter and the slots (the other arrays of the parameter's
  shape) are flushed in place and the gradient into a copy (DAZ), then the update runs on
  :class:`FlushedArray` views of them and of its work arrays, whose every ufunc result is flushed
  (FTZ after each operation). Flushing only the inputs and outputs would not be enough:
  ``g - m``, ``g * g`` or ``lr * g`` can underflow inside an update and change a normal result.
  Exact as well, about 5x slower (three more passes per operation).

Nothing changes while ``gpudnn.set_flush_denormal(False)``. The update's body needs no flush
calls of its own, so any update method written as NumPy ufunc calls on its arguments and on
``backend._scratch`` work arrays can simply be decorated.
"""

import functools
import threading

import numpy as np

from .. import config
from . import fp_mode

#: ``mode``: None, ``"hardware"``, or the backend whose update is being emulated on this thread
#: (the floating-point mode is per thread, so is this).
_thread = threading.local()


def emulating(backend):
    """True while ``backend`` runs an emulated flushing update on this thread."""
    return getattr(_thread, "mode", None) is backend


def flush_in_place(arrays, work):
    """Each subnormal element of ``arrays`` becomes a zero of its sign; NaN, inf and normal values
    are kept. ``work(shape, dtype)`` gives a float work array: ``keep = |a| >= tiny`` as 1.0 or
    0.0 (0.0 for NaN, whose ``NaN * 0`` stays NaN), then ``a *= keep``."""
    for a in arrays:
        keep = work(a.shape, a.dtype)
        np.abs(a, out=keep)
        np.greater_equal(keep, np.finfo(a.dtype).tiny, out=keep)
        np.multiply(a, keep, out=a)


class FlushedArray(np.ndarray):
    """A view whose ufunc results are flushed (FTZ), for the emulated updates only."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        plain = [x.view(np.ndarray) if isinstance(x, FlushedArray) else x for x in inputs]
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, FlushedArray) else o
                                  for o in out)
        result = getattr(ufunc, method)(*plain, **kwargs)
        written = kwargs.get("out") or (result if isinstance(result, tuple) else (result,))
        floats = [a for a in written if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
        _thread.mode._flush(*floats)
        if out is not None:  # ``t *= c`` rebinds t to this: keep the flushing view
            return out[0] if len(out) == 1 else out
        return result


def flushing(update):
    """``update(backend, param, grad, *args, **kwargs)`` with subnormals flushed (module doc):
    ``param`` and every other array of its shape are written in place, ``grad`` (any array, or
    a scalar) is read."""
    @functools.wraps(update)
    def run(backend, param, grad, *args, **kwargs):
        if getattr(_thread, "mode", None) is not None or not config.flush_denormal():
            return update(backend, param, grad, *args, **kwargs)
        saved = fp_mode.enter()
        if saved is not None:
            _thread.mode = "hardware"
            try:
                return update(backend, param, grad, *args, **kwargs)
            finally:
                _thread.mode = None
                fp_mode.leave(saved)

        def is_slot(a):
            return isinstance(a, np.ndarray) and a.shape == param.shape and a is not grad

        def view(a):
            return a.view(FlushedArray) if is_slot(a) else a

        backend._flush(param, *[a for a in (*args, *kwargs.values()) if is_slot(a)])
        if isinstance(grad, np.ndarray):
            grad = backend._flushed_copy(grad).view(FlushedArray)
        _thread.mode = backend
        try:
            return update(backend, param.view(FlushedArray), grad, *map(view, args),
                          **{k: view(v) for k, v in kwargs.items()})
        finally:
            _thread.mode = None
    return run
