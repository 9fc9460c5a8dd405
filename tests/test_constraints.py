"""Keras's weight constraints: each projection against Keras's formula written here in float64,
applied after the optimizer's update in training (one SGD step by hand, on the NumPy reference
and the compiled CPU backend), recorded = eager, never on a frozen layer, kept by get_config
and saving, and bad arguments refused before any weight moves."""

import numpy as np
import pytest

import gpudnn
from gpudnn import constraints, layers, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.errors import InvalidInputError
from conftest import assert_recorded_equals_eager

EPS = 1e-7


def keras_projection(constraint, w):
    axis = getattr(constraint, "axis", 0)
    norms = np.sqrt(np.sum(w * w, axis=axis, keepdims=True))
    if isinstance(constraint, constraints.NonNeg):
        return w * (w >= 0)
    if isinstance(constraint, constraints.UnitNorm):
        return w / (EPS + norms)
    if isinstance(constraint, constraints.MaxNorm):
        return w * (np.clip(norms, 0, constraint.max_value) / (EPS + norms))
    desired = constraint.rate * np.clip(norms, constraint.min_value, constraint.max_value) + \
        (1 - constraint.rate) * norms
    return w * (desired / (EPS + norms))


CONSTRAINTS = [constraints.MaxNorm(1.5), constraints.MaxNorm(2, axis=1), constraints.NonNeg(),
               constraints.UnitNorm(), constraints.UnitNorm(axis=1),
               constraints.MinMaxNorm(0.5, 1.0, rate=0.7), constraints.MinMaxNorm(axis=1)]


@pytest.mark.parametrize("constraint", CONSTRAINTS, ids=repr)
def test_each_projection_is_keras_formula(constraint):
    w = np.random.default_rng(0).standard_normal((5, 4)) * 2
    np.testing.assert_allclose(constraint(w), keras_projection(constraint, w), rtol=1e-14)


@pytest.mark.parametrize("constraint", CONSTRAINTS[:4], ids=repr)
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_one_step_projects_after_the_update(constraint, backend):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 2)) * 3
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(2, input_shape=(3,), kernel_constraint=constraint,
                                            bias_constraint=constraints.NonNeg())],
                              dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
    if backend == "numpy":
        model.backend = NumpyBackend()
    kernel, bias = model.get_weights()
    g = 2 * (x @ kernel + bias - y) / y.size
    want_kernel = keras_projection(constraint, kernel - 0.5 * x.T @ g)
    want_bias = np.maximum(bias - 0.5 * g.sum(axis=0), 0)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    got_kernel, got_bias = model.get_weights()
    np.testing.assert_allclose(got_kernel, want_kernel, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_bias, want_bias, rtol=1e-12, atol=1e-14)


def model_with_constraints(trainable=True):
    gpudnn.set_seed(0)
    model = models.Sequential([
        layers.Dense(16, activation="relu", input_shape=(6,), kernel_constraint="max_norm"),
        layers.BatchNormalization(gamma_constraint=constraints.NonNeg()),
        layers.Dense(3, activation="softmax", kernel_constraint=constraints.UnitNorm())])
    model.layers[0].trainable = trainable
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


def data():
    rng = np.random.default_rng(2)
    return (rng.standard_normal((64, 6)).astype(np.float32),
            np.eye(3, dtype=np.float32)[rng.integers(0, 3, 64)])


def test_trained_weights_satisfy_their_constraints_and_recorded_equals_eager(monkeypatch):
    x, y = data()
    weights = assert_recorded_equals_eager(model_with_constraints, x, y, monkeypatch, epochs=3,
                                           batch_size=24)
    kernel0, _, gamma, *_, kernel2, _ = weights
    assert np.linalg.norm(kernel0, axis=0).max() <= 2 + 1e-5
    assert gamma.min() >= 0
    np.testing.assert_allclose(np.linalg.norm(kernel2, axis=0), 1, rtol=1e-5)


def test_a_frozen_layer_is_not_projected():
    x, y = data()
    model = model_with_constraints(trainable=False)
    model.layers[0].set_weights([np.full((6, 16), 3.0, np.float32), np.zeros(16, np.float32)])
    before = model.layers[0].get_weights()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(before, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)  # a norm of 7.3 > 2 is left as it is


def test_config_saving_and_names(tmp_path):
    model = model_with_constraints()
    config = model.layers[0].get_config()
    assert config["kernel_constraint"]["class_name"] == "MaxNorm"
    assert config["kernel_constraint"]["config"] == {"max_value": 2.0, "axis": 0}
    assert config["bias_constraint"] is None
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert repr(loaded.layers[0].kernel_constraint) == "MaxNorm(max_value=2.0, axis=0)"
    assert isinstance(loaded.layers[1].gamma_constraint, constraints.NonNeg)
    for name, cls in [("max_norm", constraints.MaxNorm), ("non_neg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("MinMaxNorm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls
    assert constraints.max_norm is constraints.MaxNorm


@pytest.mark.parametrize("make,message", [
    (lambda: constraints.MaxNorm(-1), "max_value"),
    (lambda: constraints.MinMaxNorm(2.0, 1.0), "above max_value"),
    (lambda: constraints.UnitNorm(axis=1.5), "axis"),
    (lambda: constraints.get("positive"), "constraint"),
    (lambda: constraints.get(lambda w: w), "arbitrary functions"),
    (lambda: layers.Dense(3, kernel_constraint="maximum"), "constraint"),
])
def test_bad_arguments_are_clear_errors(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_an_axis_the_weight_lacks_is_refused_before_any_weight_moves():
    x, y = data()
    model = models.Sequential([layers.Dense(3, input_shape=(6,),
                                            bias_constraint=constraints.MaxNorm(axis=1))])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(InvalidInputError, match="axis 1"):
        model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_apply_gradients_projects_as_train_on_batch():
    """A custom loop (gradients, then apply_gradients on the model's weights) equals
    train_on_batch, constraints included (Keras's optimizer.apply projects)."""
    x, y = data()
    y = y[:, :3]
    results = []
    for custom in (False, True):
        gpudnn.set_seed(0)
        model = models.Sequential([layers.Dense(3, input_shape=(6,), kernel_constraint="non_neg")])
        model.compile(optimizer=optimizers.SGD(0.5), loss="mse")
        if custom:
            grads = model.gradients(x, y)
            model.optimizer.apply_gradients(zip(grads, model.trainable_weights))
        else:
            model.train_on_batch(x, y)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    assert results[1][0].min() >= 0
