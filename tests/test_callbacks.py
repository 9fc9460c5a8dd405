"""Callbacks against Keras 3's rules (hand-computed sequences) and in real fits; batch logs and
host reads; the non-finite loss warning; Ctrl-C; BackupAndRestore after an exception."""

import csv
import random
import os
import signal
import warnings

import numpy as np
import pytest

import gpudnn
from gpudnn import callbacks, layers, models, optimizers
from gpudnn.errors import InvalidInputError
from gpudnn.utils import to_categorical

from conftest import blobs


class FakeOptimizer:
    def __init__(self, lr):
        self.learning_rate = lr


class FakeModel:
    """What the monitoring callbacks touch: stop_training, weights, optimizer.learning_rate."""

    def __init__(self, lr=1.0):
        self.stop_training = False
        self.weights = [np.zeros(1)]
        self.optimizer = FakeOptimizer(lr)

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def drive(callback, values, monitor="val_loss", model=None):
    """Run ``values`` through the callback as epoch logs; returns the epoch it stopped at (or
    None) and the model. Weights record the epoch they were set in."""
    model = model or FakeModel()
    callback.set_model(model)
    callback.on_train_begin({})
    stopped = None
    for epoch, value in enumerate(values):
        model.weights = [np.array([float(epoch)])]
        callback.on_epoch_end(epoch, {monitor: value})
        if model.stop_training:
            stopped = epoch
            break
    callback.on_train_end({})
    return stopped, model


def data(n=300):
    x, labels = blobs(n=n)
    return x, to_categorical(labels, 3)


def small_model(optimizer=None):
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizer or optimizers.SGD(learning_rate=0.05),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


# ------------------------------------------------------------------ EarlyStopping
def test_early_stopping_patience_and_min_delta():
    # Keras: wait += 1 each monitored epoch, reset on improvement; stop when wait >= patience
    assert drive(callbacks.EarlyStopping(patience=2), [1.0, 0.9, 0.95, 0.96, 0.5])[0] == 3
    assert drive(callbacks.EarlyStopping(patience=0), [1.0, 0.9, 0.95])[0] == 2
    assert drive(callbacks.EarlyStopping(patience=0), [1.0, 1.1])[0] == 1   # never at epoch 0
    # min_delta 0.15: 0.9 is not 0.15 below 1.0, so it does not count as an improvement
    assert drive(callbacks.EarlyStopping(patience=1, min_delta=0.15), [1.0, 0.9])[0] == 1
    assert drive(callbacks.EarlyStopping(patience=1, min_delta=0.05), [1.0, 0.9, 0.8])[0] is None
    # max mode (auto for accuracy): improvement means going up
    assert drive(callbacks.EarlyStopping(monitor="val_accuracy", patience=1),
                 [0.5, 0.6, 0.55], monitor="val_accuracy")[0] == 2


def test_early_stopping_baseline_start_from_epoch_and_restore_best_weights(capsys):
    # baseline 0.5: improving on the best but not on the baseline does not reset wait
    assert drive(callbacks.EarlyStopping(patience=2, baseline=0.5), [1.0, 0.9, 0.95])[0] == 2
    assert drive(callbacks.EarlyStopping(patience=2), [1.0, 0.9, 0.95])[0] is None
    assert drive(callbacks.EarlyStopping(patience=2, baseline=0.5), [1.0, 0.4, 0.45, 0.3])[0] \
        is None
    # start_from_epoch: epochs before it are not monitored at all
    assert drive(callbacks.EarlyStopping(patience=0, start_from_epoch=3),
                 [1.0, 2.0, 3.0, 4.0, 5.0])[0] == 4
    stop = callbacks.EarlyStopping(patience=2, restore_best_weights=True, verbose=1)
    stopped, model = drive(stop, [1.0, 0.5, 0.7, 0.8, 0.9])
    assert stopped == 3 and stop.best_epoch == 1 and model.weights[0][0] == 1.0
    out = capsys.readouterr().out
    assert "Epoch 4: early stopping" in out and "best epoch: 2." in out


def test_early_stopping_in_fit_and_bad_arguments():
    x, y = data()
    model = small_model()
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[
        callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=3)])
    assert len(history.history["loss"]) == 4   # Keras's own docstring example: 4 epochs
    with pytest.warns(UserWarning, match="`val_loss` which is not available"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping()])
    with pytest.raises(InvalidInputError, match="cannot tell whether 'f1'"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.EarlyStopping(monitor="f1")])
    with pytest.raises(InvalidInputError, match="mode must be"):
        callbacks.EarlyStopping(mode="up")
    with pytest.raises(InvalidInputError, match="patience must be an integer"):
        callbacks.EarlyStopping(patience=-1)


# ------------------------------------------------------------------ ReduceLROnPlateau
def test_reduce_lr_on_plateau_sequence():
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.2,
                                     min_delta=0.0)
    model = FakeModel(lr=1.0)
    cb.set_model(model)
    cb.on_train_begin({})
    lrs = []
    for epoch, value in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6]):
        logs = {"val_loss": value}
        cb.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == (lrs[-1] if lrs else 1.0)   # the lr at the epoch's end
        lrs.append(model.optimizer.learning_rate)
    # epoch 1: wait 1 >= 1 -> 0.5, cooldown 2; epoch 2: cooldown 1, wait 0; epoch 3: cooldown 0,
    # wait 1 -> 0.25; epoch 4: cooldown; epoch 5 improves; epoch 6: -> max(0.125, 0.2) = 0.2;
    # epoch 8: lr is min_lr (compared in float32): no change
    assert lrs == [1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2, 0.2]
    with pytest.raises(InvalidInputError, match="factor >= 1.0"):
        callbacks.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_in_fit_changes_the_optimizer():
    x, y = data()
    model = small_model()
    history = model.fit(x, y, epochs=3, verbose=0, callbacks=[
        callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100.0)])
    # epoch 0 improves on inf; epochs 1 and 2 do not (min_delta 100): halved after each
    assert history.history["learning_rate"] == [0.05, 0.05, 0.025]
    assert model.optimizer.learning_rate == 0.0125


# ------------------------------------------------------------------ LearningRateScheduler
def test_learning_rate_scheduler_sets_the_rate_each_epoch(capsys):
    x, y = data()
    model = small_model()
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return lr * 0.5 if epoch >= 1 else lr

    history = model.fit(x, y, epochs=4, initial_epoch=0, verbose=0, callbacks=[
        callbacks.LearningRateScheduler(schedule, verbose=1)])
    assert seen == [(0, 0.05), (1, 0.05), (2, 0.025), (3, 0.0125)]
    assert history.history["learning_rate"] == [0.05, 0.025, 0.0125, 0.00625]
    assert "Epoch 4: LearningRateScheduler setting learning rate to 0.00625." in capsys.readouterr().out
    # the rate is what the step uses: a schedule of 0 leaves the weights where they are
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.LearningRateScheduler(lambda epoch: 0.0)])
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(InvalidInputError, match="returned 'fast' for epoch 0"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "fast")])


# ------------------------------------------------------------------ CSVLogger
def test_csv_logger_rows_match_history_and_append(tmp_path):
    x, y = data()
    model = small_model()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.2,
                        callbacks=[callbacks.CSVLogger(path, separator=";")])
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[0] for row in rows[1:]] == ["0", "1"]
    assert [float(row[2]) for row in rows[1:]] == history.history["loss"]
    model.fit(x, y, epochs=3, initial_epoch=2, verbose=0, validation_split=0.2,
              callbacks=[callbacks.CSVLogger(path, separator=";", append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert len(rows) == 4 and rows[3][0] == "2" and rows.count(rows[0]) == 1
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    assert len(path.read_text().splitlines()) == 2   # append=False starts over


def test_csv_logger_keeps_columns_for_a_validation_that_comes_later(tmp_path):
    """Keras's rule: first logs without ``val_`` keys get their ``val_`` columns anyway, "NA"
    until validation runs (validation_freq)."""
    x, y = data()
    path = tmp_path / "log.csv"
    small_model().fit(x, y, epochs=4, verbose=0, validation_split=0.2, validation_freq=2,
                      callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row["val_loss"] == "NA" for row in rows] == [True, False, True, False]


# ------------------------------------------------------------------ ModelCheckpoint
def test_model_checkpoint_fills_the_name_and_saves_loadable_models(tmp_path):
    x, y = data()
    model = small_model()
    pattern = str(tmp_path / "ckpt" / "m-{epoch:02d}-{val_loss:.4f}.gpudnn")
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.2,
                        callbacks=[callbacks.ModelCheckpoint(pattern)])
    names = sorted(os.listdir(tmp_path / "ckpt"))
    assert names == [f"m-{e + 1:02d}-{v:.4f}.gpudnn"
                     for e, v in enumerate(history.history["val_loss"])]
    last = models.load_model(tmp_path / "ckpt" / names[-1])
    assert all(np.array_equal(a, b) for a, b in zip(last.get_weights(), model.get_weights()))
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        callbacks.ModelCheckpoint(tmp_path / "w.npz", save_weights_only=True)])
    clone = small_model()
    clone.load_weights(tmp_path / "w.npz")
    for a, b in zip(clone.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidInputError, match="cannot fill ModelCheckpoint filepath.*val_acc"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.ModelCheckpoint(str(tmp_path / "{val_acc}.gpudnn"))])
    with pytest.raises(InvalidInputError, match="save_freq=10 is not supported"):
        callbacks.ModelCheckpoint("x", save_freq=10)


def test_model_checkpoint_save_best_only(capsys):
    saved = []
    model = FakeModel()
    model.save = lambda path: saved.append(path)
    cb = callbacks.ModelCheckpoint("best-{epoch}", monitor="val_accuracy", save_best_only=True,
                                   verbose=1)
    for epoch, value in enumerate([0.5, 0.7, 0.6, 0.7, 0.8]):
        cb.set_model(model)
        cb.on_epoch_end(epoch, {"val_accuracy": value})
    assert saved == ["best-1", "best-2", "best-5"]
    assert "val_accuracy did not improve from 0.70000" in capsys.readouterr().out
    floor = callbacks.ModelCheckpoint("f", monitor="val_loss", save_best_only=True,
                                      initial_value_threshold=0.3)
    floor.set_model(model)
    for epoch, value in enumerate([0.4, 0.2]):
        floor.on_epoch_end(epoch, {"val_loss": value})
    assert saved[-1] == "f" and len(saved) == 4


# ------------------------------------------------------------------ batch logs and host reads
class BatchLogs(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


class Quiet(callbacks.Callback):
    wants_batch_logs = False

    def __init__(self):
        super().__init__()
        self.logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append(dict(logs))


def counting_reads(model, monkeypatch):
    reads = []
    original = model._logs
    monkeypatch.setattr(model, "_logs", lambda *a, **k: reads.append(1) or original(*a, **k))
    return reads


def test_batch_logs_only_when_a_callback_wants_them(monkeypatch):
    x, y = data(n=320)
    model = small_model()
    reads = counting_reads(model, monkeypatch)
    quiet = Quiet()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[
        quiet, callbacks.TerminateOnNaN(), callbacks.EarlyStopping(monitor="loss", patience=5),
        callbacks.CSVLogger(os.devnull), gpudnn.GradientNormRecorder()])
    assert len(reads) == 2                       # one read per epoch: its last batch
    assert quiet.logs[0] == {} and set(quiet.logs[9]) == {"loss", "accuracy"}
    reads.clear()
    wanting = BatchLogs()
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[wanting])
    assert len(reads) == 10 and len(wanting.logs) == 10
    assert set(wanting.logs[0]) == {"loss", "accuracy"}
    assert wanting.logs[-1]["loss"] == history.history["loss"][0]   # the running mean


def test_keras_older_hook_names_and_batch_begin_are_called():
    calls = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, "loss" in logs))

        def on_test_begin(self, logs=None):
            calls.append(("test",))

        def on_test_end(self, logs=None):
            calls.append(("test_end", sorted(logs)))

    x, y = data(n=64)
    model = small_model()
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, validation_split=0.5, callbacks=[Old()])
    assert calls == [("begin", 0), ("end", 0, True), ("test",),
                     ("test_end", ["accuracy", "loss"])]


# ------------------------------------------------------------------ non-finite loss
def diverging_model():
    model = models.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(optimizer=optimizers.SGD(learning_rate=1e4), loss="mse")
    return model


def diverging_data():
    rng = np.random.default_rng(0)
    return (rng.normal(0, 30, (200, 4)).astype(np.float32),
            rng.normal(0, 1, (200, 1)).astype(np.float32))


def test_non_finite_loss_warns_once_naming_epoch_and_batch():
    x, y = diverging_data()
    exact = BatchLogs()
    gpudnn.set_seed(3)
    model = diverging_model()
    with pytest.warns(RuntimeWarning) as record:
        model.fit(x, y, epochs=3, batch_size=20, verbose=0, callbacks=[exact])
    first = next(i for i, logs in enumerate(exact.logs) if not np.isfinite(logs["loss"]))
    epoch, batch = divmod(first, 10)
    messages = [str(w.message) for w in record if "training loss became" in str(w.message)]
    assert len(messages) == 1   # one warning, whatever happens after
    assert f"in epoch {epoch + 1}: the first non-finite batch loss is in batch {batch + 1} of 10" \
        in messages[0]
    gpudnn.set_seed(3)
    model = diverging_model()   # without batch logs: only the epoch's last batch is read
    with pytest.warns(RuntimeWarning, match=f"in epoch {epoch + 1}: the first non-finite batch "
                                            f"loss is in one of batches 1..10 of 10"):
        model.fit(x, y, epochs=3, batch_size=20, verbose=0)


def test_terminate_on_nan_stops_in_that_epoch(capsys):
    x, y = diverging_data()
    gpudnn.set_seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # no warning with TerminateOnNaN
        warnings.filterwarnings("ignore", "overflow|invalid value", RuntimeWarning)
        history = diverging_model().fit(x, y, epochs=5, batch_size=20, verbose=0,
                                        callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1 and not np.isfinite(history.history["loss"][0])
    assert "Batch 9: Invalid loss, terminating training" in capsys.readouterr().out


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_stops_after_the_current_step():
    x, y = data(n=320)
    model = small_model(optimizers.Adam())

    class PressCtrlC(callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if self.params and batch == 3:
                os.kill(os.getpid(), signal.SIGINT)   # arrives before this step runs
                self.after = True

    press = PressCtrlC()
    with pytest.raises(KeyboardInterrupt, match="after batch 4 of epoch 1"):
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[press])
    assert press.after and model.optimizer.iterations == 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    loss, acc = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss)


# ------------------------------------------------------------------ BackupAndRestore
class FailAt(callbacks.Callback):
    wants_batch_logs = False

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("make_optimizer", [optimizers.Adam,
                                            lambda: optimizers.RMSprop(momentum=0.9)])
def test_backup_and_restore_resumes_bit_for_bit_after_an_exception(tmp_path, make_optimizer):
    x, y = data()
    fit = dict(epochs=5, batch_size=32, verbose=0, validation_split=0.1)
    gpudnn.set_seed(7)
    reference = small_model(make_optimizer())
    reference.fit(x, y, **fit)
    gpudnn.set_seed(7)
    model = small_model(make_optimizer())
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    reduce = callbacks.ReduceLROnPlateau(monitor="loss", patience=100)
    with pytest.raises(RuntimeError, match="simulated crash"):
        model.fit(x, y, callbacks=[backup, reduce, FailAt(3, 4)], **fit)
    assert os.listdir(tmp_path / "backup") == ["latest.gpudnn"]
    gpudnn.set_seed(12345)
    rerun = small_model(make_optimizer())   # a fresh process would start like this
    history = rerun.fit(x, y, callbacks=[backup], **fit)
    assert history.epoch == [3, 4]
    assert all(np.array_equal(a, b) for a, b in zip(reference.get_weights(), rerun.get_weights()))
    assert not (tmp_path / "backup").exists()   # deleted after a finished fit


def test_backup_and_restore_arguments(tmp_path):
    with pytest.raises(InvalidInputError, match="needs a backup_dir"):
        callbacks.BackupAndRestore("")
    with pytest.raises(InvalidInputError, match="save_freq=5 is not supported"):
        callbacks.BackupAndRestore(tmp_path, save_freq=5)
    x, y = data()
    model = small_model()
    model.fit(x, y, epochs=1, verbose=0, callbacks=[
        callbacks.BackupAndRestore(tmp_path / "kept", delete_checkpoint=False)])
    assert os.listdir(tmp_path / "kept") == ["latest.gpudnn"]
    other = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(6,))])
    other.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.raises(gpudnn.FileFormatError, match="latest.gpudnn: holds 4 weight arrays"):
        other.fit(x, y, epochs=1, verbose=0,
                  callbacks=[callbacks.BackupAndRestore(tmp_path / "kept")])


# ------------------------------------------------------------------ LambdaCallback
def test_lambda_callback_calls_the_functions_it_was_given():
    x, y = data()
    seen = []
    hook = callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append(("epoch", epoch, round(logs["loss"], 6))),
        on_train_begin=lambda logs: seen.append(("begin",)),
        on_batch_end=lambda batch, logs: seen.append(("batch", batch, "loss" in logs)))
    assert hook.needs_batch_logs()
    history = small_model().fit(x, y, epochs=2, batch_size=len(x) // 2, verbose=0,
                                callbacks=[hook])
    assert seen[0] == ("begin",)
    assert [e for e in seen if e[0] == "epoch"] == [
        ("epoch", i, round(loss, 6)) for i, loss in enumerate(history.history["loss"])]
    assert [e for e in seen if e[0] == "batch"] == [("batch", b, True) for b in (0, 1)] * 2
    assert not callbacks.LambdaCallback(on_epoch_end=print).needs_batch_logs()
    with pytest.raises(InvalidInputError, match="epoch_finish"):
        callbacks.LambdaCallback(epoch_finish=print)
    assert callbacks.LambdaCallback(on_test_batch_end=print).on_test_batch_end is print
    with pytest.raises(InvalidInputError, match="function"):
        callbacks.LambdaCallback(on_epoch_end="print")


def test_set_random_seed_makes_a_program_repeat_as_keras_s():
    x, y = data()
    runs = []
    for _ in range(2):
        gpudnn.utils.set_random_seed(7)
        noise = (random.random(), np.random.rand())
        model = small_model()
        model.fit(x, y, epochs=1, verbose=0)
        runs.append((noise, model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    for bad in (1.5, -1, 2**32, True):
        with pytest.raises(InvalidInputError):
            gpudnn.utils.set_random_seed(bad)


class Recorder(callbacks.Callback):
    """Every test and predict hook, with what it was given."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_test_begin(self, logs=None):
        self.seen.append(("test_begin",))

    def on_test_batch_begin(self, batch, logs=None):
        self.seen.append(("test_batch_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.seen.append(("test_batch_end", batch, sorted(logs)))

    def on_test_end(self, logs=None):
        self.seen.append(("test_end", sorted(logs)))

    def on_predict_begin(self, logs=None):
        self.seen.append(("predict_begin",))

    def on_predict_batch_end(self, batch, logs=None):
        self.seen.append(("predict_batch_end", batch, logs["outputs"].shape))

    def on_predict_end(self, logs=None):
        self.seen.append(("predict_end",))


def test_evaluate_predict_and_validation_call_keras_test_and_predict_hooks():
    x, y = data(n=100)
    model = small_model()
    hook = Recorder()
    loss, accuracy = model.evaluate(x, y, batch_size=40, verbose=0, callbacks=[hook])
    names = ["accuracy", "loss"]
    assert hook.seen == [("test_begin",), ("test_batch_begin", 0), ("test_batch_end", 0, names),
                         ("test_batch_begin", 1), ("test_batch_end", 1, names),
                         ("test_batch_begin", 2), ("test_batch_end", 2, names),
                         ("test_end", names)]
    assert hook.params == {"epochs": 1, "steps": 3, "verbose": 0}
    hook.seen.clear()
    p = model.predict(x, batch_size=64, callbacks=[hook])
    assert hook.seen == [("predict_begin",), ("predict_batch_end", 0, (64, 3)),
                         ("predict_batch_end", 1, (36, 3)), ("predict_end",)]
    assert p.shape == (100, 3)
    hook.seen.clear()
    model.fit(x, y, epochs=1, batch_size=50, verbose=0, validation_split=0.4, callbacks=[hook])
    assert hook.seen[0] == ("test_begin",) and hook.seen[-1] == ("test_end", names)
    assert ("test_batch_end", 0, names) in hook.seen
    with pytest.raises(InvalidInputError, match="Callback"):
        model.evaluate(x, y, verbose=0, callbacks=["not a callback"])
