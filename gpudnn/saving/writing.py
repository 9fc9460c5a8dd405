"""Writing model files (``save_model``) and weight files (``save_weights``).

The file layout is described in gpudnn/saving/__init__.py and docs/file-format.md. Only the
model's public surface is read: its views of the weights, its config (name, dtype, input shape,
layers), its compile configuration and optimizer state, its random state and state arrays.
"""

import zipfile

import numpy as np

from .. import losses, metrics, optimizers
from ..utils import archive
from ..utils.version import __version__
from ..errors import InvalidInputError
from .atomic import atomic_write

FORMAT = "gpudnn.model"
VERSION = 1
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so equal models give equal files


def _write_zip(path, entries):
    """Write ``{name: bytes}`` plus their manifest as a stored zip at ``path``, atomically."""
    manifest = {"entries": {name: {"sha256": archive.sha256(data), "size": len(data)}
                            for name, data in entries.items()}}
    entries = {**entries, "manifest.json": archive.json_bytes(manifest)}

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, data in entries.items():
                zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_DATE), data)

    atomic_write(path, write)


def save_model(model, path, extra_state=None):
    """Write ``model`` (architecture, weights, compile configuration, optimizer state, random
    state) to ``path``; ``extra_state`` (JSON-able dict) goes into state.json under "extra"."""
    model._require_built("save")
    be = model.backend
    entries = {"format.json": _json({"format": FORMAT, "version": VERSION,
                                     "gpudnn_version": __version__})}
    weights = []
    for i, (layer, name, view) in enumerate(model._views()):
        entry = f"weights/{i:03d}.npy"
        entries[entry] = archive.npy_bytes(be.to_host(view))
        weights.append({"layer": layer.name, "name": name, "shape": list(view.shape),
                        "entry": entry})
    architecture = model._serialized_config()  # a Functional's adds its input layer
    entries["model.json"] = _json({
        **{key: value for key, value in architecture.items() if key != "trainable"},
        "class_name": type(model).__name__, "name": model.name, "dtype": model.dtype.name,
        "input_shape": list(model.sample_shape), "weights": weights})
    state = {"rng": model.rng.bit_generator.state, "state_arrays": {}, "optimizer": None,
             "extra": extra_state or {}}
    for name, array in model.state_arrays().items():
        entry = f"state/{name}.npy"
        entries[entry] = archive.npy_bytes(be.to_host(array))
        state["state_arrays"][name] = entry
    optimizer = model.optimizer
    if optimizer is None:
        entries["compile.json"] = _json(None)
    else:
        compiled = model.get_compile_config()
        entries["compile.json"] = _json({"loss": losses.serialize(model.loss),
                                         "metrics": _metrics(compiled["metrics"]),
                                         "weighted_metrics":
                                             _metrics(compiled["weighted_metrics"]),
                                         "optimizer": optimizers.serialize(optimizer)})
        slots = {}
        for name, buffer in (optimizer.slots or {}).items():
            slots[name] = f"optimizer/{name}.npy"
            entries[slots[name]] = archive.npy_bytes(be.to_host(buffer))
        # the batches seen (Keras's _iterations): ``iterations`` divides them while accumulating
        state["optimizer"] = {"iterations": int(optimizer.step_count), "slots": slots}
    entries["state.json"] = _json(state)
    _write_zip(path, entries)


def save_weights(model, path):
    """Every parameter to the ``.npz`` file at exactly ``path`` (keys
    ``"<index>/<layer>/<param>"``), atomically."""
    model._require_built("save_weights")
    arrays = {f"{i:03d}/{layer.name}/{name}": model.backend.to_host(view)
              for i, (layer, name, view) in enumerate(model._views())}
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _metrics(identifiers):
    """Metric names as given, metric objects serialized with their config."""
    return [m if isinstance(m, str) else metrics.serialize(m) for m in identifiers]


def _json(value):
    try:
        return archive.json_bytes(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot save: a configuration is not JSON-serializable ({exc}); "
                                f"layers, losses and optimizers must be given by name or with "
                                f"plain-number arguments") from None

