"""Models: ``Sequential`` (a stack of layers) and ``load_model`` (a saved one back).

Importing this package registers ``Sequential`` with the layer serializer
(gpudnn.layers.serialization), so nested models and saved files can be rebuilt without the
layers or saving importing the model.
"""

from .sequential import Sequential, load_model

__all__ = ["Sequential", "load_model"]
