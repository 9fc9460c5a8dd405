"""The course's Keras code runs with ``keras`` replaced by ``gpudnn``; summary as Keras prints it."""

import re

import numpy as np
import pytest

from gpudnn import layers, models
from gpudnn.datasets import sample
from gpudnn.layers.advanced_activations import ELU, LeakyReLU
from gpudnn.optimizers import SGD, Adam, RMSprop
from gpudnn.utils import to_categorical

COURSE_SUMMARY = """\
Model: "sequential"
┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━┓
┃ Layer (type)                    ┃ Output Shape           ┃       Param # ┃
┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━┩
│ dense (Dense)                   │ (None, 512)            │       401,920 │
├─────────────────────────────────┼────────────────────────┼───────────────┤
│ dense_1 (Dense)                 │ (None, 10)             │         5,130 │
└─────────────────────────────────┴────────────────────────┴───────────────┘
 Total params: 407,050 (1.55 MB)
 Trainable params: 407,050 (1.55 MB)
 Non-trainable params: 0 (0.00 B)"""


@pytest.fixture(scope="module")
def mnist_like():
    """512 real MNIST digits from the embedded sample, prepared as the course does."""
    (train_images, train_labels), _ = sample.load_data()
    x = train_images[:512].reshape((512, 28 * 28)).astype("float32") / 255
    return x, to_categorical(train_labels[:512])


def test_course_model_summary_matches_keras(keras_names):
    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    network.add(layers.Dense(10, activation="softmax"))
    lines = []
    network.summary(print_fn=lines.append)
    assert lines[0] == COURSE_SUMMARY
    assert network.count_params() == 407_050


@pytest.mark.parametrize("make_optimizer", [lambda: RMSprop(lr=0.001), lambda: Adam(lr=0.001),
                                            lambda: SGD(lr=0.01), lambda: "rmsprop"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", LeakyReLU(alpha=.001),
                                        ELU(alpha=1.0)])
def test_course_snippets_run(make_optimizer, activation, mnist_like):
    x, y = mnist_like
    network = models.Sequential()
    network.add(layers.Dense(512, activation=activation, input_shape=784))
    network.add(layers.Dense(10, activation="softmax"))
    network.compile(optimizer=make_optimizer(), loss="categorical_crossentropy",
                    metrics=["accuracy"])
    history = network.fit(x, y, epochs=2, batch_size=128, verbose=0)
    test_loss, test_acc = network.evaluate(x, y, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}
    assert len(history.history["loss"]) == 2
    assert history.history["loss"][1] < history.history["loss"][0]
    assert 0 <= test_acc <= 1 and np.isfinite(test_loss)


def test_activation_layers_as_separate_layers_like_the_course(mnist_like):
    x, y = mnist_like
    network = models.Sequential()
    network.add(layers.Dense(64, input_shape=(784,)))
    network.add(LeakyReLU(alpha=0.1))
    network.add(layers.Dense(64))
    network.add(ELU())
    network.add(layers.Dense(10))
    network.add(layers.Activation("softmax"))
    network.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    lines = []
    network.summary(print_fn=lines.append)
    assert "leaky_re_lu" in lines[0] and "(LeakyReLU)" in lines[0] and "(ELU)" in lines[0]
    history = network.fit(x, y, epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_progress_output_like_keras(mnist_like, capsys):
    x, y = mnist_like
    network = models.Sequential([layers.Dense(16, activation="relu", input_shape=(784,)),
                                 layers.Dense(10, activation="softmax")])
    network.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    network.fit(x, y, epochs=2, batch_size=128, verbose=1, validation_split=0.25)
    out = capsys.readouterr().out.splitlines()
    path = [line for line in out if line.startswith("gpudnn: the ")]
    # on a GPU, one line after the first epoch says which form the training step took
    assert len(path) == (1 if network.backend.is_gpu else 0)
    out = [line for line in out if line not in path]
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert out[1].startswith("3/3 ━━━━━━━━━━━━━━━━━━━━ ")   # 384 training rows / 128
    assert re.search(r" \d+s \d+(ms|us|s)/step - accuracy: ", out[1]) and " - loss: " in out[1] and " - val_loss: " in out[1]
    network.fit(x, y, epochs=1, batch_size=128, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    line = lines[0]  # Keras prints no "Epoch 1/1" line for one epoch
    assert line.startswith("4/4 - ") and "/step - accuracy: " in line
    assert not any(text.startswith("Epoch") for text in lines)
    network.fit(x, y, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""
