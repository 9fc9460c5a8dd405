"""Kill-safe writes: ``atomic_write`` is how every gpudnn file is written. A temporary file in
the same folder is written, flushed and fsynced, renamed over the target, then the folder is
fsynced: a process killed at any instant leaves the old file or the new one, never a torn one.
"""

import contextlib
import os
import tempfile

from ..errors import InvalidInputError

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path, write):
    """Create or replace the file ``path`` with what ``write(binary_file)`` writes, atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise InvalidInputError(f"{path} is a folder; give the path of a file to write")
    if not os.path.isdir(folder):
        raise InvalidInputError(f"cannot write {path}: the folder {folder} does not exist")
    try:
        fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                    suffix=".tmp")
    except OSError as exc:  # a read-only folder, no permission, a full disk
        raise InvalidInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise InvalidInputError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename durable (POSIX); folders cannot be opened for that on Windows."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

