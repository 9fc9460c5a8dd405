"""Models: ``Sequential`` (a stack of layers), ``Model(inputs, outputs)`` (Keras's functional API,
for chains: a ``Functional``), ``load_model`` (a saved one back), and ``clone_model`` /
``model_from_json`` (a new model of an architecture).

Importing this package registers ``Sequential`` and ``Functional`` with the layer serializer
(gpudnn.layers.serialization), so nested models and saved files can be rebuilt without the
layers or saving importing the model.
"""

from .configuration import clone_model, model_from_json
from .functional import Functional, Model
from .sequential import Sequential, load_model

__all__ = ["Model", "Sequential", "Functional", "clone_model", "load_model", "model_from_json"]
