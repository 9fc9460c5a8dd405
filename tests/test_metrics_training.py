"""Compiled metrics: accumulated on the device inside the step, equal to the standalone objects.

fit / evaluate on the NumPy and the compiled CPU backends report, for every metric, what the
standalone gpudnn.metrics object gives on the same predictions (and sample weights); a recorded
(replayed) step reports what the eager one does, bit for bit; the CuPy backend's step (routed to
the g++ harness) launches the metric kernels and logs NumPy's values; the model file keeps the
metrics; a binary classifier on imbalanced data logs scikit-learn's precision and recall and its
ROC AUC within the thresholds' error.
"""

import json
import zipfile

import numpy as np
import pytest

import gpudnn
from gpudnn import callbacks, layers, metrics, models
from gpudnn.backend import NumpyBackend
from gpudnn.errors import InvalidInputError, UnknownNameError

from conftest import blobs
import test_loss_step_calls
from test_metrics import auc_bucket_bound

#: A fixture: the CuPy backend's class whose kernel launches run in the g++ harness (listed in
#: its ``launches``) and whose few CuPy routines are NumPy's.
harness_backend_class = test_loss_step_calls.harness_backend_class


def backend_named(name):
    if name == "numpy":
        return NumpyBackend()
    return gpudnn.backend.backend_for("cpu")  # the compiled CPU kernels


def model_on(backend, outputs, activation, loss, compiled_metrics, weighted=None, features=6):
    gpudnn.set_seed(1)
    model = models.Sequential(device="cpu")
    model.backend = backend
    model._dropout_step = backend.zeros((1,), np.int64)
    model.add(layers.Dense(12, activation="relu", input_shape=(features,)))
    model.add(layers.Dense(outputs, activation=activation))
    model.compile(optimizer="adam", loss=loss, metrics=compiled_metrics,
                  weighted_metrics=weighted)
    return model


def imbalanced(n=600, seed=0, positives=0.12):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positives).astype(np.float32)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    x[:, 0] += 1.5 * y
    x[:, 1] -= 0.8 * y
    return x, y


def binary_metrics():
    return ["accuracy", "precision", "recall", "auc", metrics.AUC(curve="PR", name="pr_auc"),
            "mse", "mae", metrics.BinaryAccuracy(threshold=0.3, name="acc_03"),
            metrics.Precision(thresholds=0.3, name="p03"), metrics.AUC(num_thresholds=17,
                                                                          name="auc17"),
            metrics.AUC(thresholds=[0.1, 0.35, 0.8], name="auc_uneven")]


STANDALONE = {"precision": metrics.Precision, "recall": metrics.Recall, "auc": metrics.AUC,
              "mse": metrics.MeanSquaredError, "mae": metrics.MeanAbsoluteError,
              "accuracy": metrics.BinaryAccuracy}


def standalone(model, name, y, p, w=None):
    """The standalone object of a logged metric, its value on (y, p, w)."""
    metric = model._metric_object(name)
    metric = STANDALONE[name]() if metric is None else \
        metrics.deserialize(metrics.serialize(metric))  # a fresh copy
    return metric(y, p, sample_weight=w)


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_evaluate_and_validation_equal_the_standalone_metrics(backend):
    x, y = imbalanced()
    w = np.random.default_rng(1).random(len(y)) * 2
    model = model_on(backend_named(backend), 1, "sigmoid", "binary_crossentropy",
                     binary_metrics(), weighted=["auc", "precision", "mse"])
    history = model.fit(x[:450], y[:450], epochs=2, batch_size=64, verbose=0,
                        validation_data=(x[450:], y[450:]))
    names = model.metric_names
    assert names[:4] == ["accuracy", "precision", "recall", "auc"]
    assert names[-3:] == ["weighted_auc", "weighted_precision", "weighted_mse"]
    assert set(history.history) == {"loss", "val_loss", *names, *("val_" + n for n in names)}
    p_val = model.predict(x[450:], batch_size=64, verbose=0)
    for name in names:  # validation: the final weights' predictions
        plain = name.removeprefix("weighted_")
        assert history.history["val_" + name][-1] == pytest.approx(
            standalone(model, plain, y[450:], p_val), rel=1e-12, abs=1e-15), name
    p = model.predict(x, batch_size=100, verbose=0)
    values = model.evaluate(x, y, batch_size=100, verbose=0, sample_weight=w)
    logged = dict(zip(["loss"] + names, values))
    for name in names:
        weighted = name.startswith("weighted_")
        expected = standalone(model, name.removeprefix("weighted_"), y, p, w if weighted else None)
        assert logged[name] == pytest.approx(expected, rel=1e-12, abs=1e-15), name


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_multiclass_metrics_equal_the_standalone_metrics(backend):
    x, labels = blobs(n=240, classes=5)
    y = np.eye(5, dtype=np.float32)[labels]
    compiled = ["top_k_categorical_accuracy", metrics.SparseTopKCategoricalAccuracy(k=2),
                "sparse_categorical_accuracy", metrics.CategoricalAccuracy(name="cat"),
                metrics.Precision(class_id=1, name="p1"), metrics.Recall(top_k=2, name="r2"),
                metrics.AUC(multi_label=True, name="ml_auc"), metrics.Accuracy(name="exact")]
    model = model_on(backend_named(backend), 5, "softmax", "sparse_categorical_crossentropy",
                     compiled)
    assert not model._loss_in_one_call()
    model.fit(x, labels, epochs=1, batch_size=50, verbose=0)
    p = model.predict(x, batch_size=80, verbose=0)
    logged = dict(zip(["loss"] + model.metric_names,
                      model.evaluate(x, labels, batch_size=80, verbose=0)))
    by_name = {"top_k_categorical_accuracy": metrics.TopKCategoricalAccuracy(),
               "sparse_categorical_accuracy": metrics.SparseCategoricalAccuracy()}
    for name, value in list(logged.items())[1:]:
        metric = by_name.get(name) or metrics.deserialize(
            metrics.serialize(model._metric_object(name)))
        targets = labels if metric.sparse else y
        assert value == pytest.approx(metric(targets, p), rel=1e-12, abs=1e-15), name


def test_a_categorical_accuracy_object_keeps_the_one_call_step():
    x, labels = blobs(n=120)
    fast = model_on(NumpyBackend(), 3, "softmax", "sparse_categorical_crossentropy",
                    [metrics.CategoricalAccuracy()])
    assert fast._loss_in_one_call()
    assert not model_on(NumpyBackend(), 3, "softmax", "sparse_categorical_crossentropy",
                        ["accuracy", "auc"])._loss_in_one_call()
    named = model_on(NumpyBackend(), 3, "softmax", "sparse_categorical_crossentropy",
                     ["accuracy"])
    h1 = fast.fit(x, labels, epochs=2, batch_size=32, verbose=0).history
    h2 = named.fit(x, labels, epochs=2, batch_size=32, verbose=0).history
    assert h1["categorical_accuracy"] == h2["accuracy"] and h1["loss"] == h2["loss"]


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_replayed_steps_report_what_eager_steps_do(monkeypatch, backend):
    x, y = imbalanced()
    runs = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        model = model_on(backend_named(backend), 1, "sigmoid", "binary_crossentropy",
                         binary_metrics(), weighted=["auc", "recall"])
        w = np.linspace(0.5, 1.5, len(y))
        history = model.fit(x, y, epochs=3, batch_size=64, verbose=0, sample_weight=w)
        runs.append((model, history.history))
    (recorded, h1), (eager, h2) = runs
    assert recorded._steps.replays > 0 and eager._steps.replays == 0
    assert h1 == h2
    assert h1["auc"][-1] != h1["auc"][0]  # the accumulators are per epoch


def test_a_metric_setting_changed_between_fits_is_not_replayed_stale(monkeypatch):
    x, y = imbalanced()
    histories = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        recall = metrics.Recall(name="recall")
        model = model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy", [recall])
        before = model.fit(x, y, epochs=1, batch_size=64, verbose=0).history["recall"]
        recall.init_thresholds = 0.05  # baked into the recorded calls: the step records again
        after = model.fit(x, y, epochs=1, batch_size=64, verbose=0).history["recall"]
        histories.append((before, after, model._steps.replays))
    (before, after, replays), eager = histories
    assert replays > 0 and (before, after) == eager[:2]
    assert after[0] > before[0]  # a lower threshold recalls more


def test_the_cupy_step_launches_the_metric_kernels(harness_backend_class):
    x, labels = blobs(n=64, classes=4)
    compiled = ["auc", "precision", metrics.Recall(top_k=2), metrics.TopKCategoricalAccuracy(k=2),
                "mse", metrics.BinaryAccuracy(), metrics.Accuracy(),
                metrics.F1Score(average="macro"), metrics.FBetaScore(beta=2.0, threshold=0.3)]
    gpu = harness_backend_class()  # the CuPy backend's launches, run in the g++ harness
    logs = []
    for backend in (gpu, NumpyBackend()):
        model = model_on(backend, 4, "softmax", "categorical_crossentropy", compiled)
        ws = model._workspace(64, with_grads=True)
        backend.copy_into(ws.x, x)
        backend.copy_into(ws.y, np.eye(4, dtype=np.float32)[labels])
        totals = model._epoch_totals()
        model._train_batch(ws, totals)
        logs.append(model._logs(totals, 64))
    assert {"add_buckets", "add_confusion", "add_top_k_hits", "add_error_sums",
            "add_matches"} <= set(gpu.launches)
    assert logs[0].keys() == logs[1].keys()
    for name in logs[1]:  # the same float32 model on two devices: its forward pass to rounding
        np.testing.assert_allclose(logs[0][name], logs[1][name], rtol=1e-6, err_msg=name)


def test_the_model_file_keeps_the_metrics_and_resume_is_exact(tmp_path):
    x, y = imbalanced()
    compiled = ["accuracy", "auc", metrics.Precision(thresholds=0.4, name="p04"), "mse"]
    weighted = [metrics.AUC(curve="PR", name="weighted_pr")]
    w = np.linspace(0.2, 2.0, len(y))

    def fresh():
        return model_on(backend_named("compiled"), 1, "sigmoid", "binary_crossentropy",
                        list(compiled), weighted=list(weighted))

    whole = fresh().fit(x, y, epochs=3, batch_size=64, verbose=0, sample_weight=w).history
    model = fresh()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, sample_weight=w)
    model.save(tmp_path / "m.gpudnn")
    with zipfile.ZipFile(tmp_path / "m.gpudnn") as zf:
        saved = json.loads(zf.read("compile.json"))
    assert saved["metrics"][:2] == ["accuracy", "auc"] and saved["metrics"][3] == "mse"
    assert saved["metrics"][2] == {"class_name": "Precision", "config": {
        "name": "p04", "dtype": "float32", "thresholds": 0.4, "top_k": None, "class_id": None}}
    assert saved["weighted_metrics"][0]["class_name"] == "AUC"
    again = models.load_model(tmp_path / "m.gpudnn")
    config = again.get_compile_config()
    assert config["metrics"][:2] == ["accuracy", "auc"] and config["metrics"][3] == "mse"
    assert config["metrics"][2] == compiled[2] and config["weighted_metrics"] == weighted
    assert again.metric_names == model.metric_names
    np.testing.assert_array_equal(again.evaluate(x, y, verbose=0), model.evaluate(x, y,
                                                                                   verbose=0))
    rest = again.fit(x, y, epochs=3, initial_epoch=1, batch_size=64, verbose=0,
                     sample_weight=w).history
    for name in whole:
        assert rest[name] == whole[name][1:], name


def test_imbalanced_binary_classifier_logs_scikit_learns_values():
    sk = pytest.importorskip("sklearn.metrics")
    x, y = imbalanced(n=1500, seed=3, positives=0.08)
    model = model_on(backend_named("compiled"), 1, "sigmoid", "binary_crossentropy",
                     ["precision", "recall", "auc"], weighted=["precision", "recall", "auc"])
    model.fit(x, y, epochs=4, batch_size=128, verbose=0)
    w = np.where(y == 1, 5.0, 1.0)  # class weights as sample weights
    logs = dict(zip(["loss"] + model.metric_names,
                    model.evaluate(x, y, batch_size=128, verbose=0, sample_weight=w)))
    p = model.predict(x, batch_size=128, verbose=0)[:, 0]
    decided = (p > 0.5).astype(int)
    assert 0 < decided.sum() < len(y)  # the classifier says "positive" sometimes, not always
    for prefix, sw in (("", None), ("weighted_", w)):
        assert logs[prefix + "precision"] == pytest.approx(
            sk.precision_score(y, decided, sample_weight=sw), rel=1e-12)
        assert logs[prefix + "recall"] == pytest.approx(
            sk.recall_score(y, decided, sample_weight=sw), rel=1e-12)
        exact = sk.roc_auc_score(y, p, sample_weight=sw)
        assert abs(logs[prefix + "auc"] - exact) <= auc_bucket_bound(y, p, sw) + 1e-12


def test_monitors_know_which_way_metrics_go():
    x, y = imbalanced()
    model = model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy", ["auc", "mse"])
    stop = callbacks.EarlyStopping(monitor="val_auc", patience=0)
    low = callbacks.EarlyStopping(monitor="val_mse", patience=0)
    model.fit(x, y, epochs=2, batch_size=64, verbose=0, validation_split=0.2,
              callbacks=[stop, low])
    assert stop._direction == "max" and low._direction == "min"


def test_two_unnamed_aucs_log_as_keras_and_a_monitor_finds_their_direction(keras_names):
    x, y = imbalanced()
    first, second = metrics.AUC(), metrics.AUC(curve="PR")
    model = model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy", [first, second])
    stop = callbacks.EarlyStopping(monitor="val_auc_1", patience=5)
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=0, validation_split=0.25,
                        callbacks=[stop])
    assert {"auc", "auc_1", "val_auc", "val_auc_1"} <= set(history.history)
    assert stop._direction == "max"  # found on the compiled object, as Keras looks it up
    counts = callbacks.EarlyStopping(monitor="val_tp", patience=5)
    model = model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy",
                     [metrics.TruePositives(name="tp")])
    with pytest.raises(InvalidInputError, match="mode='max'"):
        model.fit(x, y, epochs=1, verbose=0, validation_split=0.25, callbacks=[counts])


@pytest.mark.parametrize("backend", ["numpy", "compiled"])
def test_f_scores_in_a_model_equal_the_standalone_metrics(backend):
    x, labels = blobs(n=240, classes=5)
    y = np.eye(5, dtype=np.float32)[labels]
    compiled = [metrics.F1Score(), metrics.F1Score(average="weighted", name="f1_w"),
                metrics.FBetaScore(average="micro", beta=0.5, threshold=0.2, name="f05")]
    model = model_on(backend_named(backend), 5, "softmax", "categorical_crossentropy", compiled)
    w = np.random.default_rng(3).random(240) * 2
    history = model.fit(x, y, epochs=1, batch_size=50, verbose=0)
    assert history.history["f1_score"][0].shape == (5,)  # one per class, as Keras's
    p = model.predict(x, verbose=0)
    logs = model.evaluate(x, y, batch_size=80, verbose=0, sample_weight=w, return_dict=True)
    for name in ("f1_score", "f1_w", "f05"):
        fresh = metrics.deserialize(metrics.serialize(model._metric_object(name)))
        np.testing.assert_allclose(logs[name], fresh(y, p), rtol=1e-12, err_msg=name)


def test_metrics_of_one_name_are_numbered_as_keras_logs_them():
    x, y = imbalanced()
    model = model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy",
                     ["auc", metrics.AUC(name="auc", curve="PR"), "accuracy"],
                     weighted=["auc", "auc", "precision"])
    assert model.metric_names == ["auc", "auc_1", "accuracy", "weighted_auc", "weighted_auc_1",
                                  "precision"]
    history = model.fit(x, y, epochs=1, batch_size=64, verbose=0, validation_split=0.25)
    assert history.history["auc"][0] != history.history["auc_1"][0]  # ROC and PR apart
    assert {"val_auc_1", "val_weighted_auc_1"} <= set(history.history)


def test_several_thresholds_log_one_value_each_as_keras(tmp_path, capsys, keras_names):
    """Keras 3 keeps a metric of several thresholds as an array in the logs and History, and
    shows its mean in the progress bar; here also in CSVLogger's row; a monitor of it is
    refused with the reason."""
    x, y = imbalanced()
    thresholds = [0.2, 0.5, 0.7]
    compiled = [metrics.Precision(thresholds=thresholds), metrics.Recall(thresholds=thresholds),
                metrics.FalseNegatives(thresholds=thresholds, name="fn")]
    model = model_on(backend_named("compiled"), 1, "sigmoid", "binary_crossentropy", compiled)
    log = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, batch_size=64, verbose=2,
                        callbacks=[callbacks.CSVLogger(str(log))])
    assert history.history["precision"][1].shape == (3,)
    p = model.predict(x, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    for name in ("precision", "recall", "fn"):
        fresh = metrics.deserialize(metrics.serialize(model._metric_object(name)))
        np.testing.assert_allclose(logs[name], fresh(y, p), rtol=1e-12)
    shown = capsys.readouterr().out.splitlines()[-1]
    assert f"precision: {np.mean(history.history['precision'][-1]):.4f}" in shown
    last = log.read_text().splitlines()[-1]
    assert "[" + ", ".join(map(str, history.history["recall"][-1])) + "]" in last
    stop = callbacks.EarlyStopping(monitor="recall", mode="max")
    with pytest.raises(InvalidInputError, match="3 values"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[stop])


def test_compile_refuses_what_it_cannot_compute():
    with pytest.raises(InvalidInputError, match="Mean"):
        model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy", [metrics.Mean()])
    with pytest.raises(UnknownNameError, match="top_k_categorical_accuracy"):
        model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy", ["f1"])
    with pytest.raises(InvalidInputError, match="twice"):  # numbering would clash
        model_on(NumpyBackend(), 1, "sigmoid", "binary_crossentropy",
                 ["auc", "auc", metrics.AUC(name="auc_1")])
    model = model_on(NumpyBackend(), 2, "sigmoid", "binary_crossentropy",
                     [metrics.Precision(class_id=2)])
    with pytest.raises(InvalidInputError, match="class_id"):
        model.fit(np.zeros((4, 6), np.float32), np.zeros((4, 2), np.float32), verbose=0)


@pytest.mark.parametrize("record", [False, True], ids=["eager", "recorded"])
def test_a_step_with_metrics_allocates_nothing_after_the_first_batch(record):
    from conftest import step_peak_bytes

    x, y = imbalanced(n=512)
    model = model_on(backend_named("compiled"), 1, "sigmoid", "binary_crossentropy",
                     binary_metrics(), weighted=["auc"])
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)  # warms every buffer
    ws = model._workspace(128, with_grads=True)
    model.backend.copy_into(ws.x, x[:128])
    model.backend.copy_into(ws.y, y[:128, None])
    totals = model._epoch_totals() if record else model._new_totals()
    model._train_batch(ws, totals, record=record)
    assert step_peak_bytes(model, ws, totals, record=record) < 16 * 1024
