"""A model's architecture as data, as Keras 3's: ``get_config`` / ``from_config`` and
``to_json``, and the functions that build a new model from it, ``clone_model`` and
``model_from_json``.

The config is ``{"name", "trainable", "dtype", "layers": [{"class_name", "config"}, ...],
"build_input_shape"}``: the layers as ``gpudnn.layers.serialize`` gives them (nested models
included) and, once the input shape is known, ``[None, *sample_shape]`` (Keras lists an
``InputLayer`` first instead; ``dtype`` is the weights' dtype, a string). It holds no weights
and no compile settings: a model made from it has freshly drawn weights; ``clone_model``
compiles it as the original was, as Keras's does.
"""

import json

from .. import dtype_policies, layers, losses, metrics, optimizers
from ..errors import InvalidInputError
from ..layers.input_layer import InputLayer
from ..utils import inputs

_KEYS = {"name", "trainable", "dtype", "layers", "build_input_shape"}


class ModelConfig:
    """Mixin of ``Sequential``: ``get_config``, ``from_config``, ``to_json``."""

    def _serialized_config(self):
        """``{"name", "layers", "dtype"}`` (and ``"trainable": False`` when frozen): the model as
        a layer of another (gpudnn.layers.serialize); its layers serialized in order."""
        config = {"name": self.name, "layers": [layers.serialize(layer) for layer in self._layers],
                  "dtype": self.dtype.name}
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def _from_serialized_config(cls, config, device=None, dtype=None):
        """An unbuilt model of what ``_serialized_config`` gave (a model nested in another, or
        ``from_config``'s: ``name`` may be None there, an automatic name)."""
        if not isinstance(config, dict) or set(config) - {"trainable", "dtype"} != {"name", "layers"} \
                or not isinstance(config["layers"], list) \
                or not isinstance(config["name"], (str, type(None))):
            raise InvalidInputError(f"a serialized nested {cls.__name__} is {{'name': ..., "
                                    f"'layers': [...]}}, not {config!r}")
        _check_trainable(config)
        model = cls([layers.deserialize(layer) for layer in config["layers"]],
                    name=config["name"], device=device, dtype=dtype or config.get("dtype"))
        return _frozen_as_saved(model, config)

    def get_config(self):
        """The architecture (see the module docstring), JSON-able."""
        config = dict(layers.serialize(self)["config"])
        config["trainable"] = self.trainable
        config["dtype"] = self.dtype.name
        shape = self.sample_shape if self.built else self._declared_input_shape()
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
        shape = _sample_shape(config.get("build_input_shape"))
        dtype = config.get("dtype")
        if isinstance(dtype, dict):  # Keras 3's serialized policy
            dtype = dtype_policies.get(dtype).variable_dtype
        model = cls._from_serialized_config(
            {"name": config.get("name"), "layers": config["layers"],
             "trainable": config.get("trainable", True)}, device=device, dtype=dtype)
        if shape is not None and not model.built:
            if model._layers:
                model.build(shape)
            else:  # no layer yet: the shape waits as the model's Input, as Keras keeps it
                model.add(InputLayer(shape))
        return model

    def to_json(self, **kwargs):
        """``{"class_name": "Sequential", "config": get_config()}`` as a JSON string;
        ``kwargs`` go to ``json.dumps`` (e.g. ``indent=2``)."""
        try:
            return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                              **kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"to_json: the configuration is not JSON-serializable "
                                    f"({exc}); a function or a class of your own (an "
                                    f"initializer, say) is code, not data: give it by name or "
                                    f"with one of gpudnn's classes") from None


def clone_model(model, input_tensors=None, clone_function=None, call_function=None,
                recursive=False, device=None):
    """Keras's ``clone_model``: a new model of ``model``'s architecture (the same layers, names
    and settings) with freshly drawn weights, on ``device`` (default: the model's own); a
    compiled model's clone is compiled with the same loss, metrics and a new optimizer of the
    same config (``model.get_compile_config()``), as Keras's. Keras's functional-model
    arguments (``input_tensors``, ``clone_function``, ``call_function``, ``recursive``) are
    refused unless left at their defaults."""
    if not isinstance(model, ModelConfig):
        raise InvalidInputError(f"clone_model takes a gpudnn model, not {type(model).__name__}")
    given = [name for name, value in (("input_tensors", input_tensors),
                                      ("clone_function", clone_function),
                                      ("call_function", call_function)) if value is not None]
    if given or recursive:
        raise InvalidInputError(
            f"clone_model here clones a Sequential model layer by layer; "
            f"{', '.join(given + (['recursive'] if recursive else []))} (Keras's arguments for "
            f"functional models) cannot be used: clone the model, then change its layers")
    clone = type(model).from_config(model.get_config(), device=device or model.backend.name)
    compiled = model.get_compile_config()
    if compiled is not None:
        # the optimizer as the original has it: a LossScaleOptimizer only if it had one
        clone.compile(optimizer=optimizers.deserialize(optimizers.serialize(compiled["optimizer"])),
                      loss=losses.deserialize(losses.serialize(compiled["loss"])),
                      metrics=[_fresh(m) for m in compiled["metrics"]],
                      weighted_metrics=[_fresh(m) for m in compiled["weighted_metrics"]],
                      auto_scale_loss=False)
    return clone


def _fresh(metric):
    """A metric as given to compile: a name as it is, an object as a new one of its config."""
    return metric if isinstance(metric, str) else metrics.deserialize(metrics.serialize(metric))


def _check_trainable(config):
    """A config's ``"trainable"`` (True when absent) checked to be True or False."""
    if not isinstance(config.get("trainable", True), bool):
        raise InvalidInputError(f"trainable is True or False, not {config['trainable']!r}")


def _frozen_as_saved(model, config):
    """``model``, marked frozen when its config says ``"trainable": False``; its layers' own
    flags came with their configs, so nothing else changes."""
    if not config.get("trainable", True):
        model._trainable = False
    return model


def _sample_shape(shape):
    """``build_input_shape`` ``[None, *sample_shape]`` checked, as the sample shape (or None)."""
    if shape is None:
        return None
    if not isinstance(shape, (list, tuple)) or len(shape) < 2 or shape[0] is not None:
        raise InvalidInputError(f"build_input_shape is [None, *sample_shape], not {shape!r}")
    return tuple(inputs.positive_int(d, "each dimension of build_input_shape")
                 for d in shape[1:])


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
