"""gpudnn: Keras-style dense networks on NumPy (CPU) or CuPy custom kernels (NVIDIA GPU).

    import gpudnn
    gpudnn.set_device("cuda")     # or "cpu", "auto", "cuda:1"; GPUDNN_DEVICE=... at import
    from gpudnn import models, layers, optimizers
"""

from . import (activations, callbacks, constraints, datasets, initializers, layers, losses,
               metrics, mixed_precision, models, optimizers, regularizers, saving, utils)
from .dtype_policies import DTypePolicy
from .config import floatx, set_floatx, set_flush_denormal, set_seed
from .backend.device import device, get_device, set_device
from .callbacks.gradient_norms import GradientNormRecorder
from .variables import Variable
from .layers import Input
from .layers.symbolic import KerasTensor
from .models import Model, Sequential
from .utils.version import __version__
from .errors import (DeviceUnavailableError, FileFormatError, GpudnnError, InvalidInputError,
                     KernelCompileError, NotCompiledError, UnknownNameError)

__all__ = ["__version__", "activations", "callbacks", "constraints", "datasets", "initializers", "layers",
           "losses", "metrics", "mixed_precision", "DTypePolicy", "models", "optimizers",
           "regularizers", "saving", "utils", "Variable", "Input", "KerasTensor", "Model",
           "Sequential", "GradientNormRecorder", "set_device", "get_device", "device", "set_seed",
           "set_flush_denormal", "floatx", "set_floatx", "GpudnnError", "InvalidInputError",
           "UnknownNameError", "NotCompiledError", "DeviceUnavailableError", "KernelCompileError",
           "FileFormatError"]
