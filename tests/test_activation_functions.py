"""Keras's activation functions (``keras.activations.relu`` ...): each computes its formula on an
array, and a layer given one runs that activation on the device, as the name would."""

import numpy as np
import pytest

import gpudnn
from gpudnn import activations, layers, models
from gpudnn.errors import InvalidInputError

X = np.array([[-3.0, -0.5, 0.0, 0.5, 3.0]])

FORMULAS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.exp(x) - 1),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x,
                                                     1.6732632423543772 * (np.exp(x) - 1)),
    "softplus": lambda x: np.log(1 + np.exp(x)),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softmax": lambda x: np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_each_function_computes_its_formula(name):
    fn = getattr(activations, name)
    np.testing.assert_allclose(fn(X), FORMULAS[name](X), rtol=1e-12, atol=1e-15)
    assert fn(X.astype(np.float32)).dtype == np.float32


def test_softmax_along_another_axis_and_any_shape():
    x = np.arange(24.0).reshape(2, 3, 4) / 7
    np.testing.assert_allclose(activations.softmax(x, axis=1),
                               np.exp(x) / np.exp(x).sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(activations.tanh(x), np.tanh(x), rtol=1e-15)


def test_relu_takes_keras_arguments():
    np.testing.assert_allclose(activations.relu(X, negative_slope=0.1, max_value=1.0,
                                                threshold=0.25),
                               [[-0.325, -0.075, -0.025, 0.5, 1.0]])
    x = [-10.0, -5.0, 0.0, 5.0, 10.0]  # Keras's docstring examples
    np.testing.assert_array_equal(activations.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5),
                                  [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    assert activations.relu([1, 2]).dtype == np.float32  # floatx, as Keras converts
    assert activations.relu([-np.inf])[0] == 0


def test_a_wrapper_of_a_function_is_not_that_activation():
    import functools

    @functools.wraps(activations.relu)
    def capped(x):
        return activations.relu(x, max_value=6.0)

    with pytest.raises(InvalidInputError, match="a function of your own is code"):
        layers.Dense(3, activation=capped)


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "elu", "leaky_relu", "softplus"])
def test_a_layer_given_the_function_trains_as_the_name(name):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 5)), np.eye(3)[rng.integers(0, 3, 64)]
    weights = []
    for activation in (getattr(activations, name), name):
        gpudnn.set_seed(0)
        model = models.Sequential([layers.Dense(8, activation=activation, input_shape=(5,)),
                                   layers.Dense(3, activation=activations.softmax)])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        weights.append(model.get_weights())
        assert model.layers[0].get_config()["activation"] == name
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_function_of_ones_own_is_refused_with_the_reason():
    with pytest.raises(InvalidInputError, match="a function of your own is code"):
        layers.Dense(3, activation=lambda x: x * 2)
