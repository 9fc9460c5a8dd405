"""Saving: whole-model files, weight files and kill-safe writes.

``save_model(model, path)`` writes one file at exactly ``path``: a zip archive (entries stored,
not compressed) that any zip tool and NumPy can read without gpudnn (docs/file-format.md):

    format.json     {"format": "gpudnn.model", "version": 1, "gpudnn_version": ...}
    model.json      architecture: class, name, dtype, input_shape, layers (gpudnn.layers.serialize),
                    and the weights list [{"layer", "name", "shape", "entry"}] in get_weights order;
                    a Functional also its "input_layer" and "inference_calls"
    compile.json    null, or {"loss", "metrics", "weighted_metrics", "optimizer"} (the optimizer's
                    serialized config; metric names, or metric objects serialized; files
                    without "weighted_metrics" have none)
    state.json      optimizer iterations and slot entries, the model's rng state (a NumPy bit
                    generator state), the model's state_arrays() entries, and caller extras
    weights/NNN.npy one array per parameter
    optimizer/NAME.npy  each optimizer slot, flat (the parameters in get_weights order, raveled)
    state/NAME.npy  each state_arrays() entry
    manifest.json   {"entries": {name: {"sha256", "size"}}} of every other entry; checked on load

Everything passes through host arrays, so a file written on CUDA loads on the CPU and back.
``atomic_write`` is how every gpudnn file is written: a temporary file in the same folder,
flushed and fsynced, renamed over the target, then the folder fsynced. A process killed at any
instant leaves the old file or the new one, never a torn one.
"""

from ..errors import FileFormatError, InvalidInputError
from ..utils import archive
from .atomic import atomic_write
from .model_file import ModelFile
from .writing import FORMAT, VERSION, save_model, save_weights

__all__ = ["atomic_write", "save_model", "save_weights", "load_model", "load_weights",
           "restore_state", "ModelFile", "FORMAT", "VERSION"]


def _entry_order(name):
    """``arr_2`` before ``arr_10`` (np.savez's positional names), other names as text."""
    stem = name[:-4] if name.endswith(".npy") else name
    head, _, number = stem.rpartition("_")
    return (head, int(number), "") if head == "arr" and number.isdigit() else ("", -1, name)


def load_model(path):
    """The model saved by ``model.save(path)``, compiled and with its optimizer and random state,
    on gpudnn's current device. A damaged or foreign file raises ``FileFormatError``."""
    return ModelFile(path).build_model()


def restore_state(model, path, check_extra=None):
    """Load weights, optimizer state, random state and state arrays saved by ``save_model`` into
    the existing ``model`` (same architecture and optimizer); ``model`` is unchanged on error,
    including when ``check_extra(extra)`` (run first) raises. Returns the file's ``extra``."""
    model_file = ModelFile(path)
    if check_extra is not None:
        check_extra(model_file.extra)
    model_file.restore(model, optimizer_state=True)
    return model_file.extra


def load_weights(model, path):
    """Load parameters from a ``save_weights`` ``.npz`` file or a whole-model file into
    ``model``; every array is read and checked first, so a refused file changes nothing."""
    model._require_built("load_weights")
    entries = archive.read_entries(path)
    if "format.json" in entries:
        ModelFile(path, entries).restore(model, weights_only=True)
        return
    names = sorted(entries, key=_entry_order)
    bad = [name for name in names if not name.endswith(".npy")]
    if bad or not names:
        raise FileFormatError(f"{path}: not a weights file (save_weights writes an .npz of .npy "
                              f"arrays; found entries {names[:5]})")
    weights = [archive.parse_npy(entries[name], f"{path}: {name}") for name in names]
    kinds = [f"{name} ({w.dtype})" for name, w in zip(names, weights) if w.dtype.kind not in "biuf"]
    if kinds:
        raise FileFormatError(f"{path}: arrays that are not numbers: {', '.join(kinds)}")
    try:
        model.set_weights(weights)
    except InvalidInputError as exc:
        raise FileFormatError(f"{path}: {exc}") from None

