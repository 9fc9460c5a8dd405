"""MNIST handwritten digits, loaded like ``keras.datasets.mnist.load_data()``.

Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (60000, 28, 28) / (10000, 28, 28)
with pixels 0..255, uint8 labels 0..9. Looked for, in order:

1. ``$GPUDNN_DATA/mnist.npz``, then the four IDX files (gzipped or not) in ``$GPUDNN_DATA/mnist/``;
2. Keras's cache ``~/.keras/datasets/mnist.npz``;
3. otherwise downloaded (``mnist.npz``, SHA-256 checked, as Keras does) into the first of those.

``mnist.npz`` is Keras's file: a NumPy .npz with arrays x_train, y_train, x_test, y_test.
"""

import os

import numpy as np

from ..utils.archive import parse_npy, read_entries
from ..errors import DatasetError
from . import download as dl
from .idx import read_idx

NPZ = "mnist.npz"
NPZ_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"  # Keras's file_hash
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
KEYS = ("x_train", "y_train", "x_test", "y_test")


def check_arrays(source, x_train, y_train, x_test, y_test, classes=10):
    """Validate shapes, dtypes and label range; return the Keras tuple. ``source`` names the file(s)."""
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if x.dtype != np.uint8 or y.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DatasetError(f"{source}: {part} images must be uint8 (n, 28, 28), "
                               f"got {x.dtype} {x.shape}; labels {y.dtype} {y.shape}")
        if y.shape != (x.shape[0],):
            raise DatasetError(f"{source}: {x.shape[0]} {part} images but labels of shape {y.shape}")
        if y.size and int(y.max()) >= classes:
            raise DatasetError(f"{source}: {part} label {int(y.max())} outside 0..{classes - 1}")
    return (x_train, y_train), (x_test, y_test)


def find_idx_set(dirs):
    """Paths of the four IDX files from the first folder holding all of them (``.gz`` or not)."""
    for d in dirs:
        paths = [dl.find_file((name + ".gz", name), [d]) for name in IDX_FILES]
        if all(paths):
            return paths
    return None


def load_idx_set(paths):
    """Read four IDX paths (train images, train labels, test images, test labels) as the tuple."""
    arrays = [read_idx(p) for p in paths]
    return check_arrays(", ".join(paths), *arrays)


def load_npz(path):
    """Read a Keras-format ``mnist.npz``; a corrupt or incomplete file is a ``DatasetError``
    (every entry's CRC is checked; nothing is unpickled)."""
    try:
        entries = read_entries(path, error=DatasetError)
    except DatasetError as e:
        raise DatasetError(f"{e}; delete it and fetch it again") from None
    missing = [k for k in KEYS if k + ".npy" not in entries]
    if missing:
        raise DatasetError(f"{path}: not a Keras mnist.npz, missing arrays {missing}")
    arrays = [parse_npy(entries[k + ".npy"], f"{path}: {k}", error=DatasetError) for k in KEYS]
    return check_arrays(path, *arrays)


def load_data(url=None):
    """MNIST as ``(x_train, y_train), (x_test, y_test)`` (see the module docstring).

    ``url`` overrides the base URL downloaded from (default ``$GPUDNN_DATA_URL``, else Keras's).
    """
    dirs = dl.candidate_dirs()
    if os.environ.get("GPUDNN_DATA"):
        found = dl.find_file([NPZ], dirs[:1])
        if found:
            return load_npz(found)
        idx = find_idx_set([os.path.join(dirs[0], "mnist")])
        if idx:
            return load_idx_set(idx)
    found = dl.find_file([NPZ], dirs)
    if found:
        return load_npz(found)
    return load_npz(dl.download(NPZ, dirs[0], NPZ_SHA256, url))
