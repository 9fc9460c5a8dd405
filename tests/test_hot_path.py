"""The training step allocates no array memory after its first batch; data converted once."""

import numpy as np
import pytest

from conftest import step_peak_bytes
from gpudnn import layers, models, optimizers
from gpudnn.training.fit import BatchFeed
from gpudnn.utils import to_categorical


@pytest.mark.parametrize("record", [False, True], ids=["eager", "recorded"])
def test_training_step_allocates_nothing_after_the_first_batch(record):
    rng = np.random.default_rng(0)
    x = rng.random((512, 784), dtype=np.float32)
    y = to_categorical(rng.integers(0, 10, 512), 10)
    model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)     # warms every buffer
    ws = model._workspace(128, with_grads=True)
    totals = model._epoch_totals() if record else model._new_totals()
    backend = model.backend
    feed = BatchFeed(backend, x, y)
    feed.start_epoch(backend, np.random.default_rng(1).permutation(512))
    # a recording is made on the first call
    model._train_batch(ws, totals, record=record, feed=feed)
    feed.start_epoch(backend, np.random.default_rng(2).permutation(512))
    peak = step_peak_bytes(model, ws, totals, feed, record=record)
    assert (model._steps.replays >= 4) == record
    # One (128, 512) float32 activation is 256 KiB. What remains is fixed-size: NumPy's ufunc
    # iterator takes an 8192-element (32 KiB) buffer for broadcast operands such as the bias.
    assert peak < 64 * 1024


def test_a_step_with_flatten_and_dropout_allocates_nothing_after_the_first_batch():
    rng = np.random.default_rng(0)
    images = rng.random((512, 28, 28), dtype=np.float32)
    y = to_categorical(rng.integers(0, 10, 512), 10)
    model = models.Sequential([layers.Flatten(input_shape=(28, 28)),
                               layers.Dense(512, activation="relu"), layers.Dropout(0.2),
                               layers.Dense(512, activation="relu"), layers.Dropout(0.2),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(images, y, epochs=1, batch_size=128, verbose=0)     # warms every buffer
    x, _ = model._prepare("fit", images, y)  # the flat view fit gathers batches from
    assert np.shares_memory(x, images)
    ws = model._workspace(128, with_grads=True)
    totals = model._new_totals()
    backend = model.backend
    step_before = int(model.state_arrays()["dropout_step"][0])
    feed = BatchFeed(backend, x, y)
    feed.start_epoch(backend, np.random.default_rng(1).permutation(512))
    assert step_peak_bytes(model, ws, totals, feed) < 64 * 1024
    assert int(model.state_arrays()["dropout_step"][0]) == step_before + 4
    # Flatten has no buffer of its own; each Dropout one output and one gradient buffer
    assert ws.outputs[0] is None and ws.grads[0] is None


def test_integer_images_are_converted_once_per_fit(monkeypatch):
    x = np.random.default_rng(0).integers(0, 256, (256, 20), dtype=np.uint8)
    y = to_categorical(np.arange(256) % 4, 4)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(20,)),
                               layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    transfers = []
    original = model.backend.adopt  # the checked data becomes the backend's (one copy at most)
    monkeypatch.setattr(model.backend, "adopt",
                        lambda a, dtype=None: transfers.append(a.shape) or original(a, dtype))
    orders = []
    copy_into = model.backend.copy_into
    monkeypatch.setattr(model.backend, "copy_into",
                        lambda dst, src: orders.append(np.shape(src)) or copy_into(dst, src))
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    # x and y once, plus one shuffled order per epoch, written into the same device buffer
    assert transfers == [(256, 20), (256, 4)]
    assert orders.count((256,)) == 3


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.Adam(weight_decay=0.01, clipnorm=1.0),
    lambda: optimizers.Nadam(global_clipnorm=1.0),
    lambda: optimizers.Adamax(clipvalue=0.1),
    lambda: optimizers.RMSprop(centered=True, momentum=0.5),
    lambda: optimizers.SGD(learning_rate=optimizers.schedules.CosineDecay(
        0.01, 100, warmup_target=0.1, warmup_steps=5), momentum=0.9, nesterov=True),
], ids=["adam_wd_clipnorm", "nadam_global", "adamax_clipvalue", "rmsprop_centered",
        "sgd_schedule"])
def test_optimizer_options_allocate_nothing_after_the_first_batch(optimizer):
    """Clipping, weight decay, schedules and every update kernel keep the step allocation-free:
    anything the size of the parameters (300 KiB) or an activation (128 KiB) would show."""
    rng = np.random.default_rng(0)
    x = rng.random((256, 300), dtype=np.float32)
    y = to_categorical(rng.integers(0, 10, 256), 10)
    model = models.Sequential([layers.Dense(256, activation="relu", input_shape=(300,)),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizer(), loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    ws = model._workspace(128, with_grads=True)
    totals = model._new_totals()
    model.backend.copy_into(ws.x, x[:128])
    model.backend.copy_into(ws.y, y[:128])
    assert step_peak_bytes(model, ws, totals, steps=3) < 64 * 1024
