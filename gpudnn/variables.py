"""``gpudnn.Variable``: an array on a device that optimizers update in place, for custom
training loops (``optimizer.apply_gradients(zip(grads, variables))``).

A Variable either owns its array or is a view of a model's flat parameter buffer (the model's
``trainable_weights``). ``apply_gradients`` on a model's trainable weights, all of them in
order, copies the gradients into the model's flat gradient buffer and takes the optimizer's
one-pass flat step: exactly what ``train_on_batch`` does. Any other list of variables is
gathered into flat buffers of its own (kept by the optimizer for that list), updated in one
pass, and scattered back.
"""

import numpy as np

from . import config
from .backend.device import current_backend
from .errors import InvalidInputError


def _numeric(value, what):
    """``value`` as a host NumPy array of numbers (bool included), else InvalidInputError."""
    try:
        host = np.asarray(value)
    except ValueError as exc:  # a ragged list
        raise InvalidInputError(f"{what} is not an array of numbers: {exc}") from None
    if not (np.issubdtype(host.dtype, np.number) or host.dtype == np.bool_):
        raise InvalidInputError(f"{what} must hold numbers, not {host.dtype} ({value!r:.60})")
    return host


class Variable:
    """A device array with ``numpy()``, ``assign``, ``assign_add``, ``assign_sub``, ``shape``,
    ``dtype`` and ``name``. ``Variable(value, dtype=None, name=None)`` copies ``value`` to the
    current device (``gpudnn.set_device``) in the given dtype. By default a NumPy float array
    keeps its dtype; Python numbers and lists, and integers, take ``gpudnn.floatx()`` (float32
    unless set), as Keras's ``Variable([1.0, 2.0])`` is float32."""

    def __init__(self, value, dtype=None, name=None, trainable=True, device=None):
        self.backend = current_backend(device)
        host = _numeric(value, "a Variable's value")
        if dtype is None:
            numpy_float = isinstance(value, (np.ndarray, np.generic)) and \
                np.issubdtype(host.dtype, np.floating)
            dtype = host.dtype if numpy_float else config.floatx()
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise InvalidInputError(f"unknown dtype {dtype!r} for a Variable") from None
        if not np.issubdtype(dtype, np.number):
            raise InvalidInputError(f"a Variable holds numbers, not {dtype}")
        self.value = self.backend.from_host(host, dtype)
        self.name = name or "variable"
        self.trainable = bool(trainable)
        self._owner = None  # (model, start, stop) for a view of a model's flat buffer

    @classmethod
    def view_of(cls, backend, array, name, owner, start, stop):
        """A Variable sharing ``array`` (a view of ``owner``'s flat parameters [start, stop);
        ``owner`` None: a layer's weight, whatever model holds it)."""
        var = cls.__new__(cls)
        var.backend, var.value, var.name, var.trainable = backend, array, name, True
        var._owner = None if owner is None else (owner, start, stop)
        return var

    @property
    def path(self):
        """Keras 3's ``variable.path``: ``"<layer>/<weight>"`` (gpudnn's name is the path)."""
        return self.name

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return np.dtype(self.value.dtype)

    def numpy(self):
        """A host NumPy copy."""
        return self.backend.to_host(self.value)

    def __array__(self, dtype=None, copy=None):
        host = self.numpy()
        return host if dtype is None else host.astype(dtype)

    def _checked(self, value):
        host = _numeric(value, f"the value assigned to {self.name!r}") \
            if not hasattr(value, "__cuda_array_interface__") else value
        if tuple(host.shape) != self.shape:
            raise InvalidInputError(
                f"cannot assign an array of shape {tuple(host.shape)} to variable {self.name!r} "
                f"of shape {self.shape}")
        return host

    def assign(self, value):
        """``self = value`` (same shape), in place: views keep pointing at the model."""
        value = value.value if isinstance(value, Variable) else value
        self.backend.copy_into(self.value, self._checked(value))
        return self

    def assign_add(self, value):
        """``self += value`` (``value`` of the variable's shape, or broadcastable to it)."""
        return self.assign(self.numpy() + self._delta(value))

    def assign_sub(self, value):
        """``self -= value`` (``value`` of the variable's shape, or broadcastable to it)."""
        return self.assign(self.numpy() - self._delta(value))

    def _delta(self, value):
        value = value.numpy() if isinstance(value, Variable) else value
        host = _numeric(value, f"the value added to {self.name!r}")
        try:
            fits = np.broadcast_shapes(host.shape, self.shape) == self.shape
        except ValueError:
            fits = False
        if not fits:
            raise InvalidInputError(
                f"cannot add an array of shape {host.shape} to variable {self.name!r} of shape "
                f"{self.shape}")
        return host.astype(self.dtype, copy=False)

    def __repr__(self):
        return f"<gpudnn.Variable {self.name!r} shape={self.shape} dtype={self.dtype.name}>"


def _model_of(variables):
    """The model whose whole flat parameter buffer ``variables`` cover in order, else None."""
    owners = [v._owner for v in variables]
    if any(o is None for o in owners):
        return None
    model = owners[0][0]
    expected = 0
    for owner, start, stop in owners:
        if owner is not model or start != expected:
            return None
        expected = stop
    return model if expected == model.params.shape[0] else None


class _Group:
    """Flat buffers for a list of standalone variables: params, grads and their segments."""

    def __init__(self, backend, variables):
        sizes = [int(np.prod(v.shape)) for v in variables]
        self.total = sum(sizes)
        dtype = variables[0].dtype
        self.params = backend.flat_zeros(self.total, dtype, slot=0)
        self.grads = backend.flat_zeros(self.total, dtype, slot=1)
        starts = np.cumsum([0] + sizes)
        self.segments = list(zip(starts[:-1].tolist(), starts[1:].tolist()))


def apply_gradients(optimizer, grads_and_vars):
    """One step of ``optimizer`` on ``(gradient, Variable)`` pairs; see the module docstring."""
    pairs = list(grads_and_vars)
    for g, v in pairs:
        if isinstance(g, Variable) and isinstance(v, Variable) and g.backend is not v.backend:
            raise InvalidInputError(
                f"the gradient for {v.name!r} is a Variable on {g.backend.name}, the variable is "
                f"on {v.backend.name}; give it on the variable's device")
    # a gradient held in a Variable is read as its device array (no trip through the host)
    pairs = [(g.value if isinstance(g, Variable) else g, v) for g, v in pairs]
    if not pairs:
        raise InvalidInputError("apply_gradients got no (gradient, variable) pairs")
    for g, v in pairs:
        if not isinstance(v, Variable):
            raise InvalidInputError(
                f"apply_gradients takes (gradient, gpudnn.Variable) pairs; got a {type(v).__name__}"
                f" where a Variable belongs (use model.trainable_weights or gpudnn.Variable(...))")
        if g is None:
            raise InvalidInputError(f"variable {v.name!r} has no gradient (None)")
        if not hasattr(g, "__cuda_array_interface__"):
            _numeric(g, f"the gradient for {v.name!r}")
        if tuple(np.shape(g)) != v.shape:
            raise InvalidInputError(
                f"the gradient for {v.name!r} has shape {tuple(np.shape(g))}, the variable "
                f"{v.shape}")
        dtype = g.dtype if hasattr(g, "dtype") else np.asarray(g).dtype
        if not (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer)):
            raise InvalidInputError(
                f"the gradient for {v.name!r} must hold real numbers, not {dtype}")
    grads, variables = zip(*pairs)
    if len({id(v) for v in variables}) != len(variables):
        raise InvalidInputError("apply_gradients got the same variable twice; give each variable "
                                "once, with the sum of its gradients")
    if not np.issubdtype(variables[0].dtype, np.floating):
        raise InvalidInputError(f"optimizers update floating-point variables, not "
                                f"{variables[0].dtype} ({variables[0].name!r})")
    backend = variables[0].backend
    if any(v.backend is not backend for v in variables) or \
            len({v.dtype for v in variables}) != 1:
        raise InvalidInputError("apply_gradients needs variables of one device and one dtype")
    model = _model_of(variables)
    if model is not None:
        if optimizer.slots is None or optimizer._owner is None or optimizer._owner() is not model:
            model._build_optimizer(optimizer)
        for v, g in zip(variables, grads):
            backend.copy_into(model.grads[v._owner[1]:v._owner[2]].reshape(v.shape), g)
        optimizer.apply(backend, model.params, model.grads)
        for param, constraint in model._constrained():  # Keras's optimizer.apply projects too
            constraint.apply(backend, param)
        return
    key = tuple(id(v) for v in variables)
    group = getattr(optimizer, "_group", None)
    if group is None or group[0] != key:
        if optimizer._owner is not None and optimizer._owner() is not None:
            raise InvalidInputError(
                f"this {type(optimizer).__name__} already updates other variables; create one "
                f"optimizer per set of variables")
        flat = _Group(backend, variables)
        optimizer._group = (key, flat, variables)  # keeps the variables (and their ids) alive
        optimizer.build(backend, flat.total, variables[0].dtype, owner=flat,
                        segments=flat.segments, variables=variables)
    flat = optimizer._group[1]
    for (start, stop), v, g in zip(flat.segments, variables, grads):
        backend.copy_into(flat.params[start:stop].reshape(v.shape), v.value)
        backend.copy_into(flat.grads[start:stop].reshape(v.shape), g)
    optimizer.apply(backend, flat.params, flat.grads)
    for (start, stop), v in zip(flat.segments, variables):
        backend.copy_into(v.value, flat.params[start:stop].reshape(v.shape))
