"""Keras's metrics that average a loss over the samples (``mape``, ``msle``, ``logcosh``,
``hinge``, ``squared_hinge``, ``poisson``, ``kl_divergence``, the cross-entropies): standalone
against Keras's formulas written here in float64, weighted, compiled into a model (names in the
history, values against the predictions), and through get / serialize / saving."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, metrics, models
from gpudnn.errors import InvalidInputError

EPS = 1e-7


def per_sample(name, y, p):
    """Keras's per-sample value of each metric (float64)."""
    if name == "mape":
        return 100 * np.mean(np.abs((y - p) / np.maximum(np.abs(y), EPS)), axis=1)
    if name == "msle":
        return np.mean((np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(y, EPS) + 1)) ** 2,
                       axis=1)
    if name == "logcosh":
        return np.mean(np.log(np.cosh(p - y)), axis=1)
    if name in ("hinge", "squared_hinge"):
        t = 2 * y - 1 if np.all((y == 0) | (y == 1)) else y
        h = np.maximum(1 - t * p, 0)
        return np.mean(h if name == "hinge" else h * h, axis=1)
    if name == "poisson":
        return np.mean(p - y * np.log(p + EPS), axis=1)
    if name == "kl_divergence":
        t, c = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
        return np.sum(t * np.log(t / c), axis=1)
    c = np.clip(p, EPS, 1 - EPS)
    if name == "binary_crossentropy":
        return -np.mean(y * np.log(c) + (1 - y) * np.log(1 - c), axis=1)
    return -np.sum(y * np.log(c), axis=1)  # categorical_crossentropy


def batch(name, rng, n=12, k=3):
    p = rng.uniform(0.05, 0.95, (n, k))
    if name == "categorical_crossentropy" or name == "kl_divergence":
        p /= p.sum(axis=1, keepdims=True)
        y = np.eye(k)[rng.integers(0, k, n)]
    elif name in ("binary_crossentropy", "hinge", "squared_hinge"):
        y = rng.integers(0, 2, (n, k)).astype(np.float64)
    else:
        y = rng.uniform(0, 4, (n, k))
    return y, p


NAMES = ["mape", "msle", "logcosh", "hinge", "squared_hinge", "poisson", "kl_divergence",
         "binary_crossentropy", "categorical_crossentropy"]


@pytest.mark.parametrize("name", NAMES)
def test_standalone_values_are_keras_formulas_weighted_and_not(name):
    rng = np.random.default_rng(0)
    metric = type(metrics.get(name))(dtype="float64")
    assert metric.direction == "down"
    y1, p1 = batch(name, rng)
    y2, p2 = batch(name, rng)
    metric.update_state(y1, p1)
    metric.update_state(y2, p2)
    want = np.concatenate([per_sample(name, y1, p1), per_sample(name, y2, p2)]).mean()
    assert metric.result() == pytest.approx(want, rel=1e-6)
    metric.reset_state()
    w = rng.uniform(0, 2, len(y1))
    metric.update_state(y1, p1, sample_weight=w)
    assert metric.result() == pytest.approx(np.dot(w, per_sample(name, y1, p1)) / w.sum(),
                                            rel=1e-6)


def test_names_aliases_classes_and_serialization():
    for alias, cls in [("mape", metrics.MeanAbsolutePercentageError),
                       ("MAPE", metrics.MeanAbsolutePercentageError),
                       ("mean_absolute_percentage_error", metrics.MeanAbsolutePercentageError),
                       ("msle", metrics.MeanSquaredLogarithmicError),
                       ("logcosh", metrics.LogCoshError), ("kld", metrics.KLDivergence),
                       ("binary_crossentropy", metrics.BinaryCrossentropy),
                       ("sparse_categorical_crossentropy", metrics.SparseCategoricalCrossentropy)]:
        assert type(metrics.get(alias)) is cls
    bce = metrics.BinaryCrossentropy(name="bce", from_logits=True, label_smoothing=0.1)
    again = metrics.deserialize(metrics.serialize(bce))
    assert (again.name, again.from_logits, again.label_smoothing) == ("bce", True, 0.1)
    assert bce.kind == "bce_logits"
    with pytest.raises(InvalidInputError, match="label_smoothing"):
        metrics.CategoricalCrossentropy(label_smoothing=2)


def test_sparse_categorical_crossentropy_takes_class_indices():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    metric = metrics.SparseCategoricalCrossentropy()
    assert metric([0, 2], p) == pytest.approx(-(np.log(0.7) + np.log(0.8)) / 2, rel=1e-6)


def test_compiled_into_a_regression_model(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 4)).astype(np.float32)
    y = (np.abs(x @ rng.standard_normal((4, 2))) + 1).astype(np.float32)
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"),
                               layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse",
                  metrics=["mape", "msle", metrics.LogCoshError(name="lc")])
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["lc", "loss", "mape", "msle", "val_lc", "val_loss",
                                       "val_mape", "val_msle"]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0).astype(np.float64)
    for name, key in (("mape", "mape"), ("msle", "msle"), ("logcosh", "lc")):
        assert result[key] == pytest.approx(per_sample(name, y, p).mean(), rel=1e-4)
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(result)


def test_compiled_into_a_classifier_with_sample_weights():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((120, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    w = rng.uniform(0.5, 2, 120).astype(np.float32)
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy",
                  weighted_metrics=["binary_crossentropy", "hinge"])
    result = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0).astype(np.float64)
    for name in ("binary_crossentropy", "hinge"):
        want = np.dot(w, per_sample(name, y.astype(np.float64), p)) / w.sum()
        assert result[name] == pytest.approx(want, rel=1e-4)
