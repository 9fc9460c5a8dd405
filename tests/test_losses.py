"""Losses as Keras 3 objects: values against hand-computed Keras formulas and an independent
NumPy statement of each, float64 central-difference gradients of the logits forms, label
smoothing and MAE, training on the embedded sample, serialization and bad input."""

import json

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, losses, models
from gpudnn.datasets import sample
from gpudnn.errors import InvalidInputError, UnknownNameError
from test_gradients import check, data

LOG = np.log


# ------------------------------------------------------------------ values by hand
@pytest.mark.parametrize("loss, y_true, y_pred, expected", [
    # Keras's own docstring examples
    (losses.BinaryCrossentropy(from_logits=True), [0, 1, 0, 0], [-18.6, 0.51, 2.94, -12.8],
     (np.log1p(np.exp(-18.6)) + np.log1p(np.exp(-0.51)) + 2.94 + np.log1p(np.exp(-2.94))
      + np.log1p(np.exp(-12.8))) / 4),                                          # 0.8654
    (losses.BinaryCrossentropy(from_logits=True), [[0, 1], [0, 0]],
     [[-18.6, 0.51], [2.94, -12.8]], 0.86545795),
    (losses.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]],
     [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], (-LOG(0.95) - LOG(0.1)) / 2),          # 1.177
    (losses.SparseCategoricalCrossentropy(), [1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]],
     1.17693919),
    # one sample given as vectors, as Keras reads them
    (losses.CategoricalCrossentropy(), [0, 1, 0], [0.05, 0.95, 0], -LOG(0.95)),
    (losses.SparseCategoricalCrossentropy(), 1, [0.05, 0.95, 0], -LOG(0.95)),
    # x = (1, 2, 3), class 1: logsumexp(x) - x_1 = 3 + log(e^-2 + e^-1 + 1) - 2
    (losses.CategoricalCrossentropy(from_logits=True), [[0, 1, 0]], [[1.0, 2.0, 3.0]],
     1.40760596),
    (losses.SparseCategoricalCrossentropy(from_logits=True), [1], [[1.0, 2.0, 3.0]], 1.40760596),
    # smoothing 0.2 over k = 2: t = (0.1, 0.9); -(0.1 log 0.2 + 0.9 log 0.8)
    (losses.CategoricalCrossentropy(label_smoothing=0.2), [[0, 1]], [[0.2, 0.8]], 0.36177299),
    # smoothing 0.2 over k = 3 from logits: t = (0.0667, 0.8667, 0.0667)
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), [[0, 1, 0]],
     [[1.0, 2.0, 3.0]], 0.2 / 3 * (3.40760596 - 1) + (0.8 + 0.2 / 3) * 1.40760596
     + 0.2 / 3 * 0.40760596),
    # smoothing 0.2, binary: t = (0.9, 0.1); row terms 0.32508297 and 0.44140473
    (losses.BinaryCrossentropy(label_smoothing=0.2), [[1, 0]], [[0.9, 0.3]], 0.38324385),
    # t = 0.9: max(2, 0) - 2 * 0.9 + log1p(e^-2)
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.2), [[1]], [[2.0]],
     0.32692801),
    (losses.MeanAbsoluteError(), [[1, 2], [3, 4]], [[1.5, 2], [2, 6]], 0.875),
    (losses.MeanSquaredError(), [[1, 2], [3, 4]], [[1.5, 2], [2, 6]], 1.3125),
    # Keras's docstring examples: Huber 0.155, LogCosh 0.108
    (losses.Huber(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.155),
    (losses.LogCosh(), [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]], np.log(np.cosh(1)) / 4),
    # tf.keras's docstring examples: KLDivergence 0.458, Poisson 0.5
    (losses.KLDivergence(), [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]], 0.45814304),
    (losses.Poisson(), [[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]], 0.5),
    # p = 0 is clipped to 1e-7 inside the log, like Keras
    (losses.CategoricalCrossentropy(), [[1, 0]], [[0.0, 1.0]], -LOG(1e-7)),
])
def test_value_by_hand(loss, y_true, y_pred, expected):
    got = loss(y_true, y_pred)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-7)


# ------------------------------------------------------------------ independent NumPy forms
def _smooth(y, s, k):
    return y * (1 - s) + s / k


def reference(loss, y, p):
    """Each formula stated again, plainly, in float64."""
    s = loss.label_smoothing
    if isinstance(loss, losses.MeanSquaredError):
        return np.mean((p - y) ** 2)
    if isinstance(loss, losses.MeanAbsoluteError):
        return np.mean(np.abs(p - y))
    if isinstance(loss, losses.Huber):
        d = np.abs(p - y)
        return np.mean(np.where(d <= loss.delta, d ** 2 / 2, loss.delta * (d - loss.delta / 2)))
    if isinstance(loss, losses.LogCosh):
        return np.mean(np.log(np.cosh(p - y)))
    if isinstance(loss, losses.KLDivergence):
        t, c = np.clip(y, 1e-7, 1), np.clip(p, 1e-7, 1)
        return np.mean(np.sum(t * np.log(t / c), axis=1))
    if isinstance(loss, losses.Poisson):
        return np.mean(p - y * np.log(p + 1e-7))
    if isinstance(loss, losses.BinaryCrossentropy):
        t = _smooth(y, s, 2)
        if loss.from_logits:
            p = 1 / (1 + np.exp(-p))
        c = np.clip(p, 1e-7, 1 - 1e-7)
        return np.mean(-(t * np.log(c) + (1 - t) * np.log(1 - c)))
    t = _smooth(y, s, y.shape[1])
    if loss.from_logits:
        log_p = p - p.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
    else:
        log_p = np.log(np.clip(p, 1e-7, 1 - 1e-7))
    return -np.sum(t * log_p) / len(y)


ALL_LOSSES = [losses.MeanSquaredError(), losses.MeanAbsoluteError(), losses.Huber(),
              losses.Huber(delta=0.3), losses.LogCosh(), losses.KLDivergence(), losses.Poisson(),
              losses.BinaryCrossentropy(), losses.BinaryCrossentropy(label_smoothing=0.1),
              losses.BinaryCrossentropy(from_logits=True),
              losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3),
              losses.CategoricalCrossentropy(), losses.CategoricalCrossentropy(label_smoothing=0.1),
              losses.CategoricalCrossentropy(from_logits=True),
              losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.25),
              losses.SparseCategoricalCrossentropy(),
              losses.SparseCategoricalCrossentropy(from_logits=True)]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_value_against_numpy(loss):
    rng = np.random.default_rng(0)
    n, k = 50, 7
    x = rng.normal(0, 4, (n, k))
    labels = rng.integers(0, k, n)
    onehot = np.eye(k)[labels]
    if isinstance(loss, losses.BinaryCrossentropy):
        y = rng.integers(0, 2, (n, k)).astype(float)
        p = x if loss.from_logits else 1 / (1 + np.exp(-x))
    elif isinstance(loss, losses.CategoricalCrossentropy):
        y = onehot
        p = x if loss.from_logits else np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    elif isinstance(loss, losses.KLDivergence):  # smoothed targets, softmax predictions
        y, p = onehot * 0.7 + 0.3 / k, np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    elif isinstance(loss, losses.Poisson):  # counts and positive rates
        y, p = rng.poisson(2.0, (n, k)).astype(float), np.exp(x / 4)
    else:
        y, p = rng.normal(0, 1, (n, k)), x
    given = labels if loss.sparse else y
    assert loss(given, p) == pytest.approx(reference(loss, y, p), rel=1e-12)


@pytest.mark.parametrize("family", [losses.BinaryCrossentropy, losses.CategoricalCrossentropy])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_logits_form_is_the_probability_form_of_the_activation(family, smoothing):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 2, (20, 5))
    if family is losses.BinaryCrossentropy:
        y, p = rng.integers(0, 2, x.shape), 1 / (1 + np.exp(-x))
    else:
        y, p = np.eye(5)[rng.integers(0, 5, 20)], np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    logits = family(from_logits=True, label_smoothing=smoothing)(y, x)
    assert logits == pytest.approx(family(label_smoothing=smoothing)(y, p), rel=1e-12)


def test_logits_forms_are_stable_for_huge_scores():
    """log-sum-exp and max(x, 0) - x y + log1p(exp(-|x|)): no overflow, exact large-x limits."""
    cce = losses.CategoricalCrossentropy(from_logits=True)
    assert cce([[1, 0]], [[1000.0, 0.0]]) == 0.0
    assert cce([[0, 1]], [[1000.0, 0.0]]) == pytest.approx(1000.0)
    bce = losses.BinaryCrossentropy(from_logits=True)
    assert bce([[0]], [[800.0]]) == pytest.approx(800.0)
    assert bce([[1]], [[800.0]]) == 0.0
    assert bce([[1]], [[-800.0]]) == pytest.approx(800.0)


def test_the_device_value_is_what_evaluate_reports():
    rng = np.random.default_rng(2)
    model = models.Sequential([layers.Dense(6, activation="tanh", input_shape=(4,)),
                               layers.Dense(3)], dtype="float64")
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    model.compile(optimizer="sgd", loss=loss)
    x, y = rng.normal(0, 1, (40, 4)), np.eye(3)[rng.integers(0, 3, 40)]
    assert model.evaluate(x, y, batch_size=7, verbose=0) == pytest.approx(
        loss(y, model.predict(x)), rel=1e-12)


# ------------------------------------------------------------------ gradients (float64)
def _model(output_units, output_activation, loss, hidden="tanh"):
    model = models.Sequential(dtype="float64")
    model.add(layers.Dense(4, activation=hidden, input_shape=(3,)))
    model.add(layers.Dense(output_units, activation=output_activation,
                           bias_initializer="random_normal"))
    model.compile(optimizer="sgd", loss=loss)
    return model


@pytest.mark.parametrize("hidden", ["tanh", "relu"])
@pytest.mark.parametrize("loss, output, target", [
    (losses.CategoricalCrossentropy(from_logits=True), None, "onehot"),
    (losses.CategoricalCrossentropy(from_logits=True), None, "soft"),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2), None, "onehot"),
    (losses.CategoricalCrossentropy(label_smoothing=0.2), "softmax", "onehot"),   # fused
    (losses.BinaryCrossentropy(from_logits=True), None, "binary"),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3), None, "binary"),
    (losses.BinaryCrossentropy(label_smoothing=0.3), "sigmoid", "binary"),         # fused
    (losses.BinaryCrossentropy(label_smoothing=0.3), "softmax", "binary"),         # unfused
    (losses.BinaryCrossentropy(from_logits=True), "tanh", "binary"),  # logits through tanh
    (losses.MeanAbsoluteError(), None, "real"),
    (losses.MeanAbsoluteError(), "sigmoid", "real"),
    (losses.Huber(), None, "real"),
    (losses.Huber(delta=0.3), "sigmoid", "real"),
    (losses.LogCosh(), None, "real"),
    (losses.KLDivergence(), "softmax", "soft"),
    (losses.Poisson(), "softplus", "binary"),
])
def test_gradients(loss, output, target, hidden):
    rng = np.random.default_rng(3)
    model = _model(3, output, loss, hidden)
    x, y = data(rng, 5, 3, 3, target)
    check(model, x, y)


def test_sparse_logits_gradients():
    rng = np.random.default_rng(4)
    model = _model(3, None, losses.SparseCategoricalCrossentropy(from_logits=True))
    check(model, rng.normal(0, 1, (6, 3)), rng.integers(0, 3, 6))


def test_mae_gradient_is_zero_where_prediction_equals_target():
    model = models.Sequential([layers.Dense(1, input_shape=(1,), kernel_initializer="ones")],
                              dtype="float64")
    model.compile(optimizer="sgd", loss="mae")
    x = np.array([[2.0], [3.0]])
    kernel_grad, bias_grad = model.gradients(x, x)  # predictions equal targets exactly
    assert kernel_grad[0, 0] == 0 and bias_grad[0] == 0
    kernel_grad, bias_grad = model.gradients(x, x - 1)  # every p - y = +1
    assert kernel_grad[0, 0] == pytest.approx(2.5) and bias_grad[0] == pytest.approx(1.0)


# ------------------------------------------------------------------ training on the sample
@pytest.fixture(scope="module")
def digits():
    (x, y), (x_test, y_test) = sample.load_data()
    prepare = lambda images: images.reshape(len(images), -1).astype("float32") / 255  # noqa
    return prepare(x), y, prepare(x_test), y_test


def _fit(loss, x, y, output, units=10, epochs=3):
    """A 784-64-units model with ``output`` activation trained with ``loss``: (model, history)."""
    gpudnn.set_seed(5)
    model = models.Sequential([layers.Dense(64, activation="relu", input_shape=(784,)),
                               layers.Dense(units, activation=output)])
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model, model.fit(x, y, epochs=epochs, batch_size=32, verbose=0).history


def test_tensorflow_beginners_quickstart_with_logits(digits):
    """TensorFlow's quickstart (2-D input here: Flatten and Dropout come with the layers work):
    Dense(128, relu) -> Dense(10) logits, Adam, SparseCategoricalCrossentropy(from_logits=True),
    then the probabilities are the softmax of model outputs."""
    x, y, x_test, y_test = digits
    gpudnn.set_seed(6)
    model = models.Sequential([layers.Dense(128, activation="relu", input_shape=(784,)),
                               layers.Dense(10)])
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = model.predict(x[:1])
    assert loss_fn(y[:1], logits) == pytest.approx(np.log(10), rel=0.3)  # about -log(1/10)
    model.compile(optimizer="adam", loss=loss_fn, metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, verbose=0).history
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=2)
    assert history["loss"][-1] < history["loss"][0] / 3
    assert test_accuracy > 0.9
    scores = model.predict(x_test)
    probabilities = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    # "accuracy" on logits is the argmax, the same as on their softmax
    assert test_accuracy == pytest.approx(np.mean(probabilities.argmax(axis=1) == y_test))
    assert test_loss == pytest.approx(loss_fn(y_test, scores), rel=1e-5)


@pytest.mark.parametrize("loss, output", [
    (losses.CategoricalCrossentropy(), "softmax"),
    (losses.CategoricalCrossentropy(label_smoothing=0.1), "softmax"),
    (losses.CategoricalCrossentropy(from_logits=True), None),
    (losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1), None),
    (losses.MeanSquaredError(), "softmax"),
    (losses.MeanAbsoluteError(), "softmax"),
    (losses.BinaryCrossentropy(), "sigmoid"),
    (losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.05), None),
], ids=repr)
def test_each_loss_learns_the_digits(digits, loss, output):
    x, labels, x_test, labels_test = digits
    onehot, onehot_test = np.eye(10)[labels], np.eye(10)[labels_test]
    model, history = _fit(loss, x, onehot, output)
    _, accuracy = model.evaluate(x_test, onehot_test, verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    # the binary losses count every one of the 10 outputs: 90% for predicting all zeros
    assert accuracy > (0.97 if isinstance(loss, losses.BinaryCrossentropy) else 0.85), accuracy


def test_smoothed_training_is_less_confident(digits):
    x, labels, x_test, _ = digits
    onehot = np.eye(10)[labels]
    confidence = []
    for smoothing in (0.0, 0.3):
        model, _ = _fit(losses.CategoricalCrossentropy(label_smoothing=smoothing), x, onehot,
                        "softmax", epochs=4)
        confidence.append(model.predict(x_test).max(axis=1).mean())
    assert confidence[1] < confidence[0] - 0.05
    assert confidence[1] < 1 - 0.3 + 0.3 / 10 + 0.05  # the smoothed target's top probability


def test_binary_logits_zero_digit_detector_and_its_accuracy_threshold(digits):
    """One logit output, "is this a zero?". Keras 3's "accuracy" on a 1-unit output is
    BinaryAccuracy(threshold=0.5) on whatever the model outputs, logits included; gpudnn does
    the same (a logit in (0, 0.5] counts as class 0)."""
    x, labels, x_test, labels_test = digits
    model, _ = _fit(losses.BinaryCrossentropy(from_logits=True), x,
                    (labels == 0).astype("float32"), None, units=1)
    _, accuracy = model.evaluate(x_test, (labels_test == 0).astype("float32"), verbose=0)
    scores = model.predict(x_test)[:, 0]
    assert accuracy == pytest.approx(np.mean((scores > 0.5) == (labels_test == 0)))
    assert accuracy > 0.97
    # a logit of 0.3 (probability 0.57) for a positive sample counts as wrong, as in Keras 3
    model = models.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss=losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.set_weights([np.zeros((2, 1)), np.array([0.3])])
    assert model.evaluate(np.ones((4, 2)), np.ones(4), verbose=0)[1] == 0.0


def test_mae_regression_learns_the_mean_brightness(digits):
    x, _, x_test, _ = digits
    target, target_test = x.mean(axis=1) * 10, x_test.mean(axis=1) * 10
    gpudnn.set_seed(7)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(784,)),
                               layers.Dense(1)])
    model.compile(optimizer="adam", loss=losses.MeanAbsoluteError())
    model.fit(x, target, epochs=5, verbose=0)
    baseline = np.mean(np.abs(target_test - np.median(target)))
    assert model.evaluate(x_test, target_test, verbose=0) < 0.2 * baseline


# ------------------------------------------------------------------ names, configs, serialization
def test_poisson_refuses_negative_rates():
    with pytest.raises(InvalidInputError, match="Poisson takes rates"):
        losses.Poisson()([[1.0]], [[-0.5]])


def test_names_and_defaults_are_keras():
    assert isinstance(losses.get("mae"), losses.MeanAbsoluteError)
    for name in ("huber", "Huber", "log_cosh", "logcosh", "LogCosh"):
        assert type(losses.get(name)).__name__ in ("Huber", "LogCosh")
    for name in ("kld", "KLD", "kl_divergence", "KLDivergence"):
        assert isinstance(losses.get(name), losses.KLDivergence)
    assert isinstance(losses.get("poisson"), losses.Poisson)
    assert (losses.KLDivergence().name, losses.Poisson().name) == ("kl_divergence", "poisson")
    assert (losses.Huber().delta, losses.Huber().name, losses.LogCosh().name) == \
        (1.0, "huber_loss", "log_cosh")
    assert isinstance(losses.get("mean_absolute_error"), losses.MeanAbsoluteError)
    cce = losses.CategoricalCrossentropy()
    assert (cce.from_logits, cce.label_smoothing, cce.axis, cce.reduction, cce.name) == \
        (False, 0.0, -1, "sum_over_batch_size", "categorical_crossentropy")
    assert losses.SparseCategoricalCrossentropy().get_config() == {
        "name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size",
        "from_logits": False, "axis": -1, "ignore_class": None}
    assert losses.MeanAbsoluteError().get_config() == {"name": "mean_absolute_error",
                                                       "reduction": "sum_over_batch_size"}
    assert repr(losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)) == \
        "BinaryCrossentropy(from_logits=True, label_smoothing=0.1)"


@pytest.mark.parametrize("loss", ALL_LOSSES + [losses.MeanSquaredError(name="my_mse")], ids=repr)
def test_serialize_round_trips_through_json(loss):
    data = json.loads(json.dumps(losses.serialize(loss)))
    assert data["class_name"] == type(loss).__name__
    again = losses.deserialize(data)
    assert type(again) is type(loss) and again.get_config() == loss.get_config()
    assert type(loss)(**loss.get_config()) == loss
    assert losses.get(data) == loss


def test_a_compiled_loss_object_keeps_its_arguments():
    model = models.Sequential([layers.Dense(3, input_shape=(2,))])
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    model.compile(optimizer="adam", loss=loss)
    assert model.loss is loss


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("make, message", [
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5), "label_smoothing"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1), "label_smoothing"),
    (lambda: losses.BinaryCrossentropy(from_logits="yes"), "from_logits"),
    (lambda: losses.CategoricalCrossentropy(reduction="max"), "reduction"),
    (lambda: losses.CategoricalCrossentropy(axis=0), "axis"),
    (lambda: losses.SparseCategoricalCrossentropy(ignore_class=0), "ignore_class"),
    (lambda: losses.MeanSquaredError(name=3), "name"),
    (lambda: losses.get("mean_hinge"), "unknown loss"),
    (lambda: losses.deserialize({"class_name": "CosineSimilarity", "config": {}}),
         "unknown loss class"),
    (lambda: losses.deserialize({"class_name": "MeanSquaredError", "config": {"delta": 1}}),
     "cannot make a MeanSquaredError"),
    (lambda: losses.deserialize(["MeanSquaredError"]), "class_name"),
    (lambda: losses.serialize("mse"), "loss object"),
])
def test_bad_arguments_are_clear_errors(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


@pytest.mark.parametrize("loss, y_true, y_pred, message", [
    (losses.BinaryCrossentropy(), [[1, 0]], [[2.0, -1.0]], r"outside \[0, 1\].*from_logits=True"),
    (losses.CategoricalCrossentropy(), [[1, 0]], [[0.5, 0.9]], r"sums to 1\.4.*from_logits=True"),
    (losses.CategoricalCrossentropy(), [[1, 1]], [[0.5, 0.5]], "row 0 of y_true sums to 2"),
    (losses.SparseCategoricalCrossentropy(), [3], [[0.5, 0.5]], "class index 3"),
    (losses.MeanSquaredError(), [[1, 2]], [[1, 2], [3, 4]], "1 samples but y_pred has 2"),
    (losses.MeanSquaredError(), [[1.0]], [[np.nan]], "NaN"),
    (losses.CategoricalCrossentropy(from_logits=True), [[1, 0]], np.ones((1, 2, 2)), "shape"),
    (losses.MeanSquaredError(), [[1.0]], [["a"]], "cannot be read as an array of numbers"),
])
def test_bad_calls_are_clear_errors(loss, y_true, y_pred, message):
    with pytest.raises(InvalidInputError, match=message):
        loss(y_true, y_pred)


@pytest.mark.parametrize("loss, output", [
    (losses.CategoricalCrossentropy(from_logits=True), "softmax"),
    (losses.SparseCategoricalCrossentropy(from_logits=True), "softmax"),
    (losses.BinaryCrossentropy(from_logits=True), "sigmoid"),
])
def test_from_logits_after_a_softmax_or_sigmoid_is_refused_before_training(loss, output):
    model = models.Sequential([layers.Dense(3, activation=output, input_shape=(2,))])
    model.compile(optimizer="sgd", loss=loss)
    before = model.get_weights()
    y = [0, 1] if loss.sparse else [[1, 0, 0], [0, 1, 0]]
    with pytest.raises(InvalidInputError, match=rf"raw scores.*applies '{output}'.*Dense\(10\)"):
        model.fit(np.ones((2, 2)), y, verbose=0)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_categorical_probabilities_still_need_a_softmax():
    model = models.Sequential([layers.Dense(3, input_shape=(2,))])
    model.compile(optimizer="sgd", loss=losses.CategoricalCrossentropy())
    with pytest.raises(InvalidInputError, match="needs a softmax output.*from_logits=True"):
        model.evaluate(np.ones((2, 2)), np.eye(3)[:2], verbose=0)


def test_sample_weights_weigh_each_sample_as_keras():
    # Keras 3: sum_i w_i L_i / n (more in tests/test_sample_weights_ops.py)
    assert losses.MeanSquaredError()([[1.0], [1.0]], [[2.0], [3.0]],
                                     sample_weight=[0.5, 0.25]) == (0.5 * 1 + 0.25 * 4) / 2
    with pytest.raises(InvalidInputError, match="sample_weight"):
        losses.MeanSquaredError()([[1.0]], [[2.0]], sample_weight=[0.5, 0.5])


def test_unknown_name_error_is_a_key_error_too():
    with pytest.raises(UnknownNameError, match="mae"):
        losses.get("maee")
