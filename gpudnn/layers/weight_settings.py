"""A layer's per-weight settings, as Keras names them: ``<weight>_initializer``,
``<weight>_regularizer`` and ``<weight>_constraint`` (Dense's ``kernel_initializer``,
BatchNormalization's ``gamma_regularizer``...), checked from the constructor's arguments and
written back into ``get_config`` in Keras's order (the initializers, then the regularizers, then
the constraints)."""

from .. import constraints, initializers, regularizers

_CHECK = {"initializer": initializers.check, "regularizer": regularizers.get,
          "constraint": constraints.get}
_SERIALIZE = {"initializer": initializers.serialize, "regularizer": regularizers.serialize,
              "constraint": constraints.serialize}


def set_weight_settings(layer, **settings):
    """``layer.<name> = checked value`` for each ``<weight>_<kind>=value`` given."""
    for name, value in settings.items():
        setattr(layer, name, _CHECK[name.rsplit("_", 1)[1]](value))


def gamma_beta_specs(layer):
    """The param specs of a normalization layer's ``gamma`` (with ``scale``) and ``beta``
    (with ``center``), one value per feature, in Keras's order."""
    k = layer.input_dim
    return ([("gamma", (k,), layer.gamma_initializer)] if layer.scale else []) + \
        ([("beta", (k,), layer.beta_initializer)] if layer.center else [])


def weight_settings_config(layer, weights):
    """The config entries of the settings the layer has for ``weights`` (names, in order)."""
    return {f"{weight}_{kind}": serialize(getattr(layer, f"{weight}_{kind}"))
            for kind, serialize in _SERIALIZE.items() for weight in weights
            if hasattr(layer, f"{weight}_{kind}")}
