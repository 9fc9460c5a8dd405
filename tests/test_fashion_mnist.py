"""The course model on real data: Fashion-MNIST (Debian's dataset-fashion-mnist), 5 epochs."""

import time

import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.datasets import fashion_mnist
from gpudnn.optimizers import Adam
from gpudnn.utils import to_categorical


@pytest.mark.slow
def test_course_model_reaches_87_percent_on_fashion_mnist():
    try:
        (train_images, train_labels), (test_images, test_labels) = fashion_mnist.load_data()
    except gpudnn.GpudnnError as exc:
        if "CI" in __import__("os").environ:
            raise
        pytest.skip(f"Fashion-MNIST is not available here: {exc}")
    x_train = train_images.reshape((60000, 28 * 28)).astype("float32") / 255
    x_test = test_images.reshape((10000, 28 * 28)).astype("float32") / 255
    gpudnn.set_seed(0)
    network = models.Sequential()
    network.add(layers.Dense(512, activation="relu", input_shape=(28 * 28,)))
    network.add(layers.Dense(10, activation="softmax"))
    network.compile(optimizer=Adam(lr=0.001), loss="categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    network.fit(x_train, to_categorical(train_labels), epochs=5, batch_size=128, verbose=2)
    seconds = time.perf_counter() - start
    test_loss, test_acc = network.evaluate(x_test, to_categorical(test_labels), verbose=0)
    print(f"Fashion-MNIST test accuracy {test_acc:.4f}, loss {test_loss:.4f}, "
          f"{seconds / 5:.2f} s/epoch")
    assert test_acc >= 0.87
