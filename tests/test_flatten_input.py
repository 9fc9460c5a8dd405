"""Flatten and Input: samples of any shape, flattened once on the host as a view; the declared
input shape checked against the data; Input as the first element of a Sequential; 2-D models
unchanged."""

import numpy as np
import pytest

import gpudnn
from gpudnn import Input, layers, models
from gpudnn.errors import InvalidInputError
from gpudnn.utils import to_categorical


def images(n=64, shape=(28, 28), seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape, dtype=np.float32), rng.integers(0, 10, n)


@pytest.mark.parametrize("shape", [(28, 28), (784,), (4, 7, 28), (2, 2, 2, 98)])
def test_flatten_takes_samples_of_any_rank(shape):
    x, labels = images(shape=shape)
    model = models.Sequential([layers.Flatten(input_shape=shape),
                               layers.Dense(10, activation="softmax")])
    assert model.input_shape == (None, *shape) and model.input_dim == 784
    assert model.layers[0].units == 784 and model.layers[0].count_params() == 0
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=1, batch_size=16, verbose=0)
    flat = models.Sequential([layers.Dense(10, activation="softmax", input_shape=(784,))])
    flat.set_weights(model.get_weights())
    np.testing.assert_array_equal(model.predict(x), flat.predict(x.reshape(len(x), -1)))
    np.testing.assert_array_equal(model(x), flat(x.reshape(len(x), -1)))


def test_flatten_first_model_builds_from_the_data():
    x, labels = images(shape=(5, 6))
    model = models.Sequential([layers.Flatten(), layers.Dense(4, activation="softmax")])
    assert not model.built
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, labels % 4, epochs=1, verbose=0)
    assert model.built and model.input_shape == (None, 5, 6) and model.get_weights()[0].shape == (30, 4)


def test_the_data_is_flattened_as_a_view_not_copied():
    x, labels = images()
    model = models.Sequential([layers.Flatten(input_shape=(28, 28)), layers.Dense(10)])
    flat, _ = model._prepare("predict", x, None)
    assert flat.shape == (64, 784) and np.shares_memory(flat, x)


def test_trailing_shape_mismatch_is_a_clear_error():
    model = models.Sequential([layers.Flatten(input_shape=(28, 28)),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x, labels = images(shape=(784,))
    with pytest.raises(InvalidInputError, match=r"samples of shape \(784,\) but the model's input "
                                                r"shape is \(None, 28, 28\); reshape it with "
                                                r"x.reshape\(len\(x\), 28, 28\)"):
        model.fit(x, labels, verbose=0)
    x, _ = images(shape=(27, 28))
    with pytest.raises(InvalidInputError, match=r"\(27, 28\) but the model's input shape is "
                                                r"\(None, 28, 28\); pass data of shape"):
        model.predict(x)
    with pytest.raises(InvalidInputError, match=r"a batch axis: x\[None\]"):
        model.predict(np.zeros(784, np.float32))


def test_dense_first_with_image_input_asks_for_flatten():
    with pytest.raises(InvalidInputError, match=r"shape \(28, 28\).*add layers.Flatten\(\) before"):
        models.Sequential([Input((28, 28)), layers.Dense(10)])
    with pytest.raises(InvalidInputError, match="input_shape must be a positive feature count"):
        layers.Dense(10, input_shape=(28, 28))  # unchanged for Dense
    with pytest.raises(InvalidInputError, match="input_shape must be the shape of one sample"):
        layers.Flatten(input_shape=(28, 0))


def test_input_first_in_a_sequential_and_not_a_layer():
    a = models.Sequential([Input((784,)), layers.Dense(10, activation="softmax")])
    assert a.built and a.input_shape == (None, 784) and len(a.layers) == 1
    b = models.Sequential()
    b.add(layers.Input(shape=(28, 28)))
    b.add(layers.Flatten())
    b.add(layers.Dense(10, activation="softmax"))
    assert b.built and b.input_shape == (None, 28, 28)
    assert [type(layer).__name__ for layer in b.layers] == ["Flatten", "Dense"]
    lines = []
    b.summary(print_fn=lines.append)
    assert "Input" not in lines[0] and "flatten" in lines[0]
    x, labels = images()
    b.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    b.fit(x, labels, verbose=0)
    assert Input((28, 28)).shape == (None, 28, 28)
    assert Input(batch_shape=(32, 784)).shape == (32, 784)


def test_input_misuse_is_refused():
    model = models.Sequential([layers.Dense(3, input_shape=(4,))])
    with pytest.raises(InvalidInputError, match="must be the first element"):
        model.add(Input((4,)))
    with pytest.raises(InvalidInputError, match="needs the shape of one sample"):
        Input()
    with pytest.raises(InvalidInputError, match="declares input_shape=\\(5,\\).*outputs 4"):
        models.Sequential([Input((4,)), layers.Dense(3, input_shape=(5,))])
    with pytest.raises(InvalidInputError, match="differs from the model's dtype"):
        models.Sequential([Input((4,), dtype="float64"), layers.Dense(3)])
    assert models.Sequential([Input((4,), dtype="float64"), layers.Dense(3)],
                             dtype="float64").built


def test_configs_round_trip_through_the_constructors():
    flatten = layers.Flatten(input_shape=(28, 28), name="flat")
    assert flatten.get_config() == {"name": "flat", "dtype": "float32",
                                    "data_format": "channels_last", "input_shape": [28, 28]}
    assert layers.Flatten(**flatten.get_config()).get_config() == flatten.get_config()
    inp = layers.InputLayer((28, 28), name="pixels")
    assert Input((28, 28), name="pixels2")._layer.get_config()["name"] == "pixels2"
    assert inp.get_config() == {"batch_shape": [None, 28, 28], "dtype": None, "name": "pixels"}
    assert layers.InputLayer(**inp.get_config()).shape == (None, 28, 28)
    with pytest.raises(InvalidInputError, match="channels-first"):
        layers.Flatten(data_format="channels_first")


def test_flatten_in_the_middle_is_the_identity_and_backprop_passes_through():
    x, labels = images(shape=(12,))
    y = to_categorical(labels, 10)
    model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(12,)),
                               layers.Flatten(), layers.Dense(10, activation="softmax")],
                              dtype="float64")
    plain = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(12,)),
                               layers.Dense(10, activation="softmax")], dtype="float64")
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
    for g, h in zip(model.gradients(x, y), plain.gradients(x, y)):
        np.testing.assert_array_equal(g, h)


def test_elementwise_layers_may_come_before_flatten_as_in_keras():
    """``Input((28, 28)), Rescaling(1 / 255), Flatten(), ...``: the element-wise layers run on
    the flattened samples (the same numbers), the summary shows Keras's shapes."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 20)
    gpudnn.set_seed(0)
    model = models.Sequential([Input((28, 28)), layers.Rescaling(1 / 255), layers.Dropout(0.2),
                               layers.Activation("relu"), layers.Flatten(),
                               layers.Dense(10, activation="softmax")])
    gpudnn.set_seed(0)
    flat = models.Sequential([Input((28, 28)), layers.Flatten(), layers.Rescaling(1 / 255),
                              layers.Dropout(0.2), layers.Activation("relu"),
                              layers.Dense(10, activation="softmax")])
    for m in (model, flat):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights(), flat.get_weights()):
        np.testing.assert_array_equal(a, b)
    lines = []
    model.summary(print_fn=lines.append)
    assert "(None, 28, 28)" in lines[0] and "(None, 784)" in lines[0]
    lazy = models.Sequential([layers.Rescaling(0.5, input_shape=(4, 4))])
    assert not lazy.built  # waits for its Flatten
    lazy.add(layers.Flatten())
    assert lazy.built and lazy.predict(np.ones((1, 4, 4)), verbose=0).shape == (1, 16)
