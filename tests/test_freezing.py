"""Freezing as Keras 3: ``layer.trainable = False`` / ``model.trainable = False`` (also a nested
base model) takes effect at the next ``compile``; frozen weights stay bit-identical through
``fit``, get no optimizer state and no gradient work; the summary's counts and
``trainable_weights`` / ``non_trainable_weights`` are Keras's; save, load and resume keep it."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.datasets import sample
from gpudnn.utils import to_categorical


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = sample.load_data()
    x = x[:1024].reshape(1024, 784).astype("float32") / 255
    return x, to_categorical(y[:1024], 10)


def base_and_head():
    gpudnn.set_seed(0)
    base = models.Sequential([layers.Dense(32, activation="relu", input_shape=(784,)),
                              layers.Dense(16, activation="relu")], device="cpu")
    return base, models.Sequential([base, layers.Dense(10, activation="softmax")])


def test_transfer_pattern_leaves_the_base_bit_identical(digits, capsys):
    x, y = digits
    base, model = base_and_head()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)           # train everything first
    trained_base, trained_head = base.get_weights(), model.layers[1].get_weights()
    base.trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0)
    for before, after in zip(trained_base, base.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not all(np.array_equal(a, b) for a, b in
                   zip(trained_head, model.layers[1].get_weights()))
    model.summary()
    text = capsys.readouterr().out
    # Keras's counts: base 784*32+32 + 32*16+16 = 25,648 frozen; head 16*10+10 = 170; after
    # training, Adam's m and v of the 170, its step counter and learning rate: 342
    assert "Total params: 26,160" in text and "Optimizer params: 342 (1.34 KB)" in text
    assert "Trainable params: 170 (680.00 B)" in text
    assert "Non-trainable params: 25,648 (100.19 KB)" in text
    assert model.optimizer.slots["m"].shape == (170,)  # no optimizer state for frozen weights
    assert [v.name for v in model.trainable_weights] == \
        [f"{model.layers[1].name}/kernel", f"{model.layers[1].name}/bias"]
    assert len(model.non_trainable_weights) == 4 and len(model.weights) == 6


def test_the_change_takes_effect_at_the_next_compile(digits):
    x, y = digits
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(784,)),
                               layers.Dense(10, activation="softmax")], device="cpu")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    first = model.layers[0]
    first.trainable = False                         # not compiled again: still trains
    before = first.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(before[0], first.get_weights()[0])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    before = first.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(before[0], first.get_weights()[0])


def test_a_frozen_middle_layer_passes_gradients_as_a_restored_one_would(digits):
    """Reference: plain SGD training every layer, with the middle layer's weights put back
    after every step, trains the other layers exactly as freezing it does."""
    x, y = digits
    results = []
    for freeze in (True, False):
        gpudnn.set_seed(1)
        model = models.Sequential([layers.Dense(12, activation="tanh", input_shape=(784,)),
                                   layers.Dense(12, activation="relu"),
                                   layers.Dense(10, activation="softmax")], device="cpu")
        middle = model.layers[1]
        kept = middle.get_weights()
        middle.trainable = not freeze
        model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
        for start in range(0, 512, 64):
            model.train_on_batch(x[start:start + 64], y[start:start + 64])
            if not freeze:
                middle.set_weights(kept)
        results.append(model.get_weights())
    for frozen, restored in zip(*results):
        np.testing.assert_allclose(frozen, restored, rtol=1e-6, atol=1e-7)


def test_a_frozen_first_layer_makes_the_step_cheaper(digits, monkeypatch):
    x, y = digits
    calls = {}
    for freeze in (False, True):
        gpudnn.set_seed(0)
        model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")], device="cpu")
        model.layers[0].trainable = not freeze
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.train_on_batch(x[:32], y[:32])
        seen = calls[freeze] = []

        def counting(a, b, out, seen=seen, original=model.backend.matmul):
            seen.append(a.shape)
            original(a, b, out)

        monkeypatch.setattr(model.backend, "matmul", counting)
        model.train_on_batch(x[:32], y[:32])
        monkeypatch.undo()
    # trainable: 2 forward GEMMs, dW of both layers, dx of the second (into the first); frozen
    # first layer: back-propagation stops at the second, so neither its dx nor the first dW
    assert len(calls[False]) == 5 and len(calls[True]) == 3
    assert (784, 32) not in calls[True]            # x.T @ dy for the first kernel is gone


def test_a_model_with_nothing_to_train_fits_and_changes_nothing(digits):
    x, y = digits
    base, model = base_and_head()
    model.trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_clipping_and_weight_decay_leave_frozen_weights_alone(digits):
    x, y = digits
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(784,)),
                               layers.Dense(16, activation="relu"),
                               layers.Dense(10, activation="softmax")], device="cpu")
    model.layers[1].trainable = False
    model.compile(optimizer=optimizers.AdamW(weight_decay=0.1, global_clipnorm=0.5),
                  loss="categorical_crossentropy")
    before = model.layers[1].get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model._train_ranges == ((0, 784 * 16 + 16), (784 * 16 + 16 + 16 * 16 + 16,
                                                        model.count_params()))


def test_save_load_and_resume_keep_the_frozen_layers(digits, tmp_path):
    x, y = digits

    def frozen_model():
        gpudnn.set_seed(2)
        model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(784,)),
                                   layers.Dense(10, activation="softmax")], device="cpu")
        model.layers[0].trainable = False
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model

    straight = frozen_model()
    straight.fit(x, y, epochs=2, verbose=0)
    resumed = frozen_model()
    resumed.fit(x, y, epochs=1, verbose=0)
    resumed.save(tmp_path / "frozen.gpudnn")
    loaded = models.load_model(tmp_path / "frozen.gpudnn")
    assert not loaded.layers[0].trainable and loaded.layers[1].trainable
    loaded.fit(x, y, epochs=2, initial_epoch=1, verbose=0)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_recorded_step_with_frozen_layers_equals_the_eager_one(digits, monkeypatch):
    x, y = digits
    weights = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        base, model = base_and_head()
        base.layers[0].trainable = False
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=100, verbose=0)
        weights.append(model.get_weights())
        # 2 epochs of 10 full batches and 1 partial: each size recorded once, replayed after
        # (the per-range update must not look like a settings change that records again)
        assert model._steps.replays == (20 if record == "1" else 0)
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_frozen_layers_penalty_and_gradient_are_not_there(digits):
    """Keras 3 counts the regularization of trainable weights only; the step never writes a
    frozen weight's gradient, which reads 0 (not what training left there)."""
    x, y = digits
    gpudnn.set_seed(0)
    model = models.Sequential([
        layers.Dense(16, activation="relu", input_shape=(784,),
                     kernel_regularizer=gpudnn.regularizers.l2(1.0)),
        layers.Dense(10, activation="softmax")], device="cpu")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    with_penalty = model.evaluate(x, y, verbose=0)
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    kernel = model.layers[0].get_weights()[0]
    assert model.evaluate(x, y, verbose=0) == pytest.approx(
        with_penalty - float((kernel.astype(np.float64) ** 2).sum()), rel=1e-5)
    grads = model.gradients(x[:32], y[:32])
    assert not grads[0].any() and not grads[1].any() and grads[2].any()
