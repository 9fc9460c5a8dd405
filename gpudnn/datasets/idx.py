"""Read and write IDX files, the format MNIST and Fashion-MNIST ship in.

Format (big-endian throughout, http://yann.lecun.com/exdb/mnist/):

    bytes 0-1   0x00 0x00                      magic, always zero
    byte  2     dtype code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions, 1..255
    4 * ndim    each dimension as an unsigned 32-bit integer
    rest        the data, C order, exactly prod(dims) * itemsize bytes

A file may be gzip-compressed (recognized by its gzip magic 1f 8b, whatever its name). Anything
that does not follow the format, including a truncated file, raises ``DatasetError`` naming it.
"""

import gzip
import struct
import zlib

import numpy as np

from ..errors import DatasetError

DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(v).newbyteorder(">"): k for k, v in DTYPES.items()}


def _read_bytes(path):
    """The file's bytes, gunzipped when it starts with the gzip magic."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
        raise DatasetError(f"{path}: corrupt or truncated gzip file ({e}); delete it and fetch it again") from e


def parse_idx(data, name="<bytes>"):
    """Parse IDX ``data`` (bytes, uncompressed) into a NumPy array in native byte order."""
    if len(data) < 4:
        raise DatasetError(f"{name}: not an IDX file (only {len(data)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0:
        raise DatasetError(f"{name}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    if code not in DTYPES:
        raise DatasetError(f"{name}: unknown IDX dtype code 0x{code:02x}")
    if ndim == 0:
        raise DatasetError(f"{name}: IDX header declares zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{name}: truncated IDX header ({len(data)} of {header} bytes)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(DTYPES[code])
    expected = dtype.itemsize
    for dim in dims:  # Python ints: no overflow whatever the header claims
        expected *= dim
    got = len(data) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DatasetError(
            f"{name}: IDX payload {what}: {got} bytes, header {dims} of {dtype.name} needs {expected}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path):
    """Read the IDX file at ``path`` (gzipped or not) into a NumPy array."""
    return parse_idx(_read_bytes(path), name=str(path))


def to_idx_bytes(array):
    """``array`` as IDX bytes (uncompressed); its dtype must be one the format knows."""
    arr = np.asarray(array)
    code = _CODES.get(arr.dtype.newbyteorder(">"))
    if code is None or arr.ndim == 0:
        raise DatasetError(f"cannot write a {arr.ndim}-d {arr.dtype} array as IDX")
    header = struct.pack(f">HBB{arr.ndim}I", 0, code, arr.ndim, *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=DTYPES[code]).tobytes()


def write_idx(path, array, compress=None):
    """Write ``array`` to ``path`` as IDX; gzip it when ``compress`` (default: name ends in .gz)."""
    data = to_idx_bytes(array)
    if compress is None:
        compress = str(path).endswith(".gz")
    with open(path, "wb") as f:
        f.write(gzip.compress(data, mtime=0) if compress else data)
