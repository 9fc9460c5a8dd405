"""gpudnn.datasets: IDX reader, lookup order, loopback downloads, the embedded sample."""

import gzip
import hashlib
import http.server
import io
import os
import socket
import struct
import threading

import numpy as np
import pytest

from gpudnn import datasets
from gpudnn.datasets import download as dl
from gpudnn.datasets import fashion_mnist, idx, mnist, sample
from gpudnn.errors import DatasetError, InvalidInputError, UnknownNameError

DEBIAN = "/usr/share/datasets/fashion-mnist"


def small_set(seed=0, n_train=6, n_test=4):
    """A tiny (x_train, y_train, x_test, y_test) with the real shapes and dtypes."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
            rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8))


def npz_bytes(arrays):
    buf = io.BytesIO()
    np.savez(buf, **dict(zip(mnist.KEYS, arrays)))
    return buf.getvalue()


def write_idx_set(folder, arrays, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    for name, arr in zip(mnist.IDX_FILES, arrays):
        idx.write_idx(folder / (name + (".gz" if gz else "")), arr)


def assert_same(result, arrays):
    (xtr, ytr), (xte, yte) = result
    for got, want in zip((xtr, ytr, xte, yte), arrays):
        assert got.dtype == np.uint8 and np.array_equal(got, want)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """No GPUDNN_DATA, a fresh empty HOME, no system copy: nothing to find until a test adds it."""
    for var in ("GPUDNN_DATA", "GPUDNN_DATA_URL", "KERAS_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (str(tmp_path / "system"),))
    return tmp_path


@pytest.fixture
def server():
    """A loopback HTTP server; set ``.files[name] = bytes`` and ``.truncate.add(name)``."""
    files, truncate = {}, set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2] if self.path.lstrip("/") in truncate else body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.files, httpd.truncate = files, truncate
    yield httpd
    httpd.shutdown()
    httpd.server_close()


# --- IDX reader ----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["u1", "i1", "<i2", "<i4", "<f4", "<f8"])
def test_idx_round_trip_every_dtype(tmp_path, dtype):
    arr = (np.arange(24) - 7).astype(dtype).reshape(2, 3, 4)
    for name in ("a.idx", "a.idx.gz"):
        idx.write_idx(tmp_path / name, arr)
        back = idx.read_idx(tmp_path / name)
        assert back.dtype == np.dtype(dtype).newbyteorder("=") and np.array_equal(back, arr)


def test_idx_gzip_recognized_by_content_not_name(tmp_path):
    arr = np.arange(10, dtype=np.uint8)
    (tmp_path / "plain-name").write_bytes(gzip.compress(idx.to_idx_bytes(arr)))
    assert np.array_equal(idx.read_idx(tmp_path / "plain-name"), arr)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x01" + b[1:], "bad magic"),
    (lambda b: b[:2] + b"\x07" + b[3:], "unknown IDX dtype code 0x07"),
    (lambda b: b[:3] + b"\x00" + b[4:], "zero dimensions"),
    (lambda b: b[:6], "truncated IDX header"),
    (lambda b: b[:-1], "payload truncated"),
    (lambda b: b + b"\x00", "trailing bytes"),
    (lambda b: b[:2], "not an IDX file"),
])
def test_idx_rejects_malformed_files_naming_them(tmp_path, mutate, message):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(mutate(idx.to_idx_bytes(np.zeros((3, 28, 28), np.uint8))))
    with pytest.raises(InvalidInputError, match=message) as info:
        idx.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_truncated_gzip_names_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx.to_idx_bytes(np.zeros((50, 28, 28), np.uint8)))[:-20])
    with pytest.raises(DatasetError, match="corrupt or truncated gzip") as info:
        idx.read_idx(path)
    assert str(path) in str(info.value)


def test_idx_header_dims_are_big_endian():
    data = struct.pack(">HBB2I", 0, 0x08, 2, 2, 3) + bytes(range(6))
    assert idx.parse_idx(data).tolist() == [[0, 1, 2], [3, 4, 5]]


# --- lookup order --------------------------------------------------------------------------

def test_mnist_npz_in_gpudnn_data_wins_over_keras_cache(env, monkeypatch):
    mine, keras = small_set(1), small_set(2)
    (env / "data").mkdir()
    (env / "data" / "mnist.npz").write_bytes(npz_bytes(mine))
    (env / "home/.keras/datasets").mkdir(parents=True)
    (env / "home/.keras/datasets/mnist.npz").write_bytes(npz_bytes(keras))
    assert_same(mnist.load_data(), keras)
    monkeypatch.setenv("GPUDNN_DATA", str(env / "data"))
    assert_same(mnist.load_data(), mine)


def test_mnist_idx_files_in_gpudnn_data(env, monkeypatch):
    arrays = small_set(3)
    write_idx_set(env / "data" / "mnist", arrays, gz=False)
    monkeypatch.setenv("GPUDNN_DATA", str(env / "data"))
    assert_same(mnist.load_data(), arrays)


def test_keras_home_is_honoured(env, monkeypatch):
    arrays = small_set(4)
    (env / "kh" / "datasets").mkdir(parents=True)
    (env / "kh" / "datasets" / "mnist.npz").write_bytes(npz_bytes(arrays))
    monkeypatch.setenv("KERAS_HOME", str(env / "kh"))
    assert_same(mnist.load_data(), arrays)


def test_fashion_lookup_order(env, monkeypatch):
    data, keras, system = small_set(5), small_set(6), small_set(7)
    write_idx_set(env / "system", system)
    assert_same(fashion_mnist.load_data(), system)
    write_idx_set(env / "home/.keras/datasets/fashion-mnist", keras)
    assert_same(fashion_mnist.load_data(), keras)
    write_idx_set(env / "data/fashion-mnist", data, gz=False)
    monkeypatch.setenv("GPUDNN_DATA", str(env / "data"))
    assert_same(fashion_mnist.load_data(), data)


def test_corrupt_npz_names_the_file(env, monkeypatch):
    monkeypatch.setenv("GPUDNN_DATA", str(env))
    (env / "mnist.npz").write_bytes(npz_bytes(small_set())[:200])
    with pytest.raises(DatasetError, match="corrupt or truncated") as info:
        mnist.load_data()
    assert str(env / "mnist.npz") in str(info.value)


def test_npz_with_wrong_arrays_is_rejected(env, monkeypatch):
    monkeypatch.setenv("GPUDNN_DATA", str(env))
    buf = io.BytesIO()
    np.savez(buf, x_train=np.zeros((2, 28, 28), np.uint8))
    (env / "mnist.npz").write_bytes(buf.getvalue())
    with pytest.raises(DatasetError, match="missing arrays"):
        mnist.load_data()
    x, y, xt, yt = small_set()
    (env / "mnist.npz").write_bytes(npz_bytes((x, y[:-1], xt, yt)))
    with pytest.raises(DatasetError, match="labels of shape"):
        mnist.load_data()


def test_labels_out_of_range_rejected(env, monkeypatch):
    x, y, xt, yt = small_set()
    y[0] = 10
    write_idx_set(env / "system", (x, y, xt, yt))
    with pytest.raises(DatasetError, match="label 10 outside 0..9"):
        fashion_mnist.load_data()


# --- downloads -----------------------------------------------------------------------------

def test_mnist_download_success_into_keras_cache(env, server, monkeypatch, capsys):
    arrays = small_set(8)
    body = npz_bytes(arrays)
    server.files["mnist.npz"] = body
    monkeypatch.setattr(mnist, "NPZ_SHA256", hashlib.sha256(body).hexdigest())
    assert_same(mnist.load_data(url=server.url), arrays)
    cache = env / "home/.keras/datasets"
    assert os.listdir(cache) == ["mnist.npz"] and (cache / "mnist.npz").read_bytes() == body
    err = capsys.readouterr().err
    assert f"Downloading data from {server.url}mnist.npz" in err and f"{len(body)}/{len(body)}" in err
    del server.files["mnist.npz"]  # second call is served from the cache
    assert_same(mnist.load_data(url=server.url), arrays)


def test_fashion_download_via_env_url_into_gpudnn_data(env, server, monkeypatch):
    arrays = small_set(9)
    monkeypatch.setenv("GPUDNN_DATA", str(env / "data"))
    monkeypatch.setenv("GPUDNN_DATA_URL", server.url.rstrip("/"))
    for name, arr in zip(mnist.IDX_FILES, arrays):
        body = gzip.compress(idx.to_idx_bytes(arr))
        server.files[name + ".gz"] = body
        monkeypatch.setitem(fashion_mnist.SHA256, name + ".gz", hashlib.sha256(body).hexdigest())
    # one file already cached (uncompressed): only the other three are fetched
    (env / "data/fashion-mnist").mkdir(parents=True)
    (env / "data/fashion-mnist" / mnist.IDX_FILES[0]).write_bytes(idx.to_idx_bytes(arrays[0]))
    del server.files[mnist.IDX_FILES[0] + ".gz"]
    assert_same(fashion_mnist.load_data(), arrays)
    assert sorted(os.listdir(env / "data/fashion-mnist")) == sorted(
        [mnist.IDX_FILES[0]] + [n + ".gz" for n in mnist.IDX_FILES[1:]])


def test_checksum_mismatch_saves_nothing(env, server):
    server.files["mnist.npz"] = npz_bytes(small_set())
    with pytest.raises(DatasetError, match="SHA-256 mismatch") as info:
        mnist.load_data(url=server.url)
    assert mnist.NPZ_SHA256 in str(info.value)
    assert os.listdir(env / "home/.keras/datasets") == []


def test_truncated_download_saves_nothing(env, server, monkeypatch):
    body = npz_bytes(small_set())
    server.files["mnist.npz"] = body
    server.truncate.add("mnist.npz")
    monkeypatch.setattr(mnist, "NPZ_SHA256", hashlib.sha256(body).hexdigest())
    with pytest.raises(DatasetError, match=f"truncated: {len(body) // 2} of {len(body)} bytes"):
        mnist.load_data(url=server.url)
    assert os.listdir(env / "home/.keras/datasets") == []


def test_http_404_is_a_clear_error(env, server):
    with pytest.raises(DatasetError, match="could not download .*fashion-mnist"):
        fashion_mnist.load_data(url=server.url)


def test_no_network_says_which_file_to_put_where(env):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError) as info:
        mnist.load_data(url=f"http://127.0.0.1:{port}/")
    msg = str(info.value)
    assert "No network?" in msg and f"http://127.0.0.1:{port}/mnist.npz" in msg
    assert str(env / "home/.keras/datasets/mnist.npz") in msg
    assert os.listdir(env / "home/.keras/datasets") == []


def test_interrupted_download_leaves_no_partial_file(env, server, monkeypatch):
    server.files["mnist.npz"] = npz_bytes(small_set())

    def interrupt(self, done):
        raise KeyboardInterrupt

    monkeypatch.setattr(dl._Progress, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        mnist.load_data(url=server.url)
    assert os.listdir(env / "home/.keras/datasets") == []


def test_default_url_is_keras_mirror(monkeypatch):
    monkeypatch.delenv("GPUDNN_DATA_URL", raising=False)
    assert dl.base_url() == "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
    assert dl.base_url("http://h/x") == "http://h/x/"


# --- embedded sample and load(name) --------------------------------------------------------

def test_sample_shapes_dtypes_and_classes():
    (x, y), (xt, yt) = sample.load_data()
    assert x.shape == (4000, 28, 28) and xt.shape == (1000, 28, 28)
    assert y.shape == (4000,) and yt.shape == (1000,)
    assert {a.dtype for a in (x, y, xt, yt)} == {np.dtype(np.uint8)}
    assert x.max() == 255 and x.min() == 0 and 0.05 < (x > 0).mean() < 0.4  # MNIST ink: ~19 %
    all_y = np.concatenate([y, yt])
    assert np.array_equal(np.bincount(all_y, minlength=10), [500] * 10)
    assert np.bincount(yt, minlength=10).min() >= 70  # shuffled: every class in the test set


def test_sample_split_is_fixed_and_sized_by_fraction():
    (a, b), (c, d) = sample.load_data()
    (a2, b2), (c2, d2) = sample.load_data(test_fraction=0.2)
    assert np.array_equal(a, a2) and np.array_equal(d, d2)
    (x, _), (xt, _) = sample.load_data(test_fraction=0.5)
    assert len(x) == len(xt) == 2500 and np.array_equal(xt[-1000:], c)
    for bad in (0, 1, -0.1, 1e-6):
        with pytest.raises(InvalidInputError, match="test_fraction"):
            sample.load_data(test_fraction=bad)


def test_sample_file_is_small():
    path = os.path.join(os.path.dirname(sample.__file__), "data", sample.FILE)
    assert os.path.getsize(path) < 3_000_000


def test_load_by_name(env, monkeypatch):
    (x, y), _ = datasets.load("sample")
    assert x.shape == (4000, 28, 28)
    arrays = small_set(10)
    write_idx_set(env / "system", arrays)
    assert_same(datasets.load("fashion-mnist"), arrays)
    assert_same(datasets.load("fashion_mnist"), arrays)
    monkeypatch.setenv("GPUDNN_DATA", str(env))
    (env / "mnist.npz").write_bytes(npz_bytes(arrays))
    assert_same(datasets.load("mnist"), arrays)
    with pytest.raises(UnknownNameError, match="fashion-mnist, mnist, sample"):
        datasets.load("cifar10")


# --- the Debian copy -----------------------------------------------------------------------

debian = pytest.mark.skipif(
    not all(os.path.exists(f"{DEBIAN}/{n}.gz") for n in mnist.IDX_FILES),
    reason=f"Debian's dataset-fashion-mnist is not installed ({DEBIAN})")


@debian
def test_debian_fashion_mnist_loads(env, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", (DEBIAN,))
    (x, y), (xt, yt) = fashion_mnist.load_data()
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.array_equal(np.bincount(y), [6000] * 10) and np.array_equal(np.bincount(yt), [1000] * 10)
    assert y[:5].tolist() == [9, 0, 0, 3, 0]  # ankle boot, T-shirt, T-shirt, dress, T-shirt


@debian
def test_fashion_sha256_table_matches_debian_files_rebuilt_as_upstream():
    """Debian dropped the gzip FNAME field; restoring it gives Zalando's files (their MD5s)."""
    upstream = {  # name: (mtime, MD5 from Zalando's README)
        "train-images-idx3-ubyte.gz": (1504176606, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        "train-labels-idx1-ubyte.gz": (1504176606, "25c81989df183df01b3e8a0aad5dffbe"),
        "t10k-images-idx3-ubyte.gz": (1504176627, "bef4ecab320f06d8554ea6380940ec79"),
        "t10k-labels-idx1-ubyte.gz": (1504176627, "bb300cfdad3c16e7a12a480ee83cd310"),
    }
    for name, (mtime, md5) in upstream.items():
        with open(f"{DEBIAN}/{name}", "rb") as f:
            deb = f.read()
        rebuilt = (deb[:3] + bytes([deb[3] | 0x08]) + struct.pack("<I", mtime) + deb[8:10]
                   + name[:-3].encode() + b"\0" + deb[10:])
        assert hashlib.md5(rebuilt).hexdigest() == md5
        assert hashlib.sha256(rebuilt).hexdigest() == fashion_mnist.SHA256[name]


def test_the_data_sets_are_an_attribute_of_the_package_as_in_keras():
    """``import gpudnn as keras; keras.datasets.mnist.load_data()`` as the course's first line
    reads with Keras."""
    import gpudnn as keras

    assert keras.datasets.mnist.load_data is mnist.load_data
    (x, y), _ = keras.datasets.sample.load_data()
    assert x.shape[1:] == (28, 28) and len(x) == len(y)
