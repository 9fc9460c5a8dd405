"""Fashion-MNIST (Zalando), loaded like ``keras.datasets.fashion_mnist.load_data()``.

Returns ``(x_train, y_train), (x_test, y_test)``: uint8 images (60000, 28, 28) / (10000, 28, 28),
uint8 labels 0..9 (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag,
Ankle boot). The four IDX files (gzipped or not) are looked for, in order, in:

1. ``$GPUDNN_DATA/fashion-mnist/``;
2. Keras's cache ``~/.keras/datasets/fashion-mnist/``;
3. ``/usr/share/datasets/fashion-mnist/`` (Debian/Ubuntu package ``dataset-fashion-mnist``);
4. otherwise the missing ``.gz`` files are downloaded, SHA-256 checked, into the first folder.
"""

from . import download as dl
from .mnist import IDX_FILES, find_idx_set, load_idx_set

SUBDIR = "fashion-mnist"
SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
SHA256 = {}  # filled below


def load_data(url=None):
    """Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)`` (see the module docstring).

    ``url`` overrides the base URL downloaded from (default ``$GPUDNN_DATA_URL``, else Keras's).
    """
    dirs = dl.candidate_dirs(SUBDIR, SYSTEM_DIRS)
    found = find_idx_set(dirs)
    if found:
        return load_idx_set(found)
    cache = dirs[0]
    paths = [dl.find_file((name + ".gz", name), [cache])
             or dl.download(name + ".gz", cache, SHA256[name + ".gz"], url)
             for name in IDX_FILES]
    return load_idx_set(paths)
