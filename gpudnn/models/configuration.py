"""A model's architecture as data, as Keras 3's: ``get_config`` / ``from_config`` and
``to_json``, and the functions that build a new model from it, ``clone_model`` and
``model_from_json``.

The config is ``{"name", "trainable", "dtype", "layers": [{"class_name", "config"}, ...],
"build_input_shape"}``: the layers as ``gpudnn.layers.serialize`` gives them (nested models
included) and, once the input shape is known, ``[None, *sample_shape]``. It holds no weights
and no compile settings: a model made from it has freshly drawn weights and is not compiled,
as Keras's ``clone_model`` gives.
"""

import json

from .. import layers
from ..errors import InvalidInputError

_KEYS = {"name", "trainable", "dtype", "layers", "build_input_shape"}


class ModelConfig:
    """Mixin of ``Sequential``: ``get_config``, ``from_config``, ``to_json``."""

    def get_config(self):
        """The architecture (see the module docstring), JSON-able."""
        config = dict(layers.serialize(self)["config"])
        config["trainable"] = self.trainable
        config["dtype"] = self.dtype.name
        shape = self.input_shape if self.built else self._declared_input_shape()
        config["build_input_shape"] = None if shape is None else [None, *shape]
        return config

    @classmethod
    def from_config(cls, config, device=None):
        """A new model of the architecture ``config`` (from ``get_config``), built when the
        config has its input shape, on ``device`` (default: gpudnn's current device)."""
        if not isinstance(config, dict) or "layers" not in config or set(config) - _KEYS \
                or not isinstance(config["layers"], list):
            raise InvalidInputError(
                f"a {cls.__name__} config is a dict with 'layers' and the keys "
                f"{sorted(_KEYS - {'layers'})} (from model.get_config()); got "
                f"{sorted(config) if isinstance(config, dict) else type(config).__name__}")
        model = cls([layers.deserialize(item) for item in config["layers"]],
                    name=config.get("name", "sequential"), device=device,
                    dtype=config.get("dtype"))
        if not config.get("trainable", True):
            model._trainable = False  # its layers' own flags came with them
        shape = config.get("build_input_shape")
        if shape is not None and not model.built:
            if not isinstance(shape, (list, tuple)) or len(shape) < 2:
                raise InvalidInputError(f"build_input_shape is [None, *sample_shape], not "
                                        f"{shape!r}")
            model.build(tuple(shape[1:]))
        return model

    def to_json(self, **kwargs):
        """``{"class_name": "Sequential", "config": get_config()}`` as a JSON string;
        ``kwargs`` go to ``json.dumps`` (e.g. ``indent=2``)."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          **kwargs)


def clone_model(model, device=None):
    """Keras's ``clone_model``: a new model of ``model``'s architecture (the same layers, names
    and settings) with freshly drawn weights, not compiled, on ``device`` (default: the
    model's own)."""
    if not isinstance(model, ModelConfig):
        raise InvalidInputError(f"clone_model takes a gpudnn model, not {type(model).__name__}")
    return type(model).from_config(model.get_config(), device=device or model.backend.name)


def model_from_json(json_string, device=None):
    """Keras's ``model_from_json``: the model (new weights, not compiled) that ``to_json``
    described."""
    try:
        data = json.loads(json_string)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"model_from_json takes the string model.to_json() gives: "
                                f"{exc}") from None
    if not isinstance(data, dict) or set(data) != {"class_name", "config"} \
            or not isinstance(data["class_name"], str):
        raise InvalidInputError("model_from_json takes {\"class_name\": ..., \"config\": ...}, "
                                "the string model.to_json() gives")
    return layers.serialization.model_class(data["class_name"]).from_config(data["config"],
                                                                             device=device)
