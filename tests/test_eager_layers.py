"""A layer called on data (layers/eager.py): Keras's formulas on host arrays, a built-alone
layer's weights kept by the model it joins later, a layer in a model computing with the model's
weights, training=True for the noise and normalization layers, and bad data refused."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.errors import InvalidInputError


def features(n=6):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, 3)) * [1, 10, 100] + [0, 5, 50]).astype(np.float32)


def test_normalization_after_adapt_has_its_statistics_and_normalizes_data():
    """TensorFlow's regression tutorial: adapt, read the mean, normalize the first sample."""
    x = features()
    norm = layers.Normalization()
    norm.adapt(x)
    np.testing.assert_allclose(np.array(norm.mean), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.array(norm.variance), x.var(axis=0), rtol=1e-4)
    np.testing.assert_allclose(norm(x[:1]), (x[:1] - x.mean(0)) / x.std(0), rtol=1e-4,
                               atol=1e-5)
    model = models.Sequential([gpudnn.Input((3,)), norm, layers.Dense(1)])
    np.testing.assert_allclose(np.array(norm.mean), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(model.layers[0].get_weights()[0], x.mean(axis=0), rtol=1e-5)


def test_a_layer_built_alone_keeps_its_weights_in_a_model():
    x = features()
    dense = layers.Dense(2, activation="relu")
    out = dense(x)
    kernel, bias = dense.get_weights()
    np.testing.assert_allclose(out, np.maximum(x @ kernel + bias, 0), rtol=1e-5)
    model = models.Sequential([gpudnn.Input((3,)), dense])
    np.testing.assert_array_equal(model.get_weights()[0], kernel)
    np.testing.assert_allclose(model.predict(x, verbose=0), out, rtol=1e-6)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((6, 2), np.float32), verbose=0)
    np.testing.assert_allclose(dense(x), model.predict(x, verbose=0), rtol=1e-6)  # trained


@pytest.mark.parametrize("layer,want", [
    (layers.Activation("relu"), lambda x: np.maximum(x, 0)),
    (layers.Dropout(0.5), lambda x: x),
    (layers.Rescaling(0.5, offset=1.0), lambda x: x * 0.5 + 1.0),
    (layers.LeakyReLU(negative_slope=0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    (layers.Softmax(), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
])
def test_layers_without_weights_compute_their_formula(layer, want):
    x = features() / 50
    np.testing.assert_allclose(layer(x), want(x), rtol=1e-5, atol=1e-6)


def test_training_true_runs_the_training_forms():
    x = features(64)
    dropped = layers.Dropout(0.5)(np.ones((4, 8), np.float32), training=True)
    assert set(np.unique(dropped)) <= {0.0, 2.0} and (dropped == 0).any()
    bn = layers.BatchNormalization()
    inference = bn(x)
    np.testing.assert_allclose(inference, x / np.sqrt(1 + 1e-3), rtol=1e-5)
    trained = bn(x, training=True)
    np.testing.assert_allclose(trained, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3), rtol=1e-3,
                               atol=1e-3)
    np.testing.assert_allclose(bn.get_weights()[2], 0.01 * x.mean(0), rtol=1e-4)


@pytest.mark.parametrize("data,message", [
    (np.ones(3), "shape"), ([["a", "b", "c"]], "array of samples"),
    (np.full((1, 3), np.nan), "NaN"), (np.ones((2, 4)), "takes 3 features")])
def test_bad_data_is_refused(data, message):
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    with pytest.raises(InvalidInputError, match=message):
        dense(data)


def test_noise_is_new_at_each_call_and_mixed_models_use_their_latest_weights():
    dropout = layers.Dropout(0.5)
    first = dropout(np.ones((4, 16), np.float32), training=True)
    assert not np.array_equal(first, dropout(np.ones((4, 16), np.float32), training=True))
    pytest.importorskip("ml_dtypes")
    x = features(64)
    gpudnn.set_seed(0)
    model = models.Sequential([gpudnn.Input((3,)), layers.Dense(1, dtype="mixed_bfloat16")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.ones((64, 1), np.float32), epochs=1, batch_size=64, verbose=0)
    np.testing.assert_allclose(model.layers[0](x[:3]), model.predict(x[:3], verbose=0),
                               rtol=1e-2)
