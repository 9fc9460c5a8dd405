"""Layers: ``Dense``, ``Activation``, the activation layers ``LeakyReLU``, ``ELU``, ``ReLU``,
``Softmax``, ``Flatten``, the noise layers ``Dropout``, ``GaussianNoise``, ``GaussianDropout``,
``BatchNormalization``, ``LayerNormalization``, ``RMSNormalization``, the preprocessing layers ``Normalization`` and ``Rescaling``, and
``Input`` (``InputLayer``) to declare a model's input."""

from .advanced_activations import ELU, LeakyReLU, ReLU, Softmax
from .base import Layer
from .core import Activation, Dense
from .input_layer import Input, InputLayer
from .layer_normalization import LayerNormalization, RMSNormalization
from .normalization import BatchNormalization
from .preprocessing import Normalization, Rescaling
from .regularization import Dropout, GaussianDropout, GaussianNoise
from .reshaping import Flatten
from .serialization import deserialize, serialize

__all__ = ["Layer", "Dense", "Activation", "LeakyReLU", "ELU", "ReLU", "Softmax", "Flatten",
           "Dropout", "GaussianNoise", "GaussianDropout", "BatchNormalization", "LayerNormalization",
           "RMSNormalization", "Normalization", "Rescaling", "Input",
           "InputLayer", "serialize", "deserialize"]
