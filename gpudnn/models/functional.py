"""Keras's functional API for chains: ``Model(inputs, outputs)``, and ``Model`` as the class every
gpudnn model is an instance of.

    inputs = gpudnn.Input(shape=(784,))
    x = layers.Dense(512, activation="relu")(inputs)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = gpudnn.Model(inputs=inputs, outputs=outputs)     # a Functional, as in Keras 3

``outputs``' history (layers/symbolic.py) is walked back to ``inputs``: the layers met make the
model's chain, in order, and a model called on a tensor (``base(inputs, training=False)``, the
transfer-learning pattern) is nested as in a Sequential. The model is a Sequential underneath,
so it trains, saves and loads as one; what differs is Keras's surface: ``model.layers`` starts
with its ``InputLayer``, the summary shows it, the name is ``functional``, ``functional_1``...,
and ``inputs``, ``outputs``, ``input``, ``output`` are the tensors. A layer (or a nested model)
called with ``training=False`` runs in inference mode while this model trains (Dropout off,
BatchNormalization on its moving statistics, which do not move): the model keeps the call's
argument (``_inference_calls``), as Keras's graph does, so the same layer trains normally in
another model. Such a BatchNormalization, unfrozen, trains gamma and beta through its inference
formula (Keras's fine-tuning).

A graph that is not a chain (two inputs or outputs, a layer used twice) is refused with the
reason; a subclassed ``Model`` (a ``call`` method of your own) cannot be differentiated here and
is refused too.
"""


from ..errors import InvalidInputError
from ..layers import deserialize, serialize
from ..layers.input_layer import InputLayer
from ..layers.serialization import register_model_class
from ..layers.symbolic import KerasTensor
from ..utils.naming import auto_name
from . import nesting
from .configuration import _check_trainable, _frozen_as_saved
from .sequential import Sequential


class _ModelType(type):
    """``Model``'s metaclass: every gpudnn model (a Sequential, a Functional) is a ``Model`` for
    ``isinstance`` and ``issubclass``, as every Keras model is a ``keras.Model``."""

    def __instancecheck__(cls, instance):
        return (cls is Model and isinstance(instance, Sequential)) or \
            super().__instancecheck__(instance)

    def __subclasscheck__(cls, subclass):
        return (cls is Model and issubclass(subclass, Sequential)) or \
            super().__subclasscheck__(subclass)


class Model(metaclass=_ModelType):
    """Keras's ``Model``: ``Model(inputs, outputs)`` makes a :class:`Functional`;
    ``isinstance(m, Model)`` holds for every gpudnn model (Sequential included)."""

    def __new__(cls, *args, **kwargs):
        if cls is not Model:
            raise InvalidInputError(
                f"{cls.__name__} subclasses gpudnn.Model: a model with a call() of its own "
                f"cannot be differentiated by gpudnn; build it from layers, "
                f"gpudnn.Model(inputs, outputs) or Sequential([...])")
        if len(args) + ("inputs" in kwargs) + ("outputs" in kwargs) < 2:
            raise InvalidInputError("Model takes inputs and outputs: Model(inputs, outputs), "
                                    "the tensors of gpudnn.Input(...) and of the last layer call")
        return Functional(*args, **kwargs)

    @classmethod
    def from_config(cls, config, device=None):
        """Keras's ``Model.from_config``: the Functional model of ``config`` (a Sequential's
        config makes a Sequential)."""
        target = Functional if isinstance(config, dict) and "input_layer" in config \
            else Sequential
        return target.from_config(config, device=device)


@register_model_class
class Functional(Sequential):
    """A chain of layers from an ``Input`` (see the module docstring).

    Args:
        inputs: the KerasTensor of ``gpudnn.Input(...)`` (or a list holding it).
        outputs: the KerasTensor of the last layer call (or a list holding it).
        name: default ``functional``, ``functional_1``... (Keras's names).
        trainable: False freezes every layer.
        device, dtype: as Sequential's.
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, device=None, dtype=None):
        source, target = _one(inputs, "inputs"), _one(outputs, "outputs")
        if source._parent is not None or not isinstance(source._layer, InputLayer):
            raise InvalidInputError(f"inputs must be the tensor of gpudnn.Input(...), not "
                                    f"{source!r}, the output of {source._layer.name!r}")
        calls = _chain(source, target)
        if not calls:
            raise InvalidInputError("the outputs are the inputs: a model needs at least one "
                                    "layer called between them")
        if dtype is None:  # Input(dtype="float64") makes a float64 model
            dtype = source._layer.dtype
        # frozen (trainable=False), the model freezes each layer as it is added
        super().__init__(name=name or auto_name("Functional"), device=device, dtype=dtype,
                         trainable=trainable)
        self._tensors = (source, target)
        #: positions of ``_layers`` called with training=False: in inference mode while this
        #: model trains (nesting.inference_leaves), as Keras's graph keeps the call's argument
        self._inference_calls = frozenset(i for i, (_, training) in enumerate(calls)
                                          if training is False)
        try:
            self.add(source)
            for layer, _ in calls:
                self.add(layer)
        except BaseException:  # a model nested here already is free again
            for layer in self._layers:
                if isinstance(layer, nesting.Nestable) and layer._owner is self:
                    layer._owner = None
            raise
        self._sealed = True

    def _trace_graph(self):
        """Nothing: a functional model's graph is the one it was made from."""

    input = property(lambda self: self._tensors[0])
    output = property(lambda self: self._tensors[1])
    inputs = property(lambda self: [self._tensors[0]])
    outputs = property(lambda self: [self._tensors[1]])

    @property
    def layers(self):
        """The ``InputLayer``, then the chain's layers (Keras 3's functional ``model.layers``)."""
        return [self._input, *self._layers]

    _sealed = False  # set once the chain is in: the model is fixed by its tensors

    def add(self, layer):
        if self._sealed:
            raise InvalidInputError(f"a functional model ({self.name!r}) is fixed by its inputs "
                                    f"and outputs; build a new one: Model(inputs, outputs)")
        super().add(layer)

    def pop(self, rebuild=True):
        raise InvalidInputError(f"a functional model ({self.name!r}) has no pop(); build a new "
                                f"one, Model(inputs, outputs), with the outputs of the layer "
                                f"you want last")

    # ------------------------------------------------------------------ as data
    def get_config(self):
        """``_serialized_config()`` with ``trainable``."""
        return {**self._serialized_config(), "trainable": self.trainable}

    @classmethod
    def from_config(cls, config, device=None):
        """A new model (fresh weights) of the architecture ``get_config`` gave."""
        return cls._from_serialized_config(config, device=device)

    def _serialized_config(self):
        """``{"name", "input_layer", "layers", "inference_calls", "dtype"}``: the InputLayer's
        config, the chain serialized in order, the positions called with training=False, the
        weights' dtype."""
        config = {"name": self.name, "input_layer": self._input.get_config(),
                  "layers": [serialize(layer) for layer in self._layers],
                  "inference_calls": sorted(self._inference_calls), "dtype": self.dtype.name}
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def _from_serialized_config(cls, config, device=None, dtype=None):
        keys = {"name", "input_layer", "layers", "inference_calls"}
        if not isinstance(config, dict) or not keys <= set(config) <= keys | {"trainable", "dtype"} \
                or not isinstance(config["layers"], list) \
                or not isinstance(config["inference_calls"], list) \
                or not all(isinstance(i, int) and not isinstance(i, bool) and
                           0 <= i < len(config["layers"]) for i in config["inference_calls"]) \
                or not isinstance(config["input_layer"], dict):
            raise InvalidInputError(
                f"a serialized Functional model is {{'name', 'input_layer', 'layers', "
                f"'inference_calls'}}, not {config!r}")
        _check_trainable(config)
        try:
            tensor = x = InputLayer(**config["input_layer"]).output
        except TypeError as exc:
            raise InvalidInputError(f"cannot make the InputLayer of {config['input_layer']!r}: "
                                    f"{exc}") from None
        for i, item in enumerate(config["layers"]):
            x = deserialize(item)(x, training=False if i in config["inference_calls"] else None)
        model = cls(tensor, x, name=config["name"], device=device,
                    dtype=dtype or config.get("dtype"))
        return _frozen_as_saved(model, config)


def _one(tensors, what):
    """The single KerasTensor of ``tensors`` (itself, or a list / tuple / dict of one)."""
    if isinstance(tensors, dict):
        tensors = list(tensors.values())
    if isinstance(tensors, (list, tuple)):
        if len(tensors) != 1:
            raise InvalidInputError(f"Model {what} has {len(tensors)} tensors; gpudnn models "
                                    f"have one input and one output (a chain of layers)")
        tensors = tensors[0]
    if not isinstance(tensors, KerasTensor):
        raise InvalidInputError(f"Model {what} must be a KerasTensor (from gpudnn.Input(...) or "
                                f"a layer call), not {type(tensors).__name__}")
    return tensors


def _chain(source, target):
    """``[(layer, training)]`` of the calls from ``source`` to ``target``, in order."""
    calls, seen, tensor = [], set(), target
    while tensor is not source:
        if tensor._parent is None:
            raise InvalidInputError(
                f"the outputs do not come from the inputs: following them back reaches "
                f"{tensor.name!r}, another Input; build the model from the Input its layers "
                f"were called on")
        if id(tensor._layer) in seen:
            raise InvalidInputError(
                f"layer {tensor._layer.name!r} is called twice between the inputs and the "
                f"outputs; gpudnn models are chains, each layer once (use a second layer)")
        seen.add(id(tensor._layer))
        calls.append((tensor._layer, tensor._training))
        tensor = tensor._parent
    return calls[::-1]

