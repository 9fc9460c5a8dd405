"""Layers as JSON, Keras style: ``{"class_name": "Dense", "config": layer.get_config()}``.

``deserialize`` looks the class name up among ``gpudnn.layers``' exports, so every layer exported
there round-trips without a registry of layers; nothing else is ever instantiated. A model nested
in another is ``{"class_name": "Sequential", "config": {"name": ..., "layers": [...]}}`` (a
``Functional`` adds its input layer), its layers serialized the same way (its weights are the
outer model's).

Layers never import the model: the model package registers its class here
(``register_model_class``, called by gpudnn.models), and both directions of a nested model's
(de)serialization, and ``gpudnn.saving``'s rebuilding of a whole model, go through that registry.
"""

import importlib

from ..errors import InvalidInputError
from .base import Layer

#: Model classes by name, filled by the model package (``register_model_class``).
_MODEL_CLASSES = {}


def register_model_class(cls):
    """Let ``serialize``/``deserialize`` handle models of ``cls`` by its class name: a model
    gives its config (``model._serialized_config()``, its layers serialized here) and is made
    again from it (``cls._from_serialized_config(config)``)."""
    _MODEL_CLASSES[cls.__name__] = cls
    return cls


def model_class(name):
    """The registered model class called ``name`` (``"Sequential"``)."""
    if name not in _MODEL_CLASSES:
        raise InvalidInputError(f"no model class {name!r} is registered; import gpudnn.models "
                                f"(gpudnn's own import does)")
    return _MODEL_CLASSES[name]


def _is_model(layer):
    return isinstance(layer, tuple(_MODEL_CLASSES.values()))


def serialize(layer):
    """``{"class_name": ..., "config": ...}`` of a gpudnn layer."""
    if _is_model(layer):
        return {"class_name": type(layer).__name__, "config": layer._serialized_config()}
    if not isinstance(layer, Layer):
        raise InvalidInputError(f"serialize takes a gpudnn layer, not {layer!r}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """A new, unbuilt layer from what ``serialize`` gave."""
    package = importlib.import_module("gpudnn.layers")
    if not isinstance(config, dict) or set(config) != {"class_name", "config"} \
            or not isinstance(config["config"], dict):
        raise InvalidInputError(
            f"a serialized layer is {{'class_name': ..., 'config': {{...}}}}, not {config!r}")
    name = config["class_name"]
    if isinstance(name, str) and name in _MODEL_CLASSES:
        return _MODEL_CLASSES[name]._from_serialized_config(config["config"])
    cls = getattr(package, name, None) if isinstance(name, str) and name[:1] != "_" else None
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        known = sorted(n for n, v in vars(package).items()
                       if isinstance(v, type) and issubclass(v, Layer) and n[:1] != "_")
        raise InvalidInputError(f"unknown layer class {name!r}; gpudnn.layers has {', '.join(known)}")
    return cls.from_config(config["config"])

