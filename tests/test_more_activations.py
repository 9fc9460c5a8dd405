"""Keras's softsign, hard_sigmoid, relu6, exponential, silu (swish) and gelu: the functions
against Keras's formulas in float64, the derivatives through Dense and Activation layers
against central differences (silu's and gelu's from the input the layers keep), recorded =
eager, the two CPU backends alike, a mixed policy, and the names."""

import math

import numpy as np
import pytest

import gpudnn
from gpudnn import activations, layers, models
from gpudnn.backend import NumpyBackend

KINDS = ["softsign", "hard_sigmoid", "relu6", "exponential", "silu", "gelu"]
KERAS = {
    "softsign": lambda x: x / (1 + np.abs(x)),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "relu6": lambda x: np.clip(x, 0, 6),
    "exponential": np.exp,
    "silu": lambda x: x / (1 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
}


@pytest.mark.parametrize("kind", KINDS)
def test_each_function_is_keras_formula(kind):
    x = np.linspace(-9, 9, 41)
    np.testing.assert_allclose(getattr(activations, kind)(x), KERAS[kind](x), rtol=1e-12,
                               atol=1e-15)
    assert activations.get(kind).kind == kind


def test_names_swish_and_the_approximate_gelu():
    assert activations.get("swish") == activations.get("silu") == activations.get(activations.swish)
    x = np.linspace(-4, 4, 9)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(activations.gelu(x, approximate=True), tanh_form, rtol=1e-12)
    assert layers.Dense(2, activation="swish").get_config()["activation"] == "silu"


def model(kind, as_layer, dtype="float64", device="cpu"):
    gpudnn.set_seed(0)
    hidden = [layers.Dense(5, input_shape=(3,)), layers.Activation(kind)] if as_layer else \
        [layers.Dense(5, activation=kind, input_shape=(3,))]
    m = models.Sequential(hidden + [layers.Dense(2)], dtype=dtype, device=device)
    m.compile(optimizer="sgd", loss="mse")
    return m


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("as_layer", [False, True])
def test_gradients_are_central_differences(kind, as_layer):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 3)) * 2, rng.standard_normal((6, 2))
    m = model(kind, as_layer)
    m.backend = NumpyBackend()
    grads = m.gradients(x, y)
    weights = m.get_weights()
    h = 1e-6
    for index, (w, g) in enumerate(zip(weights, grads)):
        for pos in np.ndindex(w.shape):
            values = []
            for sign in (1, -1):
                moved = [v.copy() for v in weights]
                moved[index][pos] += sign * h
                m.set_weights(moved)
                values.append(m.evaluate(x, y, verbose=0))
            m.set_weights(weights)
            assert g[pos] == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-5,
                                           abs=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_recorded_equals_eager_and_the_cpu_backends_agree(kind, monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 3)).astype(np.float32)
    y = rng.standard_normal((40, 2)).astype(np.float32)
    results = []
    for record, numpy_backend in (("1", False), ("0", False), ("1", True)):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        m = model(kind, as_layer=False, dtype="float32")
        if numpy_backend:
            m.backend = NumpyBackend()
        m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        assert (m._steps.replays > 0) == (record == "1")  # the step was recorded and replayed
        results.append(m.get_weights())
    for a, b in zip(results[0], results[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(results[0], results[2]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["silu", "gelu"])
def test_a_mixed_policy_trains_with_them(kind):
    pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x[:, :2] * 2).astype(np.float32)
    gpudnn.set_seed(0)
    m = models.Sequential([layers.Dense(16, activation=kind, input_shape=(3,),
                                        dtype="mixed_bfloat16"), layers.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    history = m.fit(x, y, epochs=10, batch_size=16, verbose=0).history["loss"]
    assert np.isfinite(history).all() and history[-1] < history[0]


def test_dense_keeps_a_bounded_number_of_preactivation_buffers():
    m = model("gelu", as_layer=False, dtype="float32")
    for n in range(1, 20):
        m.predict(np.ones((n, 3), np.float32), verbose=0)
    assert len(m.layers[0].__dict__["_preactivations"]) <= 6


def test_relu_layer_arguments_map_to_gpudnns_kinds():
    x = np.array([[-2.0, 3.0, 8.0]], np.float32)
    np.testing.assert_array_equal(layers.ReLU(max_value=6)(x), [[0, 3, 6]])
    np.testing.assert_allclose(layers.ReLU(negative_slope=0.1)(x), [[-0.2, 3, 8]], rtol=1e-6)
    again = layers.deserialize(layers.serialize(layers.ReLU(max_value=6.0)))
    assert again.activation_spec.kind == "relu6"
    for bad in ({"max_value": 2}, {"threshold": 1.0}, {"max_value": 6, "negative_slope": 0.1},
                {"negative_slope": -0.5}):
        with pytest.raises(gpudnn.errors.InvalidInputError, match="ReLU"):
            layers.ReLU(**bad)


def test_the_learning_rate_takes_kerass_variable_calls():
    optimizer = gpudnn.optimizers.Adam(1e-3)
    assert optimizer.learning_rate.numpy() == np.float32(1e-3)
    assert optimizer.learning_rate.assign(5e-4) == 5e-4
    assert gpudnn.optimizers.SGD().learning_rate.assign(0.5) == 0.5  # an optimizer unreferenced
    assert optimizer.learning_rate == 5e-4 and type(optimizer.get_config()["learning_rate"]) is float
