"""Dropout: the counter-based mask against an independent scalar splitmix64, its statistics,
inverted scaling, training-only activity, the device step counter, float64 gradient checks with
the mask fixed, and bit-for-bit repeatability from gpudnn.set_seed."""

import math

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.backend.base import dropout_threshold
from gpudnn.backend.numpy_backend import NumpyBackend, random_bits
from gpudnn.errors import InvalidInputError
from gpudnn.utils import to_categorical

from conftest import blobs

WORD = (1 << 64) - 1


def splitmix64_scalar(seed, step, i):
    """kernels/random.cu written out once more, one Python int at a time (no NumPy)."""
    def mix(z):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & WORD
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & WORD
        return z ^ (z >> 31)
    key = mix(mix(seed) ^ step)
    return mix((key + 0x9E3779B97F4A7C15 * (i + 1)) & WORD)


def test_numpy_reference_is_splitmix64_keyed_by_seed_step_and_element():
    for seed, step in [(0, 0), (1, 0), (0, 1), (2**63 - 1, 123456789)]:
        bits = random_bits(seed, step, 300)
        assert [int(b) for b in bits[::37]] == [splitmix64_scalar(seed, step, i)
                                                for i in range(0, 300, 37)]
    # splitmix64's finaliser of 0 is 0, so the key of (0, 0) is 0 and element 0's word is the
    # first output of splitmix64 seeded with 0, a published value
    assert splitmix64_scalar(0, 0, 0) == 0xE220A8397B1DCDAF == int(random_bits(0, 0, 1)[0])


def test_threshold_compares_u_with_rate_exactly():
    assert dropout_threshold(0.0) == 0 and dropout_threshold(0.5) == 2**31
    assert dropout_threshold(0.2) == math.ceil(0.2 * 2**32)


def test_mask_statistics_keep_fraction_uniformity_and_independence():
    size, rate = 1 << 20, 0.3
    u = (random_bits(7, 0, size) >> np.uint64(32)).astype(np.float64) / 2.0**32
    # uniform on [0, 1): chi-square over 64 equal bins (99.99% quantile of chi2(63) is ~113)
    counts = np.bincount((u * 64).astype(int), minlength=64)
    expected = size / 64
    assert ((counts - expected) ** 2 / expected).sum() < 113
    keep = u >= rate
    sigma = math.sqrt(size * rate * (1 - rate))
    assert abs(keep.sum() - size * (1 - rate)) < 5 * sigma
    # the next step, and another layer's seed, draw independent masks
    for other in (random_bits(7, 1, size), random_bits(8, 0, size)):
        keep2 = (other >> np.uint64(32)).astype(np.float64) / 2.0**32 >= rate
        both = np.count_nonzero(keep & keep2)
        p = (1 - rate) ** 2
        assert abs(both - size * p) < 5 * math.sqrt(size * p * (1 - p))
        assert np.count_nonzero(keep != keep2) > size * 0.3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backend_dropout_is_inverted_dropout_with_the_reference_mask(dtype):
    be = NumpyBackend()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 40)).astype(dtype)
    out = np.empty_like(x)
    be.dropout(x, 12345, np.array([9], np.int64), 0.25, out)
    bits = np.array([splitmix64_scalar(12345, 9, i) >> 32 for i in range(x.size)])
    keep = (bits >= dropout_threshold(0.25)).reshape(x.shape)
    np.testing.assert_array_equal(out, np.where(keep, x * dtype(1 / 0.75), 0))
    assert 0.65 < keep.mean() < 0.85


def mlp(rate=0.5, seed=None, dtype=None, hidden=16, features=6, classes=3):
    return models.Sequential([layers.Dense(hidden, activation="relu", input_shape=(features,)),
                              layers.Dropout(rate, seed=seed),
                              layers.Dense(classes, activation="softmax")], dtype=dtype)


def test_dropout_is_the_identity_in_evaluate_predict_and_call():
    x, labels = blobs(200)
    y = to_categorical(labels, 3)
    model = mlp()
    plain = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    plain.set_weights(model.get_weights())
    for m in (model, plain):
        m.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    np.testing.assert_array_equal(model.predict(x), plain.predict(x))
    np.testing.assert_array_equal(model(x), plain(x))
    np.testing.assert_array_equal(model(x, training=False), plain(x))
    assert model.evaluate(x, y, verbose=0) == plain.evaluate(x, y, verbose=0)
    step = model.state_arrays()["dropout_step"]
    assert int(step[0]) == 0  # inference never advances the step


def test_training_true_applies_the_current_mask_without_advancing():
    x, _ = blobs(64)
    model = mlp(rate=0.5, seed=3)
    a, b = model(x, training=True), model(x, training=True)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, model(x))
    # by hand: hidden activations through the layer's mask at step 0, then the last layer
    w1, b1, w2, b2 = model.get_weights()
    h = np.maximum(x @ w1 + b1, 0)
    bits = np.array([splitmix64_scalar(3, 0, i) >> 32 for i in range(h.size)]).reshape(h.shape)
    h = np.where(bits >= 2**31, h * np.float32(2.0), 0)
    z = h @ w2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(a, p / p.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidInputError, match="training must be True, False or None"):
        model(x, training="yes")


def test_the_step_advances_once_per_training_step_on_the_device():
    x, labels = blobs(300)
    y = to_categorical(labels, 3)
    model = mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    step = model.state_arrays()["dropout_step"]
    assert step.dtype == np.int64 and step.shape == (1,)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)  # 5 steps an epoch
    assert int(step[0]) == 10
    model.train_on_batch(x[:10], y[:10])
    model.gradients(x[:10], y[:10])
    assert int(step[0]) == 12
    model.train_on_batch(x[:10], y[:10])
    assert int(step[0]) == 13
    # the mask is a function of the counter: setting it back (a resumed run) restores the mask
    step[0] = 12
    first = model(x, training=True)
    step[0] = 13
    assert not np.array_equal(model(x, training=True), first)
    step[0] = 12
    np.testing.assert_array_equal(model(x, training=True), first)


def test_a_model_without_dropout_never_touches_the_counter(monkeypatch):
    x, labels = blobs(64)
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    calls = []
    monkeypatch.setattr(model.backend, "increment", lambda c, by=1: calls.append(by))
    model.fit(x, to_categorical(labels, 3), verbose=0)
    assert calls == [32, 32]  # only fit's batch position (2 batches of 32), no dropout step


def _loss(p, y):
    return float(-(y * np.log(np.clip(p, 1e-7, 1 - 1e-7))).sum() / len(y))


@pytest.mark.parametrize("rate", [0.3, 0.6])
def test_gradients_with_the_mask_fixed_match_float64_central_differences(rate):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((12, 5))
    y = np.eye(3)[rng.integers(0, 3, 12)]
    model = models.Sequential([layers.Dense(7, activation="tanh", input_shape=(5,)),
                               layers.Dropout(rate),
                               layers.Dense(6, activation="sigmoid"),
                               layers.Dropout(rate / 2),
                               layers.Dense(3, activation="softmax")], dtype="float64")
    check_gradients_with_the_noise_fixed(model, x, y)


def check_gradients_with_the_noise_fixed(model, x, y):
    """``model.gradients`` of the categorical cross-entropy at dropout step 5 against float64
    central differences of the loss of ``model(x, training=True)`` at that step (the noise of
    the model's noise layers fixed); the noise must be active. (test_noise_layers.py too.)"""
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    step = model.state_arrays()["dropout_step"]
    step[0] = 5
    analytic = model.gradients(x, y)  # at step 5; the counter moves to 6
    step[0] = 5
    weights = model.get_weights()
    flat = np.concatenate([w.ravel() for w in weights])

    def loss_at(values):
        parts, offset = [], 0
        for w in weights:
            parts.append(values[offset:offset + w.size].reshape(w.shape))
            offset += w.size
        model.set_weights(parts)
        return _loss(model(x, training=True), y)  # the step-5 noise, no update

    h, numeric = 1e-6, np.empty_like(flat)
    for i in range(flat.size):
        plus, minus = flat.copy(), flat.copy()
        plus[i] += h
        minus[i] -= h
        numeric[i] = (loss_at(plus) - loss_at(minus)) / (2 * h)
    np.testing.assert_allclose(np.concatenate([g.ravel() for g in analytic]), numeric,
                               rtol=1e-5, atol=1e-8)
    assert not np.allclose(model(x, training=True), model(x))  # the noise was really active


def _trained_weights(seed):
    gpudnn.set_seed(seed)
    x, labels = blobs(256, seed=1)
    model = mlp(rate=0.4)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    model.fit(x, to_categorical(labels, 3), batch_size=32, epochs=2, verbose=0)
    return model.get_weights()


def test_same_seed_same_masks_and_same_weights_bit_for_bit():
    a, b, c = _trained_weights(11), _trained_weights(11), _trained_weights(12)
    for wa, wb in zip(a, b):
        assert np.array_equal(wa, wb)
    assert not all(np.array_equal(wa, wc) for wa, wc in zip(a, c))


def test_layer_seeds_are_drawn_from_gpudnns_generator_and_fixed():
    gpudnn.set_seed(5)
    first = [layers.Dropout(0.1).seed for _ in range(3)]
    gpudnn.set_seed(5)
    assert [layers.Dropout(0.1).seed for _ in range(3)] == first
    assert len(set(first)) == 3
    assert layers.Dropout(0.1, seed=42).seed == 42


def test_rate_zero_is_the_identity_even_while_training():
    x, labels = blobs(64)
    model = mlp(rate=0.0)
    np.testing.assert_array_equal(model(x, training=True), model(x))


def test_config_round_trips_and_bad_arguments_are_refused():
    layer = layers.Dropout(0.2, seed=9, name="drop")
    config = layer.get_config()
    assert config == {"name": "drop", "dtype": "float32", "rate": 0.2, "noise_shape": None,
                      "seed": 9}
    assert layers.Dropout(**config).get_config() == config
    drawn = layers.Dropout(0.5).get_config()
    assert isinstance(drawn["seed"], int) and layers.Dropout(**drawn).seed == drawn["seed"]
    for rate, match in [(1, "rate=1 would drop everything"), (-0.1, r"in \[0, 1\)"),
                        ("0.5", r"in \[0, 1\)"), (True, r"in \[0, 1\)")]:
        with pytest.raises(InvalidInputError, match=match):
            layers.Dropout(rate)
    with pytest.raises(InvalidInputError, match="noise_shape"):
        layers.Dropout(0.5, noise_shape=(None,))  # (batch, features): see test_noise_layers
    for seed in (-1, 2**63, 1.5):
        with pytest.raises(InvalidInputError, match="seed must be None or an integer"):
            layers.Dropout(0.5, seed=seed)
