"""Every optimizer x activation learns a small separable problem; training is reproducible."""

import math

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.training.workspace import MAX_WORKSPACES
from gpudnn.utils import to_categorical

from conftest import blobs

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(learning_rate=0.1),
    "sgd_momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "sgd_nesterov": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(lr=0.01),
    "rmsprop_momentum": lambda: optimizers.RMSprop(lr=0.005, momentum=0.5),
    "adam": lambda: optimizers.Adam(lr=0.01),
    "amsgrad": lambda: optimizers.Adam(lr=0.01, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.01),
    "adagrad": lambda: optimizers.Adagrad(learning_rate=0.1),
}
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "linear"]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_learns_separable_blobs(optimizer, activation):
    x, labels = blobs()
    model = models.Sequential()
    model.add(layers.Dense(16, activation=activation, input_shape=(x.shape[1],)))
    model.add(layers.Dense(3, activation="softmax"))
    model.compile(optimizer=OPTIMIZERS[optimizer](), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x[:200], to_categorical(labels[:200], 3), epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x[200:], to_categorical(labels[200:], 3), verbose=0)
    assert accuracy > 0.95


@pytest.mark.parametrize("loss,output", [("binary_crossentropy", "sigmoid"), ("mse", "sigmoid")])
def test_binary_problems_and_binary_accuracy(loss, output):
    x, labels = blobs(classes=2)
    model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(x.shape[1],)),
                               layers.Dense(1, activation=output)])
    model.compile(optimizer=optimizers.Adam(lr=0.01), loss=loss, metrics=["accuracy"])
    model.fit(x[:200], labels[:200], epochs=20, batch_size=16, verbose=0)
    _, accuracy = model.evaluate(x[200:], labels[200:], verbose=0)
    assert accuracy > 0.95
    predictions = model.predict(x[200:])
    assert predictions.shape == (100, 1) and predictions.dtype == np.float32
    assert accuracy == pytest.approx(np.mean((predictions[:, 0] > 0.5) == labels[200:]))


def test_sparse_labels_and_sparse_accuracy():
    x, labels = blobs()
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(lr=0.01), loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    history = model.fit(x, labels, epochs=10, batch_size=32, verbose=0, validation_split=0.2)
    assert set(history.history) == {"loss", "sparse_categorical_accuracy", "val_loss",
                                    "val_sparse_categorical_accuracy"}
    assert history.history["val_sparse_categorical_accuracy"][-1] > 0.95


def _train_once(seed, device="cpu"):
    gpudnn.set_seed(seed)
    x, labels = blobs(n=256)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")], device=device)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, to_categorical(labels, 3), epochs=3, batch_size=32, verbose=0)
    return history.history["loss"], model.get_weights()


def test_set_seed_makes_training_bit_for_bit_repeatable():
    loss_a, weights_a = _train_once(7)
    loss_b, weights_b = _train_once(7)
    loss_c, _ = _train_once(8)
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        assert np.array_equal(a, b)
    assert loss_a != loss_c


def test_train_on_batch_descends_and_matches_evaluate():
    x, labels = blobs(n=64)
    y = to_categorical(labels, 3)
    model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(learning_rate=0.5), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)
    loss, accuracy = model.train_on_batch(x, y)
    assert loss == pytest.approx(before[0], rel=1e-5)     # the loss of the weights it started from
    assert accuracy == pytest.approx(before[1])
    assert model.evaluate(x, y, verbose=0)[0] < before[0]


def test_return_dict_gives_keras_logs_and_a_bad_value_changes_nothing():
    x, labels = blobs(n=64)
    y = to_categorical(labels, 3)
    model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy", "mse"])
    listed = model.evaluate(x, y, verbose=0)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == dict(
        zip(["loss", "accuracy", "mse"], listed))
    assert model.test_on_batch(x, y, return_dict=True) == dict(
        zip(["loss", "accuracy", "mse"], model.test_on_batch(x, y)))
    weights = model.get_weights()
    with pytest.raises(gpudnn.errors.InvalidInputError, match="return_dict"):
        model.train_on_batch(x, y, return_dict="yes")
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    logs = model.train_on_batch(x, y, return_dict=True)
    assert list(logs) == ["loss", "accuracy", "mse"] and logs["loss"] == pytest.approx(listed[0])


def test_float64_models_train_and_evaluate_without_metrics():
    x, labels = blobs()
    model = models.Sequential([layers.Dense(8, activation="elu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")], dtype="float64")
    model.compile(optimizer=optimizers.RMSprop(lr=0.01), loss="categorical_crossentropy")
    history = model.fit(x, to_categorical(labels), epochs=5, verbose=0)
    loss = model.evaluate(x, to_categorical(labels), verbose=0)
    assert isinstance(loss, float) and loss < 0.5 * history.history["loss"][0]
    assert model.predict(x).dtype == np.float64


def test_deferred_build_without_input_shape():
    x, labels = blobs()
    model = models.Sequential([layers.Dense(8, activation="relu"), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=1, verbose=0)
    assert model.count_params() == 6 * 8 + 8 + 8 * 3 + 3


def test_compile_again_keeps_the_optimizer_state():
    x, labels = blobs(n=64)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    adam = optimizers.Adam(lr=0.01)
    model.compile(optimizer=adam, loss="sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=1, batch_size=16, verbose=0)
    moments = adam.slots["m"].copy()
    model.compile(optimizer=adam, loss="sparse_categorical_crossentropy", metrics="accuracy")
    assert adam.iterations == 4 and np.array_equal(adam.slots["m"], moments)
    assert model.metric_names == ["accuracy"]


def test_adding_a_layer_keeps_the_weights_already_there():
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,))])
    kernel, bias = model.get_weights()
    model.add(layers.Dense(3, activation="softmax"))
    weights = model.get_weights()
    assert np.array_equal(weights[0], kernel) and np.array_equal(weights[1], bias)
    assert weights[2].shape == (8, 3) and weights[2].any()
    assert model.layers[0].count_params() == 56 and model.count_params() == 56 + 27


def test_validation_split_holds_out_the_last_samples_like_keras():
    x, labels = blobs(n=50)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=1, batch_size=8, validation_split=0.58, verbose=0)
    # Keras trains on the first ceil(50 * (1 - 0.58)) samples (22: 50 * 0.42 is 21.000000000000004
    # in floating point) and validates on the rest
    split_at = math.ceil(50 * (1 - 0.58))
    val_loss, val_acc = model.evaluate(x[split_at:], labels[split_at:], verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(val_acc)
    other = model.evaluate(x[split_at + 1:], labels[split_at + 1:], verbose=0)[0]
    assert history.history["val_loss"][0] != pytest.approx(other, rel=1e-6)


def test_predict_on_many_batch_sizes_keeps_a_bounded_cache():
    x, _ = blobs(n=64)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    for n in range(1, 40):
        model.predict(x[:n], batch_size=n)
    assert len(model._workspaces) <= MAX_WORKSPACES
