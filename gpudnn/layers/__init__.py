"""Layers: ``Dense``, ``Activation`` and the activation layers ``LeakyReLU``, ``ELU``,
``ReLU``, ``Softmax``."""

from .advanced_activations import ELU, LeakyReLU, ReLU, Softmax
from .base import Layer
from .core import Activation, Dense

__all__ = ["Layer", "Dense", "Activation", "LeakyReLU", "ELU", "ReLU", "Softmax"]
