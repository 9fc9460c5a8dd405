"""Reading zip archives of ``.npy`` and JSON entries that may be damaged or foreign.

Used by ``load_model``/``load_weights`` (gpudnn's files, NumPy ``.npz`` weights) and the
``mnist.npz`` reader. Every way such a file can be wrong — missing, truncated, bit-flipped, not a
zip, encrypted, compressed with an unknown method, an entry that would inflate past a bound, a
``.npy`` holding Python objects — becomes the caller's gpudnn error naming the file; never a
``zipfile``/``zlib``/NumPy exception and never an unpickled object. The whole file is read into
memory first, so what is checked is what is parsed.
"""

import hashlib
import io
import json
import zipfile

import numpy as np

from ..errors import FileFormatError, GpudnnError

#: An entry may inflate to at most this many times the archive's size (deflate peaks near 1032).
MAX_INFLATION = 256
_NPY_MAGIC = b"\x93NUMPY"


def read_entries(path, error=FileFormatError):
    """``{entry name: bytes}`` of the zip archive at ``path``, every entry's CRC-32 checked."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if not raw.startswith(b"PK"):
        what = "an empty file" if not raw else f"starts with {raw[:8]!r}"
        raise error(f"{path}: not a zip archive ({what}); gpudnn model files, weights files and "
                    f".npz files are zip archives")
    limit = max(MAX_INFLATION * len(raw), 1 << 20)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            entries = {}
            for info in archive.infolist():
                _check_entry(path, info, len(raw), limit, error)
                if info.filename in entries:
                    raise error(f"{path}: entry {info.filename!r} appears twice")
                entries[info.filename] = archive.read(info)
    except GpudnnError:
        raise
    except Exception as exc:  # zipfile signals damage with many exception types
        raise error(f"{path}: corrupt or truncated zip archive ({type(exc).__name__}: {exc})") \
            from None
    return entries


def _check_entry(path, info, archive_size, limit, error):
    if info.flag_bits & 0x1:
        raise error(f"{path}: entry {info.filename!r} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size > archive_size:
            raise error(f"{path}: entry {info.filename!r} claims {info.file_size} bytes, more "
                        f"than the whole file ({archive_size}); the file is damaged")
    elif info.compress_type == zipfile.ZIP_DEFLATED:
        if info.file_size > limit:
            raise error(f"{path}: entry {info.filename!r} would inflate to {info.file_size} bytes "
                        f"(more than {MAX_INFLATION}x the file); refusing it")
    else:
        raise error(f"{path}: entry {info.filename!r} uses zip compression method "
                    f"{info.compress_type}; only stored and deflated entries are read")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def parse_npy(data, where, error=FileFormatError):
    """The array in ``.npy`` bytes (``allow_pickle=False``); ``where`` names it in errors."""
    if not data.startswith(_NPY_MAGIC):
        raise error(f"{where}: not a .npy array")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise error(f"{where}: holds Python objects, which gpudnn never unpickles") from None
        raise error(f"{where}: damaged .npy array ({exc})") from None
    except Exception as exc:  # a damaged header or payload
        raise error(f"{where}: damaged .npy array ({type(exc).__name__}: {exc})") from None
    if not isinstance(array, np.ndarray):
        raise error(f"{where}: not a .npy array")
    return array


def npy_bytes(array):
    """``array`` as ``.npy`` bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)  # any layout; 0-d stays 0-d
    return buffer.getvalue()


def parse_json(data, where, error=FileFormatError):
    """The JSON value in UTF-8 ``data``."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{where}: not valid JSON ({exc})") from None


def json_bytes(value):
    return json.dumps(value, indent=1, sort_keys=True, allow_nan=False).encode("utf-8")
