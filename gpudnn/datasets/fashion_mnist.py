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
# SHA-256 of the upstream .gz files (the Keras mirror serves the same bytes: same sizes). Derived
# here from Debian's copies, whose gzip headers lack the file name and carry a 2020 mtime: adding
# back FNAME and mtime 2017-08-31 10:50:06/27 UTC rebuilds files whose MD5s equal those in
# Zalando's README; these are the SHA-256s of the rebuilt files (and agree with other projects').
SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}


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
