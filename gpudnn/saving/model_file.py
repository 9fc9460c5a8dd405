"""Reading model files: ``ModelFile`` checks a whole file (checksums, structure, every array
decoded) before anything uses it, then builds a model from it or restores state into one.

Nothing read is unpickled or executed: JSON and ``.npy`` arrays of numbers only. The model class
comes from the registry that gpudnn.models fills (gpudnn.layers.serialization), not an import.
"""

import contextlib
import os

import numpy as np

from .. import layers, losses, optimizers
from ..errors import FileFormatError, GpudnnError, InvalidInputError
from ..layers.serialization import model_class
from ..utils import archive
from .writing import FORMAT, VERSION

_RNG_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937")


class ModelFile:
    """A gpudnn model file, read and checked whole (checksums, structure, every array decoded)
    before anything uses it. Attributes: ``path``, ``model`` (model.json), ``compile``,
    ``weights`` (host arrays), ``slots`` ({name: flat array}), ``iterations``, ``rng_state``,
    ``state_arrays`` ({name: array}), ``extra``."""

    def __init__(self, path, entries=None):
        self.path = os.fspath(path)
        self._saved_learning_rate = None
        entries = archive.read_entries(path) if entries is None else entries
        with self._checking():
            self._parse(entries)

    @contextlib.contextmanager
    def _checking(self):
        """Any gpudnn error becomes a FileFormatError naming the file; so does a KeyError or
        TypeError from JSON of the wrong shape (a file edited by hand or by another program)."""
        try:
            yield
        except FileFormatError:
            raise
        except GpudnnError as exc:
            raise FileFormatError(f"{self.path}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise FileFormatError(f"{self.path}: malformed gpudnn model file "
                                  f"({type(exc).__name__}: {exc})") from None

    def _fail(self, what):
        raise FileFormatError(f"{self.path}: {what}")

    def _parse(self, entries):
        if "format.json" not in entries:
            self._fail("not a gpudnn model file (no format.json entry; a file written by "
                       "model.save has one)")
        if "manifest.json" not in entries:
            self._fail("no manifest.json entry; the file is incomplete")
        manifest = archive.parse_json(entries["manifest.json"], f"{self.path}: manifest.json")
        listed = manifest["entries"]
        present = set(entries) - {"manifest.json"}
        if set(listed) != present:
            self._fail(f"entries {sorted(present ^ set(listed))} differ from the manifest; the "
                       f"file was altered")
        for name, info in listed.items():
            if archive.sha256(entries[name]) != info["sha256"]:
                self._fail(f"entry {name} fails its SHA-256 check; the file is damaged")
        fmt = self._json(entries, "format.json")
        if fmt.get("format") != FORMAT:
            self._fail(f"format {fmt.get('format')!r} is not {FORMAT!r}")
        if not isinstance(fmt.get("version"), int) or fmt["version"] > VERSION:
            self._fail(f"format version {fmt.get('version')!r}; this gpudnn reads up to {VERSION}"
                       f", upgrade gpudnn to read it")
        self.model = self._json(entries, "model.json")
        self.compile = self._json(entries, "compile.json")
        state = self._json(entries, "state.json")
        self.weights = []
        for spec in self.model["weights"]:
            array = self._array(entries, spec["entry"])
            if list(array.shape) != list(spec["shape"]):
                self._fail(f"weight {spec['layer']}/{spec['name']} has shape {array.shape}, "
                           f"model.json says {spec['shape']}")
            self.weights.append(array)
        self.rng_state = state["rng"]
        if not isinstance(self.rng_state, dict) or \
                self.rng_state.get("bit_generator") not in _RNG_BIT_GENERATORS:
            self._fail(f"unknown random generator state {self.rng_state!r:.80}")
        _generator(self.rng_state)  # checks that the state is usable
        self.state_arrays = {name: self._array(entries, entry)
                             for name, entry in state["state_arrays"].items()}
        opt = state["optimizer"]
        self.iterations = 0 if opt is None else opt["iterations"]
        if isinstance(self.iterations, bool) or not isinstance(self.iterations, int) \
                or self.iterations < 0:
            self._fail(f"optimizer iterations {self.iterations!r} is not a count")
        self.slots = {} if opt is None else {name: self._array(entries, entry)
                                             for name, entry in opt["slots"].items()}
        self.extra = state.get("extra") or {}

    def _json(self, entries, name):
        if name not in entries:
            self._fail(f"no {name} entry")
        return archive.parse_json(entries[name], f"{self.path}: {name}")

    def _array(self, entries, name):
        if not isinstance(name, str) or name not in entries:
            self._fail(f"missing array entry {name!r}")
        array = archive.parse_npy(entries[name], f"{self.path}: {name}")
        if array.dtype.kind not in "biuf":
            self._fail(f"{name} holds {array.dtype} values, not numbers")
        return array

    # -------------------------------------------------------------- using it
    def build_model(self):
        """A new Sequential (on the current device) with this file's architecture, weights,
        compile configuration and state."""
        config = self.model
        with self._checking():
            if config["class_name"] not in _MODEL_CLASS_NAMES:
                self._fail(f"model class {config['class_name']!r} is not one of "
                           f"{', '.join(_MODEL_CLASS_NAMES)}")
            saved = [_saved_policy(c, config["dtype"]) for c in config["layers"]]
            if config["class_name"] == "Functional":
                model = model_class("Functional")._from_serialized_config(
                    {"name": config["name"], "input_layer": config.get("input_layer"),
                     "layers": saved, "inference_calls": config.get("inference_calls")},
                    dtype=config["dtype"])
            else:
                model = model_class("Sequential")(name=config["name"], dtype=config["dtype"])
                for layer_config in saved:
                    model.add(layers.deserialize(layer_config))
            shape = _input_shape(config["input_shape"])
            if not model.built or model.sample_shape != shape:
                model.build(shape)
            if self.compile is not None:
                model.compile(optimizer=optimizers.deserialize(self.compile["optimizer"]),
                              loss=losses.get(self.compile["loss"]),  # serialized, or a Keras name
                              metrics=self.compile["metrics"],
                              weighted_metrics=self.compile.get("weighted_metrics"),
                              # the saved optimizer is the one to restore, wrapped or not
                              auto_scale_loss=False)
            self.restore(model, optimizer_state=self.compile is not None)
        return model

    def restore(self, model, optimizer_state=True, weights_only=False):
        """Copy this file's weights (and, unless ``weights_only``, the optimizer state, random
        state and state arrays) into ``model``; everything is checked before anything is copied,
        so a refused file leaves ``model`` unchanged."""
        with self._checking():
            copies = self._copies(model, optimizer_state, weights_only)
            seeds = [] if weights_only else self._seed_copies(model)
        be = model.backend
        for target, array in copies:
            be.copy_into(target, np.require(array, dtype=target.dtype, requirements="C"))
        if not weights_only:
            for layer, seed in seeds:  # the dropout masks of the saved run, not fresh draws
                layer.seed = seed
            if optimizer_state and model.optimizer is not None:
                model.optimizer.step_count = self.iterations  # the batches seen
                if self._saved_learning_rate is not None:
                    model.optimizer.learning_rate = self._saved_learning_rate
            model.rng = _generator(self.rng_state)

    def _copies(self, model, optimizer_state, weights_only):
        """``[(model buffer, host array)]`` to copy, every shape and name checked."""
        views = model._views()
        if len(views) != len(self.weights):
            self._fail(f"holds {len(self.weights)} weight arrays but the model has {len(views)}")
        for (layer, name, view), array in zip(views, self.weights):
            if array.shape != tuple(view.shape):
                self._fail(f"weight {layer.name}/{name} has shape {array.shape} in the file but "
                           f"{tuple(view.shape)} in the model; it holds a different architecture")
        copies = [(view, array) for (_, _, view), array in zip(views, self.weights)]
        if not weights_only:
            copies += self._state_copies(model, optimizer_state)
        return copies

    def _seed_copies(self, model):
        """``[(layer, seed)]`` of the model's random layers (Dropout) from the file's layer
        configs: a layer's seed is part of the state an exact resume needs."""
        saved = _leaf_configs(self.model["layers"])
        leaves = model._leaf_layers
        if [c.get("class_name") for c in saved] != [type(l).__name__ for l in leaves]:
            self._fail(f"holds the layers {[c.get('class_name') for c in saved]} but the model "
                       f"has {[type(l).__name__ for l in leaves]}")
        pairs = []
        for layer, config in zip(leaves, saved):
            if layer.stochastic:
                seed = config["config"].get("seed")
                if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                    self._fail(f"layer {layer.name} has no valid seed in the file ({seed!r})")
                pairs.append((layer, seed))
        return pairs

    def _state_copies(self, model, optimizer_state):
        copies = []
        own = model.state_arrays()
        if set(own) != set(self.state_arrays):
            self._fail(f"holds state arrays {sorted(self.state_arrays)} but the model has "
                       f"{sorted(own)}")
        for name, target in own.items():
            if self.state_arrays[name].shape != tuple(target.shape):
                self._fail(f"state array {name} has shape {self.state_arrays[name].shape}, the "
                           f"model's has {tuple(target.shape)}")
            copies.append((target, self.state_arrays[name]))
        if optimizer_state and model.optimizer is not None:
            if self.compile is None:
                self._fail("holds no optimizer state (it was saved from an uncompiled model)")
            saved = optimizers.deserialize(self.compile["optimizer"])
            slots = model.optimizer.slots or {}
            if type(saved) is not type(model.optimizer) or set(slots) != set(self.slots):
                self._fail(f"holds the state of a {type(saved).__name__} optimizer with slots "
                           f"{sorted(self.slots)}, but the model's optimizer is "
                           f"{type(model.optimizer).__name__} with slots {sorted(slots)}")
            if (saved.schedule is None) != (model.optimizer.schedule is None):
                self._fail(f"its optimizer's learning rate is "
                           f"{'a schedule' if saved.schedule is not None else 'a number'}, the "
                           f"model's is {'a schedule' if model.optimizer.schedule is not None else 'a number'}")
            # the rate when saved (callbacks may have changed it); a schedule follows iterations
            self._saved_learning_rate = None if saved.schedule is not None \
                else float(saved.learning_rate)
            for name, target in slots.items():
                if self.slots[name].shape != tuple(target.shape):
                    self._fail(f"optimizer slot {name} has shape {self.slots[name].shape}, the "
                               f"model's has {tuple(target.shape)}")
                copies.append((target, self.slots[name]))
        return copies


#: the model classes a file may hold (also nested, as layers)
_MODEL_CLASS_NAMES = ("Sequential", "Functional")


def _saved_policy(config, dtype):
    """``config`` with the dtype policy it was saved with: a layer of a file written before
    layers had policies (no ``"dtype"``) computed in the model's dtype, whatever the global
    policy is now. Nested models' layers likewise; anything malformed is left for
    ``layers.deserialize`` to refuse."""
    inner = config.get("config") if isinstance(config, dict) else None
    if not isinstance(inner, dict):
        return config
    if config.get("class_name") in _MODEL_CLASS_NAMES and isinstance(inner.get("layers"), list):
        return {**config, "config": {**inner, "layers": [_saved_policy(c, dtype)
                                                          for c in inner["layers"]]}}
    if config.get("class_name") not in _MODEL_CLASS_NAMES and "dtype" not in inner:
        return {**config, "config": {**inner, "dtype": dtype}}
    return config


def _leaf_configs(layer_configs):
    """The serialized leaf layers in order, nested Sequentials expanded."""
    leaves = []
    for config in layer_configs:
        if isinstance(config, dict) and config.get("class_name") in _MODEL_CLASS_NAMES:
            leaves.extend(_leaf_configs(config.get("config", {}).get("layers", [])))
        else:
            leaves.append(config)
    return leaves


def _input_shape(shape):
    """The sample shape of ``model.json`` (a list of positive ints) as a tuple."""
    if not isinstance(shape, list) or not shape or any(
            isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in shape):
        raise InvalidInputError(f"input_shape {shape!r} is not a list of positive ints")
    return tuple(shape)


def _generator(state):
    """A NumPy Generator in the saved bit-generator ``state``."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    try:
        bit_generator.state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise InvalidInputError(f"unusable random generator state ({exc})") from None
    return np.random.Generator(bit_generator)

