"""Keras's element-wise losses in training -- Huber (with its delta), LogCosh,
MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Hinge and SquaredHinge: one SGD step
of a linear model equals the step worked out by hand from Keras's formulas (float64, Keras's
{0, 1} -> -1 / 1 label conversion for the hinges), on the NumPy reference and the compiled CPU
backend, with and without sample weights; names, saving, a binary classifier trained with the
hinge. (The kernels against NumPy, the weighted forms and
the host call are in the parametrized backend tests.)"""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, losses, models, optimizers
from gpudnn.backend import NumpyBackend

EPS = 1e-7


def keras_value_and_grad(kind, p, y, delta=1.0):
    """Keras's mean loss of p (n, k) and its gradient dL/dp, in float64."""
    size = p.size
    if kind == "huber":
        d = p - y
        a = np.abs(d)
        value = np.where(a <= delta, 0.5 * d ** 2, delta * a - 0.5 * delta ** 2)
        return value.mean(), np.clip(d, -delta, delta) / size
    if kind == "log_cosh":
        d = p - y
        return np.log(np.cosh(d)).mean(), np.tanh(d) / size
    if kind == "mape":
        m = np.maximum(np.abs(y), EPS)
        return 100 * np.mean(np.abs((y - p) / m)), 100 * np.sign(p - y) / m / size
    if kind == "msle":
        c = np.maximum(p, EPS)
        d = np.log(c + 1) - np.log(np.maximum(y, EPS) + 1)
        return np.mean(d * d), 2 * d / (c + 1) / size * (c == p)
    t = 2 * y - 1 if np.all((y == 0) | (y == 1)) else y
    h = np.maximum(1 - t * p, 0)
    if kind == "hinge":
        return h.mean(), -t * (h > 0) / size
    return (h * h).mean(), -2 * t * h / size


def data(kind):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3))
    if kind in ("hinge", "squared_hinge"):
        y = rng.integers(0, 2, (16, 2)).astype(np.float64)
    elif kind == "msle":
        y = rng.uniform(0, 5, (16, 2))
    else:
        y = rng.standard_normal((16, 2)) * 3
    return x, y


CASES = [(losses.Huber(), "huber", 1.0), (losses.Huber(delta=0.4), "huber", 0.4),
         ("huber", "huber", 1.0), (losses.LogCosh(), "log_cosh", 1.0),
         ("log_cosh", "log_cosh", 1.0),
         (losses.MeanAbsolutePercentageError(), "mape", 1.0), ("mape", "mape", 1.0),
         (losses.MeanSquaredLogarithmicError(), "msle", 1.0), ("msle", "msle", 1.0),
         (losses.Hinge(), "hinge", 1.0), ("hinge", "hinge", 1.0),
         (losses.SquaredHinge(), "squared_hinge", 1.0),
         ("squared_hinge", "squared_hinge", 1.0)]


@pytest.mark.parametrize("loss,kind,delta", CASES)
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_step_is_the_hand_computed_step(loss, kind, delta, backend, weighted):
    x, y = data(kind)
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(2, input_shape=(3,))], dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.1), loss=loss)
    if backend == "numpy":
        model.backend = NumpyBackend()
    kernel, bias = model.get_weights()
    w = np.random.default_rng(1).uniform(0.2, 2.0, 16) if weighted else np.ones(16)
    p = x @ kernel + bias
    per_sample = [keras_value_and_grad(kind, p[i:i + 1], y[i:i + 1], delta)[0]
                  for i in range(16)]
    _, g = keras_value_and_grad(kind, p, y, delta)
    g = g * w[:, None]  # the weighted mean's gradient: row i times w_i
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
                        sample_weight=w if weighted else None).history
    want = kernel - 0.1 * x.T @ g, bias - 0.1 * g.sum(axis=0)
    for got, expected in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    assert history["loss"][0] == pytest.approx(np.dot(w, per_sample) / 16, rel=1e-12)


def test_names_classes_and_saving(tmp_path):
    for name, cls in [("mape", losses.MeanAbsolutePercentageError),
                      ("MAPE", losses.MeanAbsolutePercentageError),
                      ("mean_absolute_percentage_error", losses.MeanAbsolutePercentageError),
                      ("msle", losses.MeanSquaredLogarithmicError),
                      ("mean_squared_logarithmic_error", losses.MeanSquaredLogarithmicError),
                      ("hinge", losses.Hinge), ("squared_hinge", losses.SquaredHinge)]:
        assert type(losses.get(name)) is cls
        assert type(losses.deserialize(losses.serialize(cls()))) is cls
    assert (losses.Hinge().name, losses.SquaredHinge().name) == ("hinge", "squared_hinge")
    model = models.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer="sgd", loss=losses.SquaredHinge(name="sq"))
    model.save(tmp_path / "m.keras")
    loaded = models.load_model(tmp_path / "m.keras")
    assert type(loaded.loss) is losses.SquaredHinge and loaded.loss.name == "sq"


def test_keras_docstring_values():
    """The host call against values computed from Keras's formulas."""
    y_true, y_pred = [[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]]
    assert losses.Hinge()(y_true, y_pred) == pytest.approx(1.3)
    assert losses.SquaredHinge()(y_true, y_pred) == pytest.approx(1.86)
    assert losses.MeanSquaredLogarithmicError()([[1.0, 2.0]], [[1.0, 4.0]]) == \
        pytest.approx(np.log(5 / 3) ** 2 / 2)
    assert losses.MeanAbsolutePercentageError()([[2.0, -4.0]], [[1.0, -5.0]]) == \
        pytest.approx((50 + 25) / 2)


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge"])
def test_a_binary_classifier_learns_with_a_hinge_and_tanh_output(loss):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((400, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.float32) * 2 - 1  # -1 / 1 labels, as Keras's examples
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(2,)),
                               layers.Dense(1, activation="tanh")])
    model.compile(optimizer=optimizers.Adam(0.01), loss=loss)
    history = model.fit(x, y, epochs=30, batch_size=32, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert np.mean(np.sign(model.predict(x, verbose=0)[:, 0]) == y) > 0.95


def test_keras_loss_functions_give_each_sample_and_compile_as_their_class():
    y_true, y_pred = [[0.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [0.0, 0.0]]
    np.testing.assert_allclose(losses.mean_squared_error(y_true, y_pred), [0.5, 1.0])
    assert losses.mse([0.0, 1.0], [1.0, 1.0]) == pytest.approx(0.5)  # one sample: a float
    np.testing.assert_allclose(losses.binary_crossentropy([[1.0]], [[0.9]]), [-np.log(0.9)],
                               rtol=1e-6)
    np.testing.assert_allclose(losses.huber([[0.0]], [[3.0]], delta=2.0), [2 * 3 - 2])
    model = models.Sequential([layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss=losses.mean_absolute_error)
    assert type(model.loss) is losses.MeanAbsoluteError
    with pytest.raises(gpudnn.errors.InvalidInputError, match="function of your own"):
        model.compile(optimizer="sgd", loss=lambda y_true, y_pred: 0.0)
