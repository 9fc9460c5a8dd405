"""``Sequential``: a stack of layers trained by back-propagation, with Keras's API.

The class is put together from one mixin per job, each in its own module:

    ModelStructure  (models/structure.py)       layers, build, flat buffers, summary
    ModelWeights    (models/weights.py)         weights as arrays and Variables, get_layer
    SymbolicGraph   (models/graph.py)           input / output KerasTensors, layer.output
    ModelConfig     (models/configuration.py)   get_config / from_config, to_json
    Compiled        (training/compile.py)       compile: loss, optimizer, metrics
    ModelInputs     (training/model_inputs.py)  data checks and conversion
    Workspaces      (training/workspace.py)     per-batch-size buffers
    TrainingStep    (training/step.py)          forward, backward, loss, update (what is captured)
    Loops           (training/loops.py)         fit, evaluate, predict, train_on_batch, model(x)

and the saving wiring below (``save``, ``save_weights``, ``load_weights``), which goes through
gpudnn.saving's public functions only.
"""

import numpy as np

from .. import config, saving
from ..backend.device import current_backend
from ..errors import InvalidInputError
from ..layers.serialization import register_model_class
from ..training.compile import Compiled
from ..training.loops import Loops
from ..training.mixed_precision import MixedPrecision
from ..training.model_inputs import ModelInputs
from ..training.step import TrainingStep
from ..training.workspace import Workspaces
from ..utils import inputs
from ..utils.naming import auto_name
from .configuration import ModelConfig
from .graph import SymbolicGraph
from .structure import ModelStructure
from .weights import ModelWeights


@register_model_class
class Sequential(ModelStructure, ModelWeights, SymbolicGraph, ModelConfig, Compiled, ModelInputs, MixedPrecision, Workspaces,
                 TrainingStep, Loops):
    """A linear stack of layers.

    Args:
        layers: optional list of layers to add.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``; default: gpudnn's current device.
        dtype: the weights' dtype, ``"float32"`` or ``"float64"``; default: the global dtype
            policy's variable dtype (float32 under the mixed policies; else floatx()).
        name: default ``sequential``, ``sequential_1``... (Keras's automatic names).
        trainable: False freezes every layer (as ``model.trainable = False``).
    """

    def __init__(self, layers=None, name=None, device=None, dtype=None, trainable=True):
        if name is not None and not isinstance(name, str):
            raise InvalidInputError(f"a model's name is a string, not {name!r}")
        self.name = name or auto_name("Sequential")  # sequential, sequential_1... as Keras
        self.backend = current_backend(device)
        self.dtype = config.resolve_dtype(dtype)
        self._layers = []  # the stack (``layers`` gives a copy)
        self.built = False
        self.sample_shape = self.input_dim = self.output_dim = None
        self._input = None  # the InputLayer given first, if any
        self._owner = None  # the model this one is nested in, if any
        self._leaf_layers = []
        #: the dropout step: read by the dropout kernels, advanced on the device once per step
        self._dropout_step = self.backend.zeros((1,), np.int64)
        self.optimizer = self.loss = None
        self.metric_names = []
        self.stop_training = False
        self.history = None  # the History of the last fit
        #: the model's own host generator (batch shuffling), saved with the model
        self.rng = config.rng().spawn(1)[0]
        trainable = inputs.flag(trainable, "trainable")
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    # ------------------------------------------------------------------ saving
    def save_weights(self, path):
        """Save every parameter to an ``.npz`` file at exactly ``path`` (keys
        ``"<index>/<layer>/<param>"``), atomically (see gpudnn.saving)."""
        saving.save_weights(self, path)

    def load_weights(self, path):
        """Load parameters saved by save_weights (or from a model.save file); the shapes must
        match this model's. A damaged or foreign file raises FileFormatError and changes nothing."""
        saving.load_weights(self, path)

    def save(self, path):
        """Save the whole model to one file at exactly ``path`` (the docs use ``.gpudnn``):
        architecture, weights, compile configuration, optimizer state and random state, written
        atomically. ``gpudnn.models.load_model(path)`` gives it back (docs/file-format.md)."""
        saving.save_model(self, path)


def load_model(path):
    """The model saved by ``model.save(path)``, compiled, with its optimizer and random state,
    on gpudnn's current device. A damaged or foreign file raises ``FileFormatError``."""
    return saving.load_model(path)
