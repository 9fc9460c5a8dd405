"""Models inside models: ``Sequential([model, layers.Softmax()])`` with the weights shared.

A model's step runs its *leaf* layers: its layers with every nested Sequential replaced by that
model's own leaves, recursively. The outermost built model owns the memory: its flat parameter
and gradient buffers hold every leaf's parameters, in order, so a nested model's parameters are
one contiguous range of them. When the outer model builds, each nested model (at any depth)
adopts views of that range as its own ``params`` and ``grads``: the two models then read and
write the same memory, so training either changes both, and each keeps its own optimizer,
workspaces and dropout step. A nested model cannot be rebuilt or grown (that would move its
weights out of the shared buffer), and belongs to one model at a time.
"""

import numpy as np

from ..errors import InvalidInputError
from ..layers.base import Trainable


class Nestable(Trainable):
    """Base of a model that can be a layer of another (``Sequential``): what this module's
    functions recognise as a model. Its ``layers`` may hold further models. Setting its
    ``trainable`` sets every layer's, at any depth, as Keras does (``base.trainable = False``
    freezes a nested base model)."""

    #: positions in ``_layers`` called with ``training=False`` (a Functional's; see
    #: inference_leaves)
    _inference_calls = frozenset()

    @Trainable.trainable.setter
    def trainable(self, value):
        Trainable.trainable.fset(self, value)
        for layer in self._layers:
            layer.trainable = value


def _is_model(layer):
    return isinstance(layer, Nestable)


def leaves(layers):
    """The leaf layers of ``layers``, nested models expanded in place, recursively."""
    out = []
    for layer in layers:
        out.extend(leaves(layer._layers) if _is_model(layer) else [layer])
    return out


def _spans(layers, first=0):
    """``(layer, first_leaf, stop_leaf)`` of each of ``layers``: the leaves it runs."""
    for layer in layers:
        stop = first + len(leaves([layer]))
        yield layer, first, stop
        first = stop


def inference_leaves(model):
    """The leaf indices of ``model`` that stay in inference mode while it trains: every leaf of
    a layer or model it called with ``training=False`` (a Functional's ``_inference_calls``),
    and those of its nested models, recursively."""
    found = set()
    for position, (layer, first, stop) in enumerate(_spans(model._layers)):
        if position in model._inference_calls:
            found.update(range(first, stop))
        elif _is_model(layer):
            found.update(first + j for j in inference_leaves(layer))
    return frozenset(found)


def _nested(layers, first=0):
    """``(model, first_leaf, stop_leaf)`` for every model nested in ``layers`` (any depth)."""
    found = []
    for layer, start, stop in _spans(layers, first):
        if _is_model(layer):
            found.append((layer, start, stop))
            found.extend(_nested(layer._layers, start))
    return found


def check_nestable(outer, inner):
    """Refuse, with the reason, a model that cannot become a layer of ``outer``."""
    if inner is outer or any(model is outer for model, _, _ in _nested(inner._layers)):
        raise InvalidInputError(f"model {outer.name!r} cannot contain itself")
    if inner._owner is not None and inner._owner is not outer:
        raise InvalidInputError(
            f"model {inner.name!r} is already part of model {inner._owner.name!r}; a model is "
            f"nested in one model at a time (its weights live in that model's buffer)")
    if not inner._layers:
        raise InvalidInputError(f"model {inner.name!r} has no layers to nest")
    if inner.backend is not outer.backend or inner.dtype != outer.dtype:
        raise InvalidInputError(
            f"model {inner.name!r} runs on {inner.backend.name} in {inner.dtype.name} but "
            f"{outer.name!r} on {outer.backend.name} in {outer.dtype.name}; nested models share "
            f"memory, so they need the same device and dtype")


def check_not_nested(model, what):
    if model._owner is not None:
        raise InvalidInputError(
            f"model {model.name!r} is nested in model {model._owner.name!r}, whose buffer holds "
            f"its weights; it cannot {what}. Change it before nesting it")


def adopt_nested(outer, starts):
    """After ``outer`` built: give every nested model views of its range of outer's buffers.
    ``starts[j]`` is where leaf j's parameters begin (``starts[-1]`` the total)."""
    for model, first, stop in _nested(outer._layers):
        lo, hi = starts[first], starts[stop]
        model.params = outer.params[lo:hi]
        model.grads = outer.grads[lo:hi]
        model._half_params = None if outer._half_params is None else outer._half_params[lo:hi]
        if first == 0:
            model.sample_shape = outer.sample_shape
        else:
            model.sample_shape = (outer._leaf_layers[first].input_dim,)
        model.input_dim = int(np.prod(model.sample_shape))
        model._set_leaves(outer._leaf_layers[first:stop])
        model.output_dim = model._leaf_layers[-1].units
        model.built = True
        if model.optimizer is not None:
            model._build_optimizer(model.optimizer)


def check_weights_here(model, what, training):
    """Refuse ``what`` when a layer's weights have moved to another model's buffer: a layer
    built into a second model (two functional models of the same tensors, a layer reused)
    keeps its weights there. ``training``: the layers this model trains (its optimizer would
    update memory no layer reads; frozen or never-trainable shared layers are fine). Under a
    mixed policy, in any call: the layers that compute on the 16-bit copy of this model's
    buffer (it would be stale)."""
    half = model._half_params is not None
    mine, outer = set(), model
    while outer is not None:  # this model and the models it is nested in
        mine.add(id(outer))
        outer = outer._owner
    for layer in model._leaf_layers:
        ref = getattr(layer, "_weights_model", None)
        owner = ref() if ref is not None else None
        trains = training and layer.trainable and any(layer.weight_trainable(name)
                                                      for name, *_ in layer.param_specs())
        computes_in_half = half and layer.param_specs() and layer.half_dtype() is not None
        if (trains or computes_in_half) and id(owner) not in mine:
            where = f"model {owner.name!r}" if owner is not None else "another model"
            use = "train that model (this one's predictions follow its weights)" if trains \
                else "use that model"
            raise InvalidInputError(
                f"{what}: layer {layer.name!r} keeps its weights in {where}, built after "
                f"{model.name!r} with the same layer (a layer's weights live in one model's "
                f"buffer); {use}, or build this one again to take the weights back: "
                f"model.build({model.sample_shape})")
