"""Keras's Huber and LogCosh losses in training: one SGD step of a linear model equals the step
worked out by hand from Keras's formulas (float64), on the NumPy reference and the compiled CPU
backend; the names, the config and saving keep delta; a bad delta is refused. (The kernels
against NumPy, the weighted forms and the host call are in the parametrized backend tests.)"""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, losses, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.errors import InvalidInputError


def data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3))
    y = rng.standard_normal((16, 2)) * 3  # large errors: Huber's linear part too
    return x, y


def hand_step(kind, x, y, kernel, bias, lr, delta=1.0):
    """Keras's loss gradient for p = x W + b: dL/dp = clip(d, -delta, delta) / (n k) (Huber)
    or tanh(d) / (n k) (LogCosh), d = p - y; then W -= lr x^T dL/dp, b -= lr sum_rows."""
    d = x @ kernel + bias - y
    g = (np.clip(d, -delta, delta) if kind == "huber" else np.tanh(d)) / d.size
    return kernel - lr * x.T @ g, bias - lr * g.sum(axis=0)


@pytest.mark.parametrize("loss,kind,delta", [(losses.Huber(), "huber", 1.0),
                                             (losses.Huber(delta=0.4), "huber", 0.4),
                                             ("huber", "huber", 1.0),
                                             (losses.LogCosh(), "log_cosh", None),
                                             ("log_cosh", "log_cosh", None)])
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_one_step_is_the_hand_computed_step(loss, kind, delta, backend):
    x, y = data()
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(2, input_shape=(3,))], dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.1), loss=loss)
    if backend == "numpy":
        model.backend = NumpyBackend()
    kernel, bias = model.get_weights()
    want = hand_step(kind, x, y, kernel, bias, 0.1, delta or 1.0)
    history = model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    for got, expected in zip(model.get_weights(), want):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    d = x @ kernel + bias - y
    if kind == "huber":
        a = np.abs(d)
        value = np.where(a <= delta, 0.5 * d ** 2, delta * a - 0.5 * delta ** 2).mean()
    else:
        value = np.log(np.cosh(d)).mean()
    assert history["loss"][0] == pytest.approx(value, rel=1e-12)


def test_names_config_and_saving_keep_delta(tmp_path):
    assert isinstance(losses.get("huber"), losses.Huber)
    assert isinstance(losses.get("log_cosh"), losses.LogCosh)
    huber = losses.Huber(delta=0.5, reduction="sum", name="robust")
    assert huber.get_config() == {"name": "robust", "reduction": "sum", "delta": 0.5}
    assert losses.deserialize(losses.serialize(huber)).delta == 0.5
    assert losses.Huber().name == "huber_loss" and losses.LogCosh().name == "log_cosh"
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss=losses.Huber(delta=0.5))
    model.save(tmp_path / "m")
    assert models.load_model(tmp_path / "m").loss.delta == 0.5


@pytest.mark.parametrize("delta", [0, -1.0, float("nan"), "1", True, 10 ** 400])
def test_a_bad_delta_is_refused(delta):
    with pytest.raises(InvalidInputError, match="Huber delta must be a positive finite number"):
        losses.Huber(delta=delta)
