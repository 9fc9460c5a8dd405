"""Damaged and foreign files are refused with a gpudnn error naming the file, and change nothing.

Hypothesis mutates valid files byte by byte (flips, truncations, insertions) and feeds them to
load_model, load_weights and the data-set readers (IDX, mnist.npz): the result is either a
gpudnn error or exactly the original content (a mutation in zip metadata that no reader uses,
such as a timestamp) — never another exception, a hang or a half-loaded model.
"""

import gzip
import hashlib
import io
import json
import os
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpudnn import layers, models, optimizers
from gpudnn.datasets import idx, mnist
from gpudnn.errors import DatasetError, FileFormatError, GpudnnError
from gpudnn.utils import to_categorical

from conftest import blobs

FUZZ = settings(max_examples=int(os.environ.get("GPUDNN_FUZZ_EXAMPLES", 60)), deadline=None,
                derandomize=not os.environ.get("GPUDNN_FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def small_model():
    model = models.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)),
                               layers.Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def trained_small_model():
    model = small_model()
    x, labels = blobs(n=40, features=3, classes=2)
    model.fit(x, to_categorical(labels, 2), epochs=1, batch_size=16, verbose=0)
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("valid")
    model = trained_small_model()
    model.save(folder / "m.gpudnn")
    model.save_weights(folder / "w.npz")
    return {"model": model, "model_bytes": (folder / "m.gpudnn").read_bytes(),
            "weights_bytes": (folder / "w.npz").read_bytes()}


def state_of(model):
    """Everything load_model restores, as comparable host values."""
    opt = model.optimizer
    return ([w.copy() for w in model.get_weights()],
            {k: model.backend.to_host(v).copy() for k, v in (opt.slots or {}).items()},
            opt.iterations, model.rng.bit_generator.state,
            [layers.serialize(l) for l in model.layers], optimizers.serialize(opt))


def assert_same_state(a, b):
    (wa, sa, ia, ra, la, oa), (wb, sb, ib, rb, lb, ob) = a, b
    assert all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert (ia, ra, la, oa) == (ib, rb, lb, ob)


mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(1, 255)),
                                        min_size=1, max_size=4)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 30)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=8)),
)


def mutate(data, change):
    kind = change[0]
    if kind == "flip":
        out = bytearray(data)
        for position, xor in change[1]:
            out[position % len(out)] ^= xor
        return bytes(out)
    if kind == "truncate":
        return data[:change[1] % len(data)]
    position = change[1] % (len(data) + 1)
    return data[:position] + change[2] + data[position:]


# ------------------------------------------------------------------ hand-made cases
def test_truncated_model_file_at_every_length_class(tmp_path, files):
    data = files["model_bytes"]
    path = tmp_path / "cut.gpudnn"
    for length in sorted(set(range(0, len(data), max(1, len(data) // 60))) | {len(data) - 1}):
        path.write_bytes(data[:length])
        with pytest.raises(FileFormatError, match="cut.gpudnn"):
            models.load_model(path)


def test_bit_flip_in_a_weight_fails_its_checksum(tmp_path, files):
    data = files["model_bytes"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo("weights/000.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    flipped = bytearray(data)
    flipped[start + info.file_size - 3] ^= 0x10    # inside the array payload
    path = tmp_path / "flip.gpudnn"
    path.write_bytes(bytes(flipped))
    with pytest.raises(FileFormatError, match=r"flip.gpudnn: .*(CRC|Bad CRC|SHA-256)"):
        models.load_model(path)


def test_forged_entry_with_fixed_crc_fails_the_manifest(tmp_path, files):
    """Rewrite an entry with a correct zip CRC but different content: the SHA-256 catches it."""
    with zipfile.ZipFile(io.BytesIO(files["model_bytes"])) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    weights = np.load(io.BytesIO(entries["weights/000.npy"]))
    buffer = io.BytesIO()
    np.save(buffer, weights + 1)
    entries["weights/000.npy"] = buffer.getvalue()
    path = tmp_path / "forged.gpudnn"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(FileFormatError, match="forged.gpudnn: entry weights/000.npy fails its SHA-256"):
        models.load_model(path)


def write_foreign(path, kind):
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, I am a text file\n")
    elif kind == "zip-of-other":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("readme.txt", "not a model")
    elif kind == "npz-of-other-shapes":
        with open(path, "wb") as f:   # a file object: np.savez would append ".npz" to a name
            np.savez(f, a=np.zeros((5, 5)), b=np.ones(7))
    elif kind == "pickled-npy":
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("000.npy", buffer.getvalue())
    elif kind == "newer-version":   # a consistent file (manifest updated) from a future gpudnn
        small_model().save(path)
        with zipfile.ZipFile(path) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        entries["format.json"] = b'{"format": "gpudnn.model", "version": 99}'
        manifest = json.loads(entries["manifest.json"])
        manifest["entries"]["format.json"]["sha256"] = \
            hashlib.sha256(entries["format.json"]).hexdigest()
        entries["manifest.json"] = json.dumps(manifest).encode()
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)


@pytest.mark.parametrize("kind, by_load_model, by_load_weights", [
    ("empty", "not a zip archive \\(an empty file\\)", "not a zip archive"),
    ("text", "not a zip archive \\(starts with b'hello, I'", "not a zip archive"),
    ("zip-of-other", "not a gpudnn model file", "not a weights file"),
    ("npz-of-other-shapes", "not a gpudnn model file", "set_weights got 2 arrays"),
    ("pickled-npy", "not a gpudnn model file", "holds Python objects, which gpudnn never unpickles"),
    ("newer-version", "format version 99; this gpudnn reads up to 1",
     "format version 99; this gpudnn reads up to 1"),
])
def test_foreign_files_are_refused_by_load_model_and_load_weights(tmp_path, kind, by_load_model,
                                                                  by_load_weights):
    path = tmp_path / "foreign.bin"
    write_foreign(path, kind)
    with pytest.raises(FileFormatError, match="foreign.bin: " + by_load_model):
        models.load_model(path)
    model = trained_small_model()
    before = state_of(model)
    with pytest.raises(FileFormatError, match="foreign.bin: .*" + by_load_weights):
        model.load_weights(path)
    assert_same_state(state_of(model), before)


def test_weights_of_other_shapes_change_nothing(tmp_path):
    path = tmp_path / "w.npz"
    model = trained_small_model()
    np.savez(path, **{f"{i:03d}": np.zeros_like(w) for i, w in enumerate(model.get_weights())},
             zzz=np.zeros((9, 9)))
    before = state_of(model)
    with pytest.raises(FileFormatError, match="w.npz: set_weights got 5 arrays"):
        model.load_weights(path)
    weights = model.get_weights()
    weights[-1] = np.zeros(7)
    np.savez(path, **{f"{i:03d}": w for i, w in enumerate(weights)})
    with pytest.raises(FileFormatError, match="w.npz: weight dense_\\d+/bias has shape \\(2,\\)"):
        model.load_weights(path)
    assert_same_state(state_of(model), before)


# ------------------------------------------------------------------ fuzz
@FUZZ
@given(change=mutation)
def test_fuzz_load_model(tmp_path, files, change):
    path = tmp_path / "fuzz.gpudnn"
    path.write_bytes(mutate(files["model_bytes"], change))
    try:
        loaded = models.load_model(path)
    except GpudnnError as exc:
        assert "fuzz.gpudnn" in str(exc)
        return
    assert_same_state(state_of(loaded), state_of(files["model"]))


@FUZZ
@given(change=mutation, which=st.sampled_from(["weights_bytes", "model_bytes"]))
def test_fuzz_load_weights(tmp_path, files, change, which):
    path = tmp_path / "fuzz.npz"
    path.write_bytes(mutate(files[which], change))
    model = small_model()
    before = state_of(model)
    try:
        model.load_weights(path)
    except GpudnnError as exc:
        assert "fuzz.npz" in str(exc)
        assert_same_state(state_of(model), before)
        return
    assert all(np.array_equal(a, b) for a, b in
               zip(model.get_weights(), files["model"].get_weights(), strict=True))


IDX_ARRAY = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)


@FUZZ
@given(change=mutation, compress=st.booleans())
def test_fuzz_idx_reader(tmp_path, change, compress):
    raw = idx.to_idx_bytes(IDX_ARRAY)
    data = mutate(gzip.compress(raw, mtime=0) if compress else raw, change)
    path = tmp_path / "fuzz-idx3-ubyte"
    path.write_bytes(data)
    try:
        array = idx.read_idx(path)
    except DatasetError as exc:
        assert "fuzz-idx3-ubyte" in str(exc)
        return
    assert isinstance(array, np.ndarray)   # a mutation can yield another valid IDX file


def small_mnist_npz():
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    np.savez(buffer, x_train=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
             y_train=np.array([1, 2, 3], np.uint8),
             x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
             y_test=np.array([4, 9], np.uint8))
    return buffer.getvalue()


MNIST_NPZ = small_mnist_npz()


@FUZZ
@given(change=mutation)
def test_fuzz_mnist_npz_reader(tmp_path, change):
    path = tmp_path / "mnist.npz"
    path.write_bytes(mutate(MNIST_NPZ, change))
    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_npz(str(path))
    except DatasetError as exc:
        assert "mnist.npz" in str(exc)
        return
    assert x_train.dtype == np.uint8 and x_train.shape[1:] == (28, 28)
