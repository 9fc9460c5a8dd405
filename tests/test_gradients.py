"""Back-propagation against float64 central differences, for every activation and every loss."""

import numpy as np
import pytest

from gpudnn import layers, models
from gpudnn.activations import NAMES
from gpudnn.layers.advanced_activations import ELU, LeakyReLU

HIDDEN = [a for a in NAMES if a != "softmax"] + ["softmax"]


def numeric_gradients(model, x, y, h=1e-6):
    """Central differences of the batch loss with respect to every parameter."""
    flat = np.concatenate([w.ravel() for w in model.get_weights()])
    shapes = [w.shape for w in model.get_weights()]

    def loss_at(values):
        model.set_weights(_split(values, shapes))
        return model.evaluate(x, y, batch_size=len(x), verbose=0)

    grads = np.empty_like(flat)
    for i in range(flat.size):
        plus, minus = flat.copy(), flat.copy()
        plus[i] += h
        minus[i] -= h
        grads[i] = (loss_at(plus) - loss_at(minus)) / (2 * h)
    model.set_weights(_split(flat, shapes))
    return _split(grads, shapes)


def _split(flat, shapes):
    out, offset = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[offset:offset + size].reshape(shape))
        offset += size
    return out


def check(model, x, y):
    analytic = model.gradients(x, y)
    numeric = numeric_gradients(model, x, y)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=1e-5, atol=1e-8)


def data(rng, n, features, outputs, kind):
    x = rng.normal(0, 1, (n, features))
    if kind == "onehot":
        y = np.eye(outputs)[rng.integers(0, outputs, n)]
    elif kind == "soft":
        y = np.eye(outputs)[rng.integers(0, outputs, n)] * 0.8 + 0.2 / outputs
    elif kind == "binary":
        y = rng.integers(0, 2, (n, outputs)).astype(float)
    else:
        y = rng.normal(0, 1, (n, outputs))
    return x, y


@pytest.mark.parametrize("activation", HIDDEN)
@pytest.mark.parametrize("loss,output,target", [
    ("categorical_crossentropy", "softmax", "onehot"),      # fused softmax + CE
    ("binary_crossentropy", "sigmoid", "binary"),           # fused sigmoid + BCE
    ("mse", "linear", "real"),
    ("mse", "softmax", "real"),                              # softmax's own backward
    ("mse", "sigmoid", "real"),
    ("binary_crossentropy", "softmax", "binary"),           # unfused BCE gradient
    ("categorical_crossentropy", "softmax", "soft"),        # label smoothing: rows sum to 1
])
def test_dense_gradients(activation, loss, output, target):
    rng = np.random.default_rng(0)
    model = models.Sequential(dtype="float64")
    model.add(layers.Dense(4, activation=activation, input_shape=(3,)))
    model.add(layers.Dense(3, activation=output, bias_initializer="random_normal"))
    model.compile(optimizer="sgd", loss=loss)
    x, y = data(rng, 5, 3, 3, target)
    check(model, x, y)


@pytest.mark.parametrize("hidden", [LeakyReLU(alpha=0.1), ELU(alpha=0.7), layers.Activation("tanh")])
def test_activation_layers_and_deep_stack(hidden):
    """Standalone activation layers between Dense layers, three Dense deep, sparse labels."""
    rng = np.random.default_rng(1)
    model = models.Sequential(dtype="float64")
    model.add(layers.Dense(4, input_shape=3))
    model.add(hidden)
    model.add(layers.Dense(4, activation="elu"))
    model.add(layers.Dense(3))
    model.add(layers.Softmax())
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.normal(0, 1, (6, 3))
    check(model, x, rng.integers(0, 3, 6))


def test_no_bias_and_single_output():
    rng = np.random.default_rng(2)
    model = models.Sequential(dtype="float64")
    model.add(layers.Dense(3, activation="sigmoid", use_bias=False, input_shape=(2,)))
    model.add(layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    check(model, rng.normal(0, 1, (7, 2)), rng.integers(0, 2, 7))


@pytest.mark.parametrize("name,formula", [
    ("selu", lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0)))),
    ("softplus", lambda x: np.logaddexp(x, 0.0))])
def test_selu_and_softplus_follow_keras_formulas(name, formula):
    """Keras's selu (scale * elu(x, alpha), its constants) and softplus (log(1 + e^x), with no
    overflow for large x), on every backend's float64 forward pass."""
    x = np.array([[-800.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 3.0, 50.0, 800.0]])
    model = models.Sequential([layers.Activation(name, input_shape=(10,))], dtype="float64")
    np.testing.assert_allclose(model.predict(x, verbose=0), formula(x), rtol=1e-14, atol=1e-300)


def test_an_alpha_is_refused_where_the_activation_takes_none():
    from gpudnn import activations
    from gpudnn.errors import InvalidInputError

    assert activations.get({"kind": "elu", "alpha": 0.5}).alpha == 0.5
    with pytest.raises(InvalidInputError, match="takes no alpha"):
        activations.get({"kind": "selu", "alpha": 3.0})
