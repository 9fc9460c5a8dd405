"""Weight regularizers (Keras 3's L1, L2, L1L2): defaults, penalties by hand, float64 gradient
checks, the penalty inside the reported loss, training effect, serialization and bad input."""

import json

import numpy as np
import pytest

from gpudnn import layers, losses, models, regularizers
from gpudnn.training.fit import BatchFeed
from gpudnn.errors import InvalidInputError, UnknownNameError
from test_gradients import check, data

from conftest import blobs, step_peak_bytes


def test_keras_defaults_and_names():
    assert regularizers.L1().l1 == 0.01 and regularizers.L1().l2 == 0.0
    assert regularizers.L2().l2 == 0.01 and regularizers.L2().l1 == 0.0
    assert (regularizers.L1L2().l1, regularizers.L1L2().l2) == (0.0, 0.0)
    assert (regularizers.L1(None).l1, regularizers.L2(None).l2) == (0.01, 0.01)
    assert regularizers.l1 is regularizers.L1 and regularizers.l2 is regularizers.L2
    assert regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.get(None) is None
    assert regularizers.get("l2") == regularizers.L2(0.01)
    assert regularizers.get("L1") == regularizers.L1(0.01)
    assert regularizers.get("l1_l2") == regularizers.L1L2(0.01, 0.01)  # as Keras documents
    assert regularizers.get(regularizers.L2) == regularizers.L2()
    reg = regularizers.l1_l2(l1=0.1, l2=0.2)
    assert regularizers.get(reg) is reg


def test_penalties_by_hand():
    assert regularizers.L2(2.0)(np.ones((5, 5))) == 50.0            # Keras's docstring
    assert regularizers.L1(0.01)(np.ones((5, 5))) == pytest.approx(0.25)
    w = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert regularizers.L1L2(0.1, 0.2)(w) == pytest.approx(0.1 * 6 + 0.2 * 14)   # 3.4
    assert regularizers.L1L2()(w) == 0.0


def test_dense_keeps_its_regularizers_under_the_constructor_names():
    dense = layers.Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.l1(0.5))
    assert dense.kernel_regularizer == regularizers.L2(0.01)
    assert dense.bias_regularizer == regularizers.L1(0.5)
    assert layers.Dense(3).kernel_regularizer is None and layers.Dense(3).bias_regularizer is None


# ------------------------------------------------------------------ gradients (float64)
@pytest.mark.parametrize("kernel_reg, bias_reg", [
    (regularizers.l2(0.1), None),
    (regularizers.l1(0.05), None),
    (regularizers.l1_l2(l1=0.03, l2=0.2), regularizers.l2(0.3)),
    (None, regularizers.l1(0.2)),
])
@pytest.mark.parametrize("loss, output, target", [
    ("categorical_crossentropy", "softmax", "onehot"),
    (losses.BinaryCrossentropy(from_logits=True), None, "binary"),
    ("mse", "tanh", "real"),
])
def test_gradients_include_the_penalty(kernel_reg, bias_reg, loss, output, target):
    rng = np.random.default_rng(0)
    model = models.Sequential(dtype="float64")
    model.add(layers.Dense(4, activation="relu", input_shape=(3,), kernel_regularizer=kernel_reg,
                           bias_regularizer=bias_reg, bias_initializer="random_normal"))
    model.add(layers.Dense(3, activation=output, kernel_regularizer=kernel_reg,
                           bias_initializer="random_normal"))
    model.compile(optimizer="sgd", loss=loss)
    x, y = data(rng, 5, 3, 3, target)
    check(model, x, y)


# ------------------------------------------------------------------ the reported loss
def _regularized_model(dtype="float64"):
    model = models.Sequential([
        layers.Dense(8, activation="relu", input_shape=(6,),
                     kernel_regularizer=regularizers.l1_l2(l1=0.01, l2=0.02),
                     bias_regularizer="l2", bias_initializer="random_normal"),
        layers.Dense(3, activation="softmax", kernel_regularizer=regularizers.l2(0.05))],
        dtype=dtype)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _penalty(model):
    kernel1, bias1, kernel2, _ = model.get_weights()
    return (0.01 * np.abs(kernel1).sum() + 0.02 * (kernel1 ** 2).sum() + 0.01 * (bias1 ** 2).sum()
            + 0.05 * (kernel2 ** 2).sum())


def test_evaluate_and_train_on_batch_report_loss_plus_penalty():
    x, labels = blobs(n=50, features=6, classes=3)
    model = _regularized_model()
    data_loss = losses.SparseCategoricalCrossentropy()(labels, model.predict(x))
    penalty = _penalty(model)
    assert penalty > 0.05
    loss, _ = model.evaluate(x, labels, batch_size=16, verbose=0)
    assert loss == pytest.approx(data_loss + penalty, rel=1e-12)
    # train_on_batch reports the loss at the weights it started from, like Keras
    loss, _ = model.train_on_batch(x, labels)
    assert loss == pytest.approx(data_loss + penalty, rel=1e-12)
    assert _penalty(model) != penalty


def test_fit_reports_loss_plus_penalty():
    x, labels = blobs(n=40, features=6, classes=3)
    model = _regularized_model()
    expected = losses.SparseCategoricalCrossentropy()(labels, model.predict(x)) + _penalty(model)
    history = model.fit(x, labels, batch_size=40, epochs=1, verbose=0)  # one step
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-12)


def test_l2_shrinks_the_weights_and_still_learns():
    x, labels = blobs(n=400, features=6, classes=3, spread=1.5)
    norms, accuracies = [], []
    for reg in (None, regularizers.l2(0.01)):
        model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(6,),
                                                kernel_regularizer=reg),
                                   layers.Dense(3, kernel_regularizer=reg)])
        model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(x, labels, epochs=30, batch_size=32, verbose=0)
        norms.append(sum(float((w ** 2).sum()) for w in model.get_weights()[::2]))
        accuracies.append(model.evaluate(x, labels, verbose=0)[1])
    assert norms[1] < 0.7 * norms[0]
    assert min(accuracies) > 0.9


def test_a_regularized_logits_step_allocates_nothing_after_the_first_batch():
    rng = np.random.default_rng(1)
    x = rng.random((256, 100), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    model = models.Sequential([
        layers.Dense(64, activation="relu", input_shape=(100,),
                     kernel_regularizer=regularizers.l1_l2(l1=1e-4, l2=1e-3),
                     bias_regularizer="l2"),
        layers.Dense(10, kernel_regularizer="l2")])
    model.compile(optimizer="adam",
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["acc"])
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)  # warms every buffer
    ws = model._workspace(64, with_grads=True)
    y_dev = np.eye(10, dtype=np.float32)[y]
    totals = model._new_totals()
    feed = BatchFeed(model.backend, x, y_dev)
    feed.start_epoch(model.backend, np.arange(len(x)))
    # a (64, 64) float32 activation alone is 16 KiB
    assert step_peak_bytes(model, ws, totals, feed) < 64 * 1024


# ------------------------------------------------------------------ serialization, bad input
@pytest.mark.parametrize("reg", [regularizers.L1(0.3), regularizers.L2(), regularizers.L1L2(0.1, 0.2),
                                 regularizers.L1L2(l2=0.5)], ids=repr)
def test_serialize_round_trips_through_json(reg):
    data = json.loads(json.dumps(regularizers.serialize(reg)))
    assert regularizers.deserialize(data) == reg
    assert regularizers.get(data) == reg
    assert type(reg)(**reg.get_config()) == reg
    assert type(reg).from_config(reg.get_config()) == reg


@pytest.mark.parametrize("make, message", [
    (lambda: regularizers.L2(-0.1), "l2 must be a finite number >= 0"),
    (lambda: regularizers.L1(float("nan")), "l1 must be"),
    (lambda: regularizers.L1L2(l1="0.1"), "l1 must be"),
    (lambda: regularizers.L2(True), "l2 must be"),
    (lambda: layers.Dense(3, kernel_regularizer=lambda w: 0.01 * (w ** 2).sum()),
     "arbitrary functions are not accepted"),
    (lambda: layers.Dense(3, bias_regularizer=0.01), "a regularizer must be"),
    (lambda: regularizers.deserialize({"class_name": "Orthogonal", "config": {}}),
     "unknown regularizer class"),
    (lambda: regularizers.serialize("l2"), "gpudnn regularizer object"),
])
def test_bad_regularizers_are_clear_errors(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_unknown_regularizer_name_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="l1_l2"):
        layers.Dense(3, kernel_regularizer="l3")
