"""``Normalization`` and ``Rescaling`` (gpudnn/layers/preprocessing.py): Keras 3's documented
examples, the formulas against a float64 reference with Keras's ``max(sqrt(variance), 1e-7)``,
``adapt`` over arrays and over batches (Keras's pooled combination), the weights Keras keeps
(``[mean, variance, count]``, non-trainable, untouched by ``fit``, saved), the backward pass by
central differences, the NumPy, compiled-CPU and CUDA (host-routed) backends alike, and the
refusals."""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.backend import backend_for
from gpudnn.backend.numpy_backend import NumpyBackend
from gpudnn.errors import InvalidInputError


def predict(layer, x, dtype="float32"):
    model = models.Sequential([gpudnn.Input((np.shape(x)[1],)), layer], dtype=dtype)
    return model.predict(np.asarray(x, dtype), verbose=0)


def test_keras_documented_examples():
    adapt_data = np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]], "float32")
    layer = layers.Normalization(axis=-1)
    layer.adapt(adapt_data)
    np.testing.assert_array_equal(predict(layer, [[0., 7., 4.]]), [[-1., -1., -1.]])
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1., 2., 3., 4., 5.], "float32"))
    np.testing.assert_allclose(predict(layer, [[1., 2., 3.]]), [[-1.4142135, -0.70710677, 0.]],
                               rtol=1e-7)
    np.testing.assert_allclose(predict(layers.Normalization(mean=3., variance=2.),
                                       [[1.], [2.], [3.]]).ravel(),
                               [-1.4142135, -0.70710677, 0.], rtol=1e-7)
    np.testing.assert_array_equal(predict(layers.Rescaling(1 / 255, offset=-1), [[0, 255, 510]]),
                                  [[-1., 0., 1.]])


def keras_normalization(x, mean, variance):
    return (x - mean) / np.maximum(np.sqrt(variance), 1e-7)


def test_normalization_is_keras_formula_constant_features_included():
    rng = np.random.default_rng(0)
    x = rng.normal([5.0, -3.0, 100.0, 0.0], [2.0, 0.01, 40.0, 1.0], (300, 4))
    x[:, 3] = 7.0  # a constant feature (MNIST's border pixels): variance 0
    layer = layers.Normalization()
    layer.adapt(x)
    mean, variance = x.mean(axis=0), x.var(axis=0)
    got = predict(layer, x)
    want = keras_normalization(x.astype(np.float32), mean.astype(np.float32),
                               variance.astype(np.float32))
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    assert np.all(got[:, 3] == 0)
    got64 = predict(_adapted(x), x, dtype="float64")
    # float64: 1e-14 under the root moves a variance v by a relative 5e-15 / v (here 5e-11)
    np.testing.assert_allclose(got64, keras_normalization(x, mean, variance), rtol=1e-9,
                               atol=1e-12)


def _adapted(data, **kwargs):
    layer = layers.Normalization(**kwargs)
    layer.adapt(data)
    return layer


def test_adapt_over_batches_matches_the_whole_array():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (100, 3))
    whole = _adapted(x)
    batches = [x[i:i + 32] for i in range(0, 100, 32)]

    class Batches(gpudnn.utils.PyDataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i], np.zeros(len(batches[i]))

    for source in (batches, iter(batches), ((b, None) for b in batches), Batches()):
        layer = _adapted(source)
        np.testing.assert_allclose(layer._adapted[0], whole._adapted[0], rtol=1e-12)
        np.testing.assert_allclose(layer._adapted[1], whole._adapted[1], rtol=1e-12)
    np.testing.assert_allclose(whole._adapted[1], x.var(axis=0), rtol=1e-12)
    scalar = _adapted(x, axis=None)
    np.testing.assert_allclose(np.ravel(scalar._adapted), (x.mean(), x.var()), rtol=1e-12)


def test_weights_as_keras_untouched_by_fit_saved_and_adapt_after_build(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(50.0, 10.0, (128, 5)).astype(np.float32)
    y = (x @ np.arange(5.0) / 50).astype(np.float32)
    norm = _adapted(x)
    model = models.Sequential([norm, layers.Dense(8, activation="relu"), layers.Dense(1)])
    model.compile(optimizer="adam", loss="mae")
    before = [w.copy() for w in norm.get_weights()]
    assert [w.shape for w in before] == [(5,), (5,), ()] and before[2] == 0
    np.testing.assert_allclose(before[0], x.mean(axis=0), rtol=1e-6)
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, norm.get_weights()))
    assert len(model.non_trainable_weights) == 3 and len(model.trainable_weights) == 4
    lines = []
    model.summary(print_fn=lines.append)
    assert "Non-trainable params: 11" in lines[0]
    model.save(tmp_path / "m.gpudnn")
    loaded = models.load_model(tmp_path / "m.gpudnn")
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    norm.adapt(x * 2)  # the layer is in a built model: its weights change at once
    np.testing.assert_allclose(norm.get_weights()[0], 2 * x.mean(axis=0), rtol=1e-6)


def test_backward_is_the_gradient_by_central_differences():
    """Both layers between Dense layers (float64): the gradient of the first Dense's kernel
    goes through them."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    for middle in (layers.Normalization(mean=[0.5, -1.0, 2.0, 0.0],
                                        variance=[2.0, 0.25, 9.0, 1.5]),
                   layers.Rescaling([2.0, -0.5, 1.5, 3.0], offset=1.0),
                   _adapted(rng.standard_normal((10, 4)) * 3, axis=None)):
        model = models.Sequential([gpudnn.Input((3,)), layers.Dense(4, activation="tanh"),
                                   middle, layers.Dense(2)], dtype="float64")
        model.compile(optimizer="sgd", loss="mse")
        weights = model.get_weights()
        grads = model.gradients(x, y)
        kernel, h = weights[0], 1e-6
        numeric = np.zeros_like(kernel)
        for i in np.ndindex(kernel.shape):
            for sign in (1, -1):
                moved = [w.copy() for w in weights]
                moved[0][i] += sign * h
                model.set_weights(moved)
                numeric[i] += sign * model.evaluate(x, y, verbose=0) / (2 * h)
        np.testing.assert_allclose(grads[0], numeric, rtol=1e-5, atol=1e-9)


def bound(layer, be, k, weights=()):
    """``layer`` built for k features and bound to backend ``be`` (as a model would)."""
    layer.build(k)
    layer._backend = be
    params = [be.from_host(np.asarray(w, np.float32)) for w in weights]
    layer.bind(params, [be.from_host(np.zeros_like(np.asarray(w, np.float32))) for w in weights])
    layer.bind_compute([])
    return layer


@pytest.fixture(scope="module")
def backends():
    from kernel_harness.backend import host_routed_backend
    return [NumpyBackend(), backend_for("cpu"), host_routed_backend()]


def test_every_backend_runs_the_same_operations(backends):
    rng = np.random.default_rng(4)
    x = rng.normal(2.0, 3.0, (9, 4)).astype(np.float32)
    dy = rng.standard_normal((9, 4)).astype(np.float32)
    mean, variance = x.mean(axis=0), x.var(axis=0)
    results = []
    for be in backends:
        cases = [bound(layers.Normalization(), be, 4, [mean, variance, 0.0]),
                 bound(layers.Normalization(axis=None), be, 4, [2.0, 9.0, 0.0]),
                 bound(layers.Rescaling([1.0, 2.0, 3.0, 4.0], offset=0.5), be, 4),
                 bound(layers.Rescaling(0.25), be, 4)]
        row = []
        for layer in cases:
            out, dx = be.empty((9, 4), np.float32), be.empty((9, 4), np.float32)
            layer.forward(be, be.from_host(x), out)
            layer.backward(be, None, None, be.from_host(dy), dx)
            row.append((np.asarray(be.to_host(out)), np.asarray(be.to_host(dx))))
        results.append(row)
    reference = results[0]
    np.testing.assert_allclose(reference[0][0], keras_normalization(x, mean, variance),
                               rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(reference[1][0], (x - 2) / 3, rtol=1e-6)
    np.testing.assert_array_equal(reference[2][0], x * np.float32([1, 2, 3, 4]) + np.float32(.5))
    np.testing.assert_array_equal(reference[3][1], dy * np.float32(0.25))
    for row in results[1:]:
        for (out, dx), (want_out, want_dx) in zip(row, reference):
            np.testing.assert_array_equal(out, want_out)
            np.testing.assert_array_equal(dx, want_dx)


def test_refusals():
    with pytest.raises(InvalidInputError, match="axis=-1"):
        layers.Normalization(axis=0)
    with pytest.raises(InvalidInputError, match="invert"):
        layers.Normalization(invert=True)
    with pytest.raises(InvalidInputError, match="both mean and variance"):
        layers.Normalization(mean=1.0)
    with pytest.raises(InvalidInputError, match=">= 0"):
        layers.Normalization(mean=1.0, variance=-1.0)
    with pytest.raises(InvalidInputError, match="NaN"):
        layers.Normalization().adapt(np.array([[1.0, np.nan]]))
    with pytest.raises(InvalidInputError, match="adapt\\(\\) is for"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.ones((3, 1)))
    with pytest.raises(InvalidInputError, match="adapted to data of 2 features.*outputs 3"):
        models.Sequential([gpudnn.Input((3,)), _adapted(np.ones((4, 2)))])
    with pytest.raises(InvalidInputError, match="2 means for 3 features"):
        models.Sequential([gpudnn.Input((3,)), layers.Normalization(mean=[0, 1],
                                                                    variance=[1, 1])])
    with pytest.raises(InvalidInputError, match="no data"):
        layers.Normalization().adapt([])
    with pytest.raises(InvalidInputError, match="scale must be finite"):
        layers.Rescaling(np.inf)


def test_configs_round_trip():
    for layer in (layers.Normalization(axis=None), layers.Normalization(mean=[1, 2], variance=[3, 4]),
                  layers.Rescaling(0.5, offset=[1, 2])):
        config = layer.get_config()
        again = type(layer)(**config)
        assert again.get_config() == config


def test_tiny_variances_follow_keras_floor_and_weights_set_later_are_used():
    """sqrt(max(variance, 1e-14)) is Keras's max(sqrt(variance), 1e-7) for every variance; an
    adapted layer floors its variance weight at each pass, so set_weights takes effect."""
    rng = np.random.default_rng(6)
    for std in (1e-9, 1e-7, 1e-6, 1e-3):
        x = rng.normal(0.0, std, (200, 1))
        layer = _adapted(x)
        want = keras_normalization(x, x.mean(axis=0), x.var(axis=0))
        np.testing.assert_allclose(predict(layer, x, dtype="float64"), want, rtol=1e-12,
                                   atol=1e-12)
    layer = _adapted(np.ones((4, 2)))
    model = models.Sequential([layer])
    model.set_weights([np.zeros(2), np.full(2, 4.0), np.zeros(())])
    np.testing.assert_array_equal(model.predict(np.full((1, 2), 2.0, np.float32), verbose=0),
                                  [[1.0, 1.0]])


def test_sharing_and_nested_lists():
    rng = np.random.default_rng(7)
    x = rng.normal(5.0, 2.0, (64, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    norm = _adapted(x)
    first = models.Sequential([norm, layers.Dense(1)])
    second = models.Sequential([norm, layers.Dense(8), layers.Dense(1)])
    for model in (first, second):  # a shared, never-trainable layer: both train
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, verbose=0)
    scale = layers.Rescaling(0.5)
    narrow = models.Sequential([gpudnn.Input((3,)), scale])
    wide = models.Sequential([gpudnn.Input((3,)), scale], dtype="float64")
    assert narrow.predict(x, verbose=0).dtype == np.float32
    np.testing.assert_array_equal(narrow.predict(x, verbose=0), x * np.float32(0.5))
    np.testing.assert_array_equal(wide.predict(x.astype(np.float64), verbose=0), x * 0.5)
    listed = _adapted([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])  # one array, not three batches
    np.testing.assert_allclose(listed._adapted[0], [3.0, 5.0])
    with pytest.raises(InvalidInputError, match="complex"):
        layers.Normalization().adapt(np.ones((2, 2), complex))
    with pytest.raises(InvalidInputError, match="overflows float32"):
        models.Sequential([gpudnn.Input((2,)), layers.Rescaling(1e300)])
