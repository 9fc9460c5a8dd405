"""A layer called on data, as Keras's eager call: ``layer(x)`` with x an array of samples gives
the layer's output as a host NumPy array.

    normalizer = layers.Normalization()
    normalizer.adapt(train_features)
    normalizer(train_features[:1])          # the first sample, normalized

A layer that is not built yet builds for x's width; one with weights and no model yet gets
weights of its own (``bind_standalone``: drawn by its initializers, as Keras's build draws
them), which a model that builds with the layer later keeps. A layer in a built model computes
with that model's weights, on its device. ``training=True`` runs the training form (Dropout
drops, BatchNormalization normalizes by the batch and moves its moving statistics); the
default is inference.
"""

import numpy as np

from .. import config
from ..backend.device import current_backend
from ..errors import InvalidInputError
from ..initializers import draw


def bind_standalone(layer, backend):
    """Give a built layer without a model weights of its own on ``backend`` (its param specs
    drawn by their initializers) and zero gradients."""
    dtype = np.dtype(layer.variable_dtype)
    specs = layer.param_specs()
    params = [backend.from_host(np.asarray(draw(initializer, config.rng(), shape), dtype))
              for _, shape, initializer in specs]
    grads = [backend.zeros(shape, dtype) for _, shape, *_ in specs]
    layer._backend = backend
    layer.bind(params, grads)
    layer.bind_compute([])


def _samples(layer, inputs):
    """``inputs`` as a host float array (samples, features), checked."""
    try:
        x = np.asarray(inputs, dtype=np.dtype(layer.variable_dtype))
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{layer.name!r} was called on {type(inputs).__name__}: a layer takes an array of "
            f"samples (samples, features), or a KerasTensor (gpudnn.Input) to build a "
            f"functional model") from None
    if x.ndim > 2 and layer.flattens_input:
        x = x.reshape(len(x), -1)
    if x.ndim != 2 or x.shape[0] == 0:
        raise InvalidInputError(f"{layer.name!r} was called on an array of shape {x.shape}; "
                                f"it takes (samples, features)")
    if not np.isfinite(x).all():
        raise InvalidInputError(f"{layer.name!r} was called on an array with NaN or inf")
    return np.ascontiguousarray(x)


def call(layer, inputs, training=None):
    """``layer(inputs)`` on data: the output as a host array (see the module docstring)."""
    if training not in (None, True, False):
        raise InvalidInputError(f"training must be True, False or None, not {training!r}")
    x = _samples(layer, inputs)
    width = x.shape[1]
    if layer.input_dim is not None and layer.built and layer.input_dim != width:
        raise InvalidInputError(f"{layer.name!r} takes {layer.input_dim} features but was "
                                f"called on {width}")
    if not layer.built:
        layer.build(width)
    views = layer.parameter_views()
    if layer._backend is None or any(v is None for v in views):
        bind_standalone(layer, layer._backend or current_backend())
    be = layer._backend
    owner = layer.__dict__.get("_weights_model")
    model = owner() if owner is not None else None
    if model is not None and getattr(model, "built", False):
        model._refresh_half_weights()  # its 16-bit copies follow the latest update
    training = bool(training)
    if layer.identity_in(training):
        return x.copy()
    x_dev = be.from_host(x)
    out = be.empty((x.shape[0], layer.units), x.dtype)
    if layer.stochastic:
        if not training:
            return x.copy()
        step = layer.__dict__.get("_eager_step")
        if step is None or layer.__dict__.get("_eager_backend") is not be:
            step = layer._eager_step = be.zeros((1,), np.int64)
            layer._eager_backend = be
        layer.forward(be, x_dev, out, step)
        be.increment(step)  # the next call draws new noise, as Keras's seed generator does
    elif layer.mode_dependent:
        layer.forward(be, x_dev, out, training=training and layer.trainable)
    else:
        layer.forward(be, x_dev, out)
    return be.to_host(out)
