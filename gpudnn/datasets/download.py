"""Where data set files live, and fetching them: download, SHA-256 check, atomic write.

Folders searched, in order (``candidate_dirs``):

1. ``$GPUDNN_DATA/<subdir>`` when ``GPUDNN_DATA`` is set (``<subdir>`` is "" for mnist.npz,
   "mnist" or "fashion-mnist" for IDX files);
2. Keras's cache, ``$KERAS_HOME/datasets/<subdir>`` (``KERAS_HOME`` defaults to ``~/.keras``);
3. system copies passed by the caller (Debian's ``/usr/share/datasets/fashion-mnist``).

Downloads come from ``$GPUDNN_DATA_URL`` or, by default, the folder Keras downloads from; they go
to the first of those folders (``$GPUDNN_DATA`` if set, else Keras's cache). A download is
streamed into a hidden temporary file next to its destination, its SHA-256 and length checked,
then moved into place with ``os.replace``: a failed or interrupted download leaves no file behind.
"""

import hashlib
import os
import sys
import tempfile

from ..errors import DatasetError

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
CHUNK = 1 << 16


def base_url(override=None):
    """The folder URL to download from: ``override``, else ``$GPUDNN_DATA_URL``, else Keras's."""
    url = override or os.environ.get("GPUDNN_DATA_URL") or DEFAULT_BASE_URL
    return url if url.endswith("/") else url + "/"


def keras_cache_dir(subdir=""):
    """``$KERAS_HOME/datasets/<subdir>``, ``KERAS_HOME`` defaulting to ``~/.keras`` as in Keras."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets", subdir)


def candidate_dirs(subdir="", system=()):
    """Folders to look in, in lookup order (see the module docstring); the first is the cache."""
    dirs = []
    if os.environ.get("GPUDNN_DATA"):
        dirs.append(os.path.join(os.path.expanduser(os.environ["GPUDNN_DATA"]), subdir))
    dirs.append(keras_cache_dir(subdir))
    dirs.extend(system)
    return [os.path.normpath(d) for d in dirs]


def find_file(names, dirs):
    """The first existing ``dir/name`` trying each dir in turn and, in it, each of ``names``."""
    for d in dirs:
        for name in names:
            path = os.path.join(d, name)
            if os.path.isfile(path):
                return path
    return None


class _Progress:
    """A one-line Keras-style download bar on stderr: ``1234567/26421880 [====>.....]  4%``."""

    def __init__(self, total, stream=None, width=30):
        self.total, self.width, self.shown = total, width, -1
        self.stream = stream if stream is not None else sys.stderr

    def update(self, done):
        if self.total:
            pct = min(100, done * 100 // self.total)
            if pct == self.shown:
                return
            self.shown = pct
            fill = self.width * pct // 100
            bar = "=" * fill + (">" if fill < self.width else "") + "." * (self.width - fill - 1)
            self.stream.write(f"\r{done}/{self.total} [{bar}] {pct:3d}%")
        else:
            self.stream.write(f"\r{done} bytes")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


def download(name, dest_dir, sha256, url_base=None, timeout=30):
    """Download ``name`` from the base URL into ``dest_dir``; return its path once verified.

    Raises ``DatasetError`` (naming the file, the URL and where to put the file by hand) when the
    server cannot be reached, the transfer is short, or the SHA-256 differs from ``sha256``.
    """
    url = base_url(url_base) + name
    dest = os.path.join(dest_dir, name)
    manual = f"download {url} yourself and put it at {dest} (or in the folder $GPUDNN_DATA names)"
    os.makedirs(dest_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, sha256, manual, timeout)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def _fetch(url, out, sha256, manual, timeout):
    """Stream ``url`` into the open file ``out``, checking length and SHA-256."""
    import http.client  # here, not at import: urllib.request pulls in ssl, email (~20 ms)
    import urllib.error
    import urllib.request

    print(f"Downloading data from {url}", file=sys.stderr)
    digest, done = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0)
            bar = _Progress(total)
            try:
                while chunk := resp.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    bar.update(done)
            finally:
                bar.close()
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # refused, DNS, HTTP 404, reset, timeout, short read
        reason = getattr(e, "reason", None) or e
        raise DatasetError(f"could not download {url}: {reason}. No network? {manual}") from e
    if total and done != total:
        raise DatasetError(f"download of {url} truncated: {done} of {total} bytes. Retry, or {manual}")
    if digest.hexdigest() != sha256:
        raise DatasetError(
            f"{url}: SHA-256 mismatch (got {digest.hexdigest()}, expected {sha256}); "
            f"the file was not saved. Retry, or {manual}"
        )
