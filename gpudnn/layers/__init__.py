"""Layers: ``Dense``, ``Activation`` and the activation layers ``LeakyReLU``, ``ELU``,
``ReLU``, ``Softmax``."""

from .advanced_activations import ELU, LeakyReLU, ReLU, Softmax
from .base import Layer
from .core import Activation, Dense
from .serialization import deserialize, serialize

__all__ = ["Layer", "Dense", "Activation", "LeakyReLU", "ELU", "ReLU", "Softmax", "serialize",
           "deserialize"]
