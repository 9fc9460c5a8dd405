"""Each bad input raises a gpudnn error naming the problem and the fix, before weights change."""

import numpy as np
import pytest

from gpudnn import layers, losses, models
from gpudnn.errors import InvalidInputError, NotCompiledError, UnknownNameError
from gpudnn.utils import to_categorical

from conftest import blobs


def course_like(compiled=True, loss="categorical_crossentropy"):
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    if compiled:
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model


@pytest.fixture
def data():
    x, labels = blobs(n=40)
    return x, to_categorical(labels, 3), labels


def assert_unchanged(model, before):
    for a, b in zip(before, model.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch"])
def test_training_before_compile(call, data):
    model = course_like(compiled=False)
    with pytest.raises(NotCompiledError, match=r"before compile\(\).*model.compile"):
        getattr(model, call)(data[0], data[1])


def bad_cases(x, y, labels):
    nan_x = x.copy()
    nan_x[3, 2] = np.nan
    inf_y = y.copy()
    inf_y[0, 0] = np.inf
    return {
        "feature count": (x[:, :5], y, "categorical_crossentropy", r"5 features.*input_shape is \(6,\)"),
        "lengths": (x, y[:-1], "categorical_crossentropy", "x has 40 samples but y has 39"),
        "sparse labels with categorical loss": (x, labels, "categorical_crossentropy",
                                                 "sparse_categorical_crossentropy.*to_categorical"),
        "one-hot labels with sparse loss": (x, y, "sparse_categorical_crossentropy",
                                            "class indices of shape"),
        "labels out of range": (x, np.where(labels == 2, 3, labels), "sparse_categorical_crossentropy",
                                r"class index 3.*0\.\.2"),
        "negative label": (x, np.where(labels == 2, -1, labels), "sparse_categorical_crossentropy",
                           "class index -1"),
        "fractional label": (x, labels + 0.5, "sparse_categorical_crossentropy", "non-integer"),
        "wrong number of columns": (x, y[:, :2], "categorical_crossentropy", r"output is \(samples, 3\)"),
        "NaN in x": (nan_x, y, "categorical_crossentropy", r"x contains NaN or inf.*\(3, 2\)"),
        "inf in y": (x, inf_y, "categorical_crossentropy", "y contains NaN or inf"),
        "empty x": (x[:0], y[:0], "categorical_crossentropy", "empty"),
        "images not flattened": (np.zeros((40, 2, 3)), y, "categorical_crossentropy",
                                 r"reshape\(len\(x\), -1\)"),
        "text data": (np.array([["a"] * 6] * 40), y, "categorical_crossentropy", "real numbers"),
        "probabilities out of range": (x, y * 2, "categorical_crossentropy", r"outside \[0, 1\]"),
    }


@pytest.mark.parametrize("case", [
    "feature count", "lengths", "sparse labels with categorical loss", "one-hot labels with sparse loss",
    "labels out of range", "negative label", "fractional label", "wrong number of columns", "NaN in x",
    "inf in y", "empty x", "images not flattened", "text data", "probabilities out of range"])
def test_bad_data_is_refused_before_any_weight_changes(case, data):
    x, y, labels = data
    bad_x, bad_y, loss, message = bad_cases(x, y, labels)[case]
    model = course_like(loss=loss)
    before = model.get_weights()
    with pytest.raises(InvalidInputError, match=message):
        model.fit(bad_x, bad_y, epochs=1, verbose=0)
    assert_unchanged(model, before)


def test_bad_validation_data_is_refused_before_training(data):
    x, y, _ = data
    model = course_like()
    before = model.get_weights()
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="x_val contains NaN"):
        model.fit(x, y, validation_data=(bad, y), verbose=0)
    with pytest.raises(InvalidInputError, match="validation_split"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    assert_unchanged(model, before)


@pytest.mark.parametrize("kind,factory,valid", [
    ("activation", lambda: layers.Dense(3, activation="mish"), "elu, exponential, gelu"),
    ("loss", lambda: course_like(compiled=False).compile(optimizer="adam", loss="cosine_similarity"),
     "binary_crossentropy, categorical_crossentropy"),
    ("optimizer", lambda: course_like(compiled=False).compile(optimizer="adadelta", loss="mse"),
     "adagrad, adam, adamax, adamw, nadam, rmsprop, sgd"),
    ("metric", lambda: course_like(compiled=False).compile(optimizer="adam", loss="mse",
                                                          metrics=["cosine_proximity"]),
     "accuracy"),
    ("initializer", lambda: layers.Dense(3, kernel_initializer="xavier"), "glorot_uniform"),
])
def test_unknown_names_list_the_valid_ones(kind, factory, valid):
    with pytest.raises(UnknownNameError, match=f"unknown {kind} .*valid {kind} names are: .*{valid}"):
        factory()


@pytest.mark.parametrize("units", [0, -3, 2.5, "10", True])
def test_non_positive_units(units):
    with pytest.raises(InvalidInputError, match="units must be a positive integer"):
        layers.Dense(units)


@pytest.mark.parametrize("batch_size", [0, -1, 1.5])
def test_non_positive_batch_size(batch_size, data):
    model = course_like()
    with pytest.raises(InvalidInputError, match="batch_size must be a positive integer"):
        model.fit(data[0], data[1], batch_size=batch_size, verbose=0)


@pytest.mark.parametrize("shape", [(0,), (28, 28), "784", -1])
def test_bad_input_shape(shape):
    with pytest.raises(InvalidInputError, match="input_shape must be a positive feature count"):
        layers.Dense(3, input_shape=shape)


def test_load_weights_with_mismatched_shapes(tmp_path, data):
    small = course_like()
    path = tmp_path / "w.npz"
    small.save_weights(path)
    other = models.Sequential([layers.Dense(9, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    before = other.get_weights()
    with pytest.raises(InvalidInputError, match=r"dense_\d+/kernel has shape \(6, 9\).*\(6, 8\)"):
        other.load_weights(path)
    assert_unchanged(other, before)
    with pytest.raises(InvalidInputError, match="missing.npz: no such file"):
        other.load_weights(tmp_path / "missing.npz")


def test_loss_needs_a_name_or_class():
    with pytest.raises(InvalidInputError, match="loss must be a name"):
        losses.get(42)


def test_categorical_crossentropy_needs_rows_that_sum_to_one(data):
    x, y, _ = data
    multi_hot = y.copy()
    multi_hot[0] = [1, 1, 0]
    model = course_like()
    before = model.get_weights()
    with pytest.raises(InvalidInputError, match="row 0 of y sums to 2.*binary_crossentropy"):
        model.fit(x, multi_hot, verbose=0)
    assert_unchanged(model, before)


def test_categorical_crossentropy_needs_a_softmax_output(data):
    x, y, _ = data
    model = models.Sequential([layers.Dense(3, activation="sigmoid", input_shape=(6,))])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    with pytest.raises(InvalidInputError, match="needs a softmax output.*'sigmoid'"):
        model.fit(x, y, verbose=0)


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex64"])
def test_float16_and_non_float_models_are_refused(dtype):
    with pytest.raises(InvalidInputError, match="float32' or 'float64'"):
        models.Sequential(dtype=dtype)


def test_one_optimizer_per_model(data):
    x, y, _ = data
    first = course_like()
    shared = first.optimizer
    other = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    with pytest.raises(InvalidInputError, match="already trains another model.*one optimizer per model"):
        other.compile(optimizer=shared, loss="categorical_crossentropy")


@pytest.mark.parametrize("verbose", [3, "loud", True])
def test_bad_verbose(verbose, data):
    model = course_like()
    for call in (lambda: model.fit(data[0], data[1], verbose=verbose),
                 lambda: model.evaluate(data[0], data[1], verbose=verbose),
                 lambda: model.predict(data[0], verbose=verbose)):
        with pytest.raises(InvalidInputError, match="verbose must be 0, 1, 2 or 'auto'"):
            call()


def test_compile_without_a_loss_names_the_fix():
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(InvalidInputError, match="needs a loss"):
        model.compile(optimizer="sgd")
