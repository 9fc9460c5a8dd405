"""Data sets, Keras-compatible: each ``load_data()`` returns ``(x_train, y_train), (x_test, y_test)``.

- ``sample``: 5,000 real MNIST digits embedded in the package (offline; 4,000 train / 1,000 test);
- ``mnist``: MNIST, 60,000 / 10,000 (``$GPUDNN_DATA``, Keras's cache, else downloaded);
- ``fashion_mnist``: Fashion-MNIST, 60,000 / 10,000 (also Debian's ``dataset-fashion-mnist``).

Images are uint8 (n, 28, 28) with pixels 0..255; labels uint8 (n,) with values 0..9.
``load(name)`` picks one by the names the command line uses.
"""

from ..errors import unknown_name
from . import fashion_mnist, mnist, sample

LOADERS = {"sample": sample.load_data, "mnist": mnist.load_data, "fashion-mnist": fashion_mnist.load_data}
NAMES = tuple(LOADERS)


def load(name, **kwargs):
    """The data set called ``name`` ("sample", "mnist" or "fashion-mnist") as the Keras tuple.

    ``kwargs`` go to that loader (``test_fraction`` for the sample, ``url`` for the others).
    An unknown name raises ``UnknownNameError`` listing the valid ones.
    """
    key = name.replace("_", "-") if isinstance(name, str) else name
    if key not in LOADERS:
        raise unknown_name("data set", name, NAMES)
    return LOADERS[key](**kwargs)
