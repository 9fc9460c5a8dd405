"""Layers as JSON, Keras style: ``{"class_name": "Dense", "config": layer.get_config()}``.

``deserialize`` looks the class name up among ``gpudnn.layers``' exports, so every layer exported
there round-trips without a registry; nothing else is ever instantiated. A ``Sequential`` nested
in another is ``{"class_name": "Sequential", "config": {"name": ..., "layers": [...]}}``, its
layers serialized the same way (its weights are the outer model's).
"""

import importlib

from ..errors import InvalidInputError


def serialize(layer):
    """``{"class_name": ..., "config": ...}`` of a gpudnn layer."""
    from ..models import Sequential
    from .base import Layer

    if isinstance(layer, Sequential):
        return {"class_name": "Sequential",
                "config": {"name": layer.name, "layers": [serialize(l) for l in layer.layers]}}
    if not isinstance(layer, Layer):
        raise InvalidInputError(f"serialize takes a gpudnn layer, not {layer!r}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    """A new, unbuilt layer from what ``serialize`` gave."""
    from .base import Layer

    package = importlib.import_module("gpudnn.layers")
    if not isinstance(config, dict) or set(config) != {"class_name", "config"} \
            or not isinstance(config["config"], dict):
        raise InvalidInputError(
            f"a serialized layer is {{'class_name': ..., 'config': {{...}}}}, not {config!r}")
    name = config["class_name"]
    if name == "Sequential":
        return _nested_model(config["config"])
    cls = getattr(package, name, None) if isinstance(name, str) and name[:1] != "_" else None
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        known = sorted(n for n, v in vars(package).items()
                       if isinstance(v, type) and issubclass(v, Layer) and n[:1] != "_")
        raise InvalidInputError(f"unknown layer class {name!r}; gpudnn.layers has {', '.join(known)}")
    try:
        return cls(**config["config"])
    except TypeError as exc:
        raise InvalidInputError(f"cannot make a {name} from config {config['config']!r}: {exc}") \
            from None


def _nested_model(config):
    """An unbuilt Sequential of the serialized layers (a model nested in another)."""
    from ..models import Sequential

    if set(config) != {"name", "layers"} or not isinstance(config["layers"], list) \
            or not isinstance(config["name"], str):
        raise InvalidInputError(
            f"a serialized nested Sequential is {{'name': ..., 'layers': [...]}}, not {config!r}")
    return Sequential([deserialize(layer) for layer in config["layers"]], name=config["name"])
