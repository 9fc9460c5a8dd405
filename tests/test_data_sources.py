"""Where fit, evaluate and predict read their data from, on the CPU: memory-mapped files
(streamed, never read whole, bit-identical to the same array in memory; a 4 GB file in under
1 GB of memory), generators and re-iterables, PyDatasets (threads and processes, a failing
__getitem__), a bad batch in the middle of an epoch, host arrays and DLPack producers read
without a copy, and model(x) / predict_on_batch / test_on_batch."""

import functools
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.datasets import sample
from gpudnn.errors import InvalidInputError
from gpudnn.training.data_adapters import arrays, streams
from gpudnn.utils import PyDataset

from conftest import subprocess_env


@functools.lru_cache(maxsize=None)
def _digits():
    (x, y), (xt, yt) = sample.load_data()
    return (x.reshape(len(x), 784).astype(np.float32) / 255, y.astype(np.int64),
            xt.reshape(len(xt), 784).astype(np.float32) / 255, yt.astype(np.int64))


def digits(n, test=False):
    """The first n embedded digits as float32 (n, 784) in [0, 1] and int labels (copies)."""
    x, y, xt, yt = _digits()
    return (xt[:n].copy(), yt[:n].copy()) if test else (x[:n].copy(), y[:n].copy())


def digit_model(seed=7, hidden=32):
    gpudnn.set_seed(seed)
    model = models.Sequential([layers.Dense(hidden, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")], device="cpu")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def assert_same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert len(wa) == len(wb)
    for u, v in zip(wa, wb):
        assert np.array_equal(u, v)


def batches(x, y, size, w=None):
    return [(x[i:i + size], y[i:i + size]) + (() if w is None else (w[i:i + size],))
            for i in range(0, len(x), size)]


def forever(items):
    while True:
        yield from items


class Reiterable:
    """An iterable (not an iterator) whose __iter__ starts over, like a DataLoader."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


# ------------------------------------------------------------------ memory-mapped arrays
@pytest.fixture(params=["np.load(mmap_mode='r')", "np.memmap"])
def mapped(request, tmp_path):
    """A function that writes an array to a file and returns it memory-mapped, read-only."""
    def open_mapped(array, name):
        if request.param == "np.memmap":
            path = tmp_path / f"{name}.f32"
            out = np.memmap(path, dtype=array.dtype, mode="w+", shape=array.shape)
            out[:] = array
            out.flush()
            del out
            return np.memmap(path, dtype=array.dtype, mode="r", shape=array.shape)
        path = tmp_path / f"{name}.npy"
        np.save(path, array)
        return np.load(path, mmap_mode="r")
    return open_mapped


def test_memory_mapped_x_trains_bit_identically_to_the_array_in_memory(mapped, monkeypatch):
    x, y = digits(1000)
    xt, yt = digits(300, test=True)
    xm, xtm = mapped(x, "train"), mapped(xt, "test")
    streamed = []
    raw_batches = streams.MappedArrayAdapter._raw_batches
    monkeypatch.setattr(streams.MappedArrayAdapter, "_raw_batches",
                        lambda self, *a: streamed.append(self) or raw_batches(self, *a))

    in_memory, from_file = digit_model(), digit_model()
    h_memory = in_memory.fit(x, y, epochs=2, batch_size=64, validation_split=0.2, verbose=0)
    assert not streamed
    h_file = from_file.fit(xm, y, epochs=2, batch_size=64, validation_split=0.2, verbose=0)
    assert len(streamed) == 4  # 2 training epochs and 2 validation passes read the file
    assert h_file.history == h_memory.history
    assert_same_weights(from_file, in_memory)

    assert from_file.evaluate(xtm, yt, verbose=0) == in_memory.evaluate(xt, yt, verbose=0)
    assert np.array_equal(from_file.predict(xtm), in_memory.predict(xt))
    assert np.array_equal(from_file.predict(xtm, batch_size=64), from_file.predict(xt, batch_size=64))
    assert len(streamed) == 7


def test_bad_row_in_a_memory_mapped_file_names_its_batch(mapped):
    x, y = digits(256)
    x[100, 3] = np.nan  # row 100: the 4th batch of 32 (no shuffle)
    model = digit_model()
    before = model.get_weights()
    with pytest.raises(InvalidInputError, match=r"batch 4 of epoch 1 is not usable: .*NaN"):
        model.fit(mapped(x, "nan"), y, batch_size=32, shuffle=False, epochs=1, verbose=0)
    reference = digit_model()
    reference.fit(x[:96], y[:96], batch_size=32, shuffle=False, epochs=1, verbose=0)
    assert_same_weights(model, reference)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


WRITE_4GB = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    from gpudnn.datasets import sample

    path, n = sys.argv[1], int(sys.argv[2])
    (x, y), _ = sample.load_data()
    base = x.reshape(len(x), 784).astype(np.float32) / 255
    np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 784))
    rng = np.random.default_rng(0)
    for start in range(0, n, 16384):  # chunk by chunk, each mapping closed: the writer stays small
        stop = min(n, start + 16384)
        out = np.lib.format.open_memmap(path, mode="r+")
        out[start:stop] = (base[np.arange(start, stop) % len(base)]
                           + rng.standard_normal((stop - start, 784), np.float32) / 64)
        out.flush()
        del out
    print(json.dumps({"max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
""")

TRAIN_4GB = textwrap.dedent("""
    import hashlib, json, resource, sys, time
    import numpy as np
    import gpudnn
    from gpudnn import layers, models
    from gpudnn.datasets import sample

    path, hidden, in_memory_too = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    (_, y), (xt, yt) = sample.load_data()
    xt = xt.reshape(len(xt), 784).astype(np.float32) / 255

    def train(x):
        gpudnn.set_seed(0)
        model = models.Sequential([layers.Dense(hidden, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")], device="cpu")
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, labels, epochs=1, batch_size=128, verbose=0)
        digest = hashlib.sha256(b"".join(w.tobytes() for w in model.get_weights())).hexdigest()
        return history.history["loss"][0], model.evaluate(xt, yt, verbose=0)[1], digest

    x_file = np.load(path, mmap_mode="r")
    labels = y[np.arange(len(x_file)) % len(y)].astype(np.int64)
    start = time.perf_counter()
    loss, accuracy, digest = train(x_file)
    report = {"bytes": x_file.nbytes, "fit_s": time.perf_counter() - start, "loss": loss,
              "accuracy": accuracy,
              "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}
    if in_memory_too:  # the same data read whole, the same seed: the same training, bit for bit
        report["in_memory"] = train(np.array(x_file))
        report["streamed"] = [loss, accuracy, digest]
    print(json.dumps(report))
""")


def available_memory():
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
def test_one_epoch_on_a_4gb_memory_mapped_file_stays_under_1gb_of_memory(tmp_path):
    """fit streams a 4.3 GB float32 .npy (1.37 M rows x 784: the embedded digits repeated with a
    little noise, written chunk by chunk by a child of its own) for one epoch, batch 128, Adam,
    labels in memory, in a child process whose peak resident memory (ru_maxrss, where the file
    pages mapped into the process count) stays under 1 GB. Where the machine has the memory,
    the same child then trains on the array read whole: the same weights, bit for bit.

    The hidden layer has 64 units instead of the course model's 512 to keep an epoch near 30 s
    on 2 cores (the data path, the subject here, is the same; 512 takes ~4 minutes)."""
    rows = 1_370_000
    size = rows * 784 * 4
    assert size >= 4 * 2**30
    free = shutil.disk_usage(tmp_path).free
    if free < size + 2 * 2**30:
        pytest.skip(f"needs {(size + 2 * 2**30) / 2**30:.1f} GiB free under {tmp_path}, "
                    f"has {free / 2**30:.1f} GiB")
    in_memory_too = available_memory() > 3 * size  # the array, its page cache, headroom
    path = tmp_path / "digits_4gb.npy"
    try:
        written = subprocess.run([sys.executable, "-c", WRITE_4GB, str(path), str(rows)],
                                 env=subprocess_env(), capture_output=True, text=True,
                                 timeout=600)
        assert written.returncode == 0, written.stderr[-3000:]
        trained = subprocess.run([sys.executable, "-c", TRAIN_4GB, str(path), "64",
                                  "1" if in_memory_too else "0"],
                                 env=subprocess_env(), capture_output=True, text=True,
                                 timeout=900)
    finally:
        path.unlink(missing_ok=True)
    assert trained.returncode == 0, trained.stderr[-3000:]
    writer = json.loads(written.stdout.strip().splitlines()[-1])
    report = json.loads(trained.stdout.strip().splitlines()[-1])
    print(writer, report)
    assert writer["max_rss_kib"] * 1024 < 2**30, writer
    assert report["bytes"] == size
    assert report["max_rss_kib"] * 1024 < 2**30, report
    assert np.isfinite(report["loss"]) and report["accuracy"] > 0.85, report
    if in_memory_too:
        assert report["in_memory"] == report["streamed"], report


# ------------------------------------------------------------------ generators and iterables
@pytest.mark.parametrize("source", ["generator", "unbounded generator", "re-iterable"])
def test_generator_of_the_array_batches_trains_exactly_as_the_array(source):
    x, y = digits(256)
    items = batches(x, y, 32)
    epochs = 1 if source == "generator" else 3
    data, steps = {"generator": ((xb, yb) for xb, yb in items),
                   "unbounded generator": forever(items),
                   "re-iterable": Reiterable(items)}[source], None
    if source == "unbounded generator":
        steps = len(items)
    model, reference = digit_model(), digit_model()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ran out of data": every epoch got its batches
        history = model.fit(data, epochs=epochs, steps_per_epoch=steps, verbose=0)
    ref_history = reference.fit(x, y, batch_size=32, epochs=epochs, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == epochs
    assert history.history == ref_history.history
    assert_same_weights(model, reference)


def test_finite_generator_without_steps_trains_one_epoch_then_warns_and_stops():
    x, y = digits(256)
    model, reference = digit_model(), digit_model()
    with pytest.warns(UserWarning, match=r"ran out of data.*steps_per_epoch \* epochs") as seen:
        history = model.fit((b for b in batches(x, y, 32)), epochs=3, verbose=0)
    ran_out = [w for w in seen if "ran out of data" in str(w.message)]
    assert len(ran_out) == 1
    assert "None" not in str(ran_out[0].message)
    assert ran_out[0].filename == __file__  # it points at the call of fit
    assert list(history.history) == ["loss", "accuracy"]
    assert len(history.history["loss"]) == 1
    reference.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(model, reference)


def test_generator_that_runs_out_before_steps_per_epoch_ends_the_epoch_and_the_training():
    x, y = digits(320)  # 10 batches; 4 per epoch: epochs 1, 2 and half of 3
    model, reference = digit_model(), digit_model()
    with pytest.warns(UserWarning, match=r"ran out of data before 4 steps"):
        history = model.fit(iter(batches(x, y, 32)), epochs=5, steps_per_epoch=4, verbose=0)
    assert len(history.history["loss"]) == 3
    reference.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(model, reference)


def test_generator_batches_with_sample_weights_train_as_the_weighted_array():
    x, y = digits(256)
    w = np.random.default_rng(0).uniform(0.0, 2.0, len(x))
    w[::3] = 0.0
    model, reference = digit_model(), digit_model()
    history = model.fit((b for b in batches(x, y, 32, w)), epochs=1, verbose=0)
    ref_history = reference.fit(x, y, sample_weight=w, batch_size=32, shuffle=False, verbose=0)
    assert history.history == ref_history.history
    assert_same_weights(model, reference)


def test_predict_and_evaluate_on_generators():
    x, y = digits(230)
    model = digit_model()
    model.fit(x, y, epochs=1, verbose=0)
    from_generator = model.predict((x[i:i + 50] for i in range(0, len(x), 50)))
    assert np.array_equal(from_generator, model.predict(x, batch_size=50))
    assert model.evaluate((b for b in batches(x, y, 50)), verbose=0) \
        == model.evaluate(x, y, batch_size=50, verbose=0)
    assert model.evaluate(forever(batches(x, y, 50)), steps=2, verbose=0) \
        == model.evaluate(x[:100], y[:100], batch_size=50, verbose=0)


def test_validation_data_from_an_unbounded_generator_with_validation_steps():
    x, y = digits(256)
    xv, yv = digits(100, test=True)
    model, reference = digit_model(), digit_model()
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0, validation_steps=2,
                        validation_data=forever(batches(xv, yv, 50)))
    ref_history = reference.fit(x, y, batch_size=32, epochs=2, verbose=0,
                                validation_data=(xv, yv), validation_batch_size=50)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history == ref_history.history
    assert_same_weights(model, reference)


@pytest.mark.parametrize("kind,message", [("shape", r"783 features per sample"),
                                          ("NaN", r"x contains NaN"),
                                          ("label", r"class index 10 .* 0\.\.9")])
def test_bad_generator_batch_mid_epoch_names_it_and_changes_no_weight(kind, message):
    x, y = digits(320)
    good = batches(x, y, 32)

    def source():  # epoch 1: batches 0..3; epoch 2: 4, 5, then a bad one
        for i, (xb, yb) in enumerate(good):
            if i == 6:
                xb, yb = xb.copy(), yb.copy()
                if kind == "shape":
                    xb = xb[:, :783]
                elif kind == "NaN":
                    xb[5, 100] = np.nan
                else:
                    yb[3] = 10
            yield xb, yb

    model, reference = digit_model(), digit_model()
    with pytest.raises(InvalidInputError,
                       match=rf"generator batch 3 of epoch 2 is not usable: .*{message}"):
        model.fit(source(), steps_per_epoch=4, epochs=3, verbose=0)
    reference.fit(x[:192], y[:192], batch_size=32, shuffle=False, epochs=1, verbose=0)
    assert_same_weights(model, reference)
    # the optimizer's state too: one more step on both keeps them identical
    model.train_on_batch(x[192:224], y[192:224])
    reference.train_on_batch(x[192:224], y[192:224])
    assert_same_weights(model, reference)


# ------------------------------------------------------------------ PyDataset
class BatchBroken(RuntimeError):
    pass


class DigitBatches(PyDataset):
    """Batches of `size` rows of (x, y) by index; `fail_at`: the index whose read raises."""

    def __init__(self, x, y, size, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size, self.fail_at = x, y, size, fail_at
        self.epochs_ended = 0
        self.threads = set()
        self.parent = os.getpid()
        self.child_reads = multiprocessing.get_context("fork").Value("i", 0)

    def __len__(self):
        return (len(self.x) + self.size - 1) // self.size

    def __getitem__(self, index):
        if index == self.fail_at:
            raise BatchBroken(f"cannot read batch {index}")
        self.threads.add(threading.current_thread().name)
        if os.getpid() != self.parent:
            with self.child_reads.get_lock():
                self.child_reads.value += 1
        rows = slice(index * self.size, (index + 1) * self.size)
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def gpudnn_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("gpudnn")]


@pytest.mark.parametrize("workers,processes", [(1, False), (2, False), (2, True)])
def test_pydataset_in_order_trains_exactly_as_the_array(workers, processes):
    x, y = digits(300)
    data = DigitBatches(x, y, 32, workers=workers, use_multiprocessing=processes)
    assert len(data) == 10 and data.num_batches == 10
    model, reference = digit_model(), digit_model()
    history = model.fit(data, epochs=2, shuffle=False, verbose=0)
    ref_history = reference.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    assert history.history == ref_history.history
    assert_same_weights(model, reference)
    assert data.epochs_ended == 2
    if processes:
        assert data.child_reads.value >= 10  # read by the worker processes
    elif workers == 2:
        assert any(name.startswith("gpudnn-pydataset") for name in data.threads)
    assert not gpudnn_threads() and not multiprocessing.active_children()


def test_pydataset_shuffled_reads_every_batch_once_per_epoch():
    x, y = digits(320)
    read = []

    class Recorded(DigitBatches):
        def __getitem__(self, index):
            read.append(index)
            return super().__getitem__(index)

    model = digit_model()
    model.fit(Recorded(x, y, 32), epochs=3, verbose=0)
    epochs = [read[1 + 10 * e:11 + 10 * e] for e in range(3)]  # read[0]: built the model
    assert len(read) == 31 and all(sorted(e) == list(range(10)) for e in epochs)
    assert any(e != list(range(10)) for e in epochs)


def run_with_timeout(function, seconds):
    """``function()``'s result or the exception it raised; fails the test if it hangs."""
    outcome = []

    def target():
        try:
            outcome.append(function())
        except BaseException as exc:  # noqa: BLE001 (handed back to the test)
            outcome.append(exc)

    thread = threading.Thread(target=target, name="test-fit", daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: it hangs"
    return outcome[0]


@pytest.mark.parametrize("workers,processes", [(1, False), (2, False), (2, True)])
def test_pydataset_error_mid_epoch_is_reraised_and_leaves_nothing_running(workers, processes):
    x, y = digits(640)  # 20 batches; batch 13 raises
    data = DigitBatches(x, y, 32, fail_at=13, workers=workers, use_multiprocessing=processes,
                        max_queue_size=4)
    model, reference = digit_model(), digit_model()
    assert not gpudnn_threads() and not multiprocessing.active_children()
    outcome = run_with_timeout(lambda: model.fit(data, epochs=2, shuffle=False, verbose=0), 60)
    assert isinstance(outcome, BatchBroken) and "cannot read batch 13" in str(outcome)
    assert not gpudnn_threads()
    assert not multiprocessing.active_children()
    reference.fit(x[:13 * 32], y[:13 * 32], batch_size=32, shuffle=False, epochs=1, verbose=0)
    assert_same_weights(model, reference)


# ------------------------------------------------------------------ zero copy, model(x)
class DLPackOnly:
    """A tensor of another library as gpudnn sees it: only __dlpack__ / __dlpack_device__."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


@pytest.fixture
def step_inputs(monkeypatch):
    """The arrays the training step gathers its batches from, and the inputs of forward passes."""
    seen = {"gathered": [], "forward": []}
    gather = arrays.BatchFeed.gather
    monkeypatch.setattr(arrays.BatchFeed, "gather",
                        lambda self, *a: seen["gathered"].append(self.x) or gather(self, *a))
    forward = models.Sequential._forward
    monkeypatch.setattr(models.Sequential, "_forward", lambda self, x, *a, **k:
                        seen["forward"].append(x) or forward(self, x, *a, **k))
    return seen


@pytest.mark.parametrize("wrap", ["numpy", "dlpack"])
def test_host_x_is_read_in_place_without_a_copy(wrap, step_inputs):
    x, y = digits(256)
    given = x if wrap == "numpy" else DLPackOnly(x)
    model, reference = digit_model(), digit_model()
    model.fit(given, y, batch_size=64, epochs=1, validation_split=0.25, verbose=0)
    assert step_inputs["gathered"]
    assert all(np.shares_memory(a, x) for a in step_inputs["gathered"])
    # the validation rows (the last quarter) are read in place too
    assert any(np.shares_memory(a, x[192:]) for a in step_inputs["forward"])
    step_inputs["forward"].clear()
    predictions = model.predict(given, batch_size=64)
    assert len(step_inputs["forward"]) == 4
    assert all(np.shares_memory(a, x) for a in step_inputs["forward"])
    reference.fit(x, y, batch_size=64, epochs=1, validation_split=0.25, verbose=0)
    assert_same_weights(model, reference)
    assert np.array_equal(predictions, reference.predict(x, batch_size=64))
    assert np.array_equal(model(given), model(x))


def test_float64_x_is_converted_once_so_the_check_can_tell(step_inputs):
    x, y = digits(128)
    x64 = x.astype(np.float64)
    digit_model().fit(x64, y, batch_size=64, epochs=1, verbose=0)
    assert step_inputs["gathered"]
    assert not any(np.shares_memory(a, x64) for a in step_inputs["gathered"])


def test_model_call_predict_on_batch_and_test_on_batch_on_host_arrays():
    x, y = digits(100)
    model = digit_model()
    model.fit(x, y, epochs=1, verbose=0)
    out = model(x)
    assert type(out) is np.ndarray and out.shape == (100, 10) and out.dtype == np.float32
    assert np.array_equal(out, model.predict(x, batch_size=100))
    model(np.zeros_like(x))
    assert np.array_equal(out, model.predict(x, batch_size=100))  # not a view of a buffer
    assert np.array_equal(model.predict_on_batch(x), out)
    before = model.get_weights()
    loss, accuracy = model.test_on_batch(x, y)
    assert [loss, accuracy] == model.evaluate(x, y, batch_size=100, verbose=0)
    assert accuracy == pytest.approx(np.mean(out.argmax(axis=1) == y))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    loss_step, _ = model.train_on_batch(x, y)
    assert loss_step == pytest.approx(loss, rel=1e-6)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
