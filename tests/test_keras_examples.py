"""Two Keras programs beyond the course, with ``keras`` replaced by ``gpudnn``, on the embedded
MNIST sample: the classic MLP example (Dense 512 / Dropout 0.2 twice, RMSprop) and TensorFlow's
beginners' quickstart shape (Flatten(input_shape=(28, 28)) / Dense 128 / Dropout 0.2 / Dense 10,
then ``model(x[:1])`` and ``Sequential([model, Softmax()])``). Summaries as Keras prints them."""

import numpy as np
import pytest

from gpudnn import layers, models
from gpudnn.datasets import sample
from gpudnn.optimizers import RMSprop
from gpudnn.utils import to_categorical

MLP_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 512)            │       401,920 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 512)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 512)            │       262,656 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout_1 (Dropout)             │ (None, 512)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_2 (Dense)                 │ (None, 10)             │         5,130 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 669,706 (2.55 MB)
 Trainable params: 669,706 (2.55 MB)
 Non-trainable params: 0 (0.00 B)"""

QUICKSTART_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ flatten (Flatten)               │ (None, 784)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense (Dense)                   │ (None, 128)            │       100,480 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dropout (Dropout)               │ (None, 128)            │             0 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         1,290 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 101,770 (397.54 KB)
 Trainable params: 101,770 (397.54 KB)
 Non-trainable params: 0 (0.00 B)"""


@pytest.fixture(scope="module")
def mnist():
    (x_train, y_train), (x_test, y_test) = sample.load_data()
    return (x_train / 255.0).astype("float32"), y_train, (x_test / 255.0).astype("float32"), y_test


def test_classic_keras_mlp_example(mnist, keras_names):
    x_train, y_train, x_test, y_test = mnist
    x_train, x_test = x_train.reshape(-1, 784), x_test.reshape(-1, 784)
    y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)
    model = models.Sequential()
    model.add(layers.Dense(512, activation="relu", input_shape=(784,)))
    model.add(layers.Dropout(0.2))
    model.add(layers.Dense(512, activation="relu"))
    model.add(layers.Dropout(0.2))
    model.add(layers.Dense(10, activation="softmax"))
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == MLP_SUMMARY
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(), metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=128, epochs=3, verbose=0,
                        validation_data=(x_test, y_test))
    assert history.history["loss"][-1] < history.history["loss"][0]
    score = model.evaluate(x_test, y_test, verbose=0)
    assert score[1] > 0.85, score
    assert score[1] == pytest.approx(history.history["val_accuracy"][-1])  # no dropout in eval
    assert int(model.state_arrays()["dropout_step"][0]) == 3 * 32  # 4000 samples / 128, 3 epochs


def test_tensorflow_quickstart_shape(mnist, keras_names):
    x_train, y_train, x_test, y_test = mnist
    assert x_train.shape[1:] == (28, 28)
    model = models.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10, activation="softmax"),
    ])
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0] == QUICKSTART_SUMMARY
    predictions = model(x_train[:1])
    assert predictions.shape == (1, 10) and predictions.sum() == pytest.approx(1, rel=1e-5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=3, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=2)
    assert accuracy > 0.88 and loss < 0.45, (loss, accuracy)


def test_quickstart_composition_with_a_linear_model(mnist):
    """``probability_model = Sequential([model, Softmax()])`` over a linear-output model; the
    loss is put on the composed model here (from_logits losses are another helper's)."""
    x_train, y_train, x_test, y_test = mnist
    model = models.Sequential([
        layers.Flatten(input_shape=(28, 28)),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.2),
        layers.Dense(10),
    ])
    logits = model(x_train[:1])
    assert logits.shape == (1, 10) and abs(logits.sum() - 1) > 1e-3  # not probabilities
    probability_model = models.Sequential([model, layers.Softmax()])
    probability_model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                              metrics=["accuracy"])
    probability_model.fit(x_train, y_train, epochs=3, verbose=0)
    loss, accuracy = probability_model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.88, accuracy
    probs = probability_model(x_test[:5])
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    z = model(x_test[:5])  # the trained weights are the inner model's
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(probs, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
