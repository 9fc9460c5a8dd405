"""LayerNormalization and RMSNormalization as Keras 3: the row ops against Keras's formulas in
float64 (written here from its ``ops.layer_normalization`` / ``ops.rms_normalization``) and
against central differences (the compiled CPU backend runs these NumPy ops itself), and the
layers in a model:
weights and counts, training, a frozen layer, saving and exact resume, recorded = eager, mixed
precision, and bad arguments."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from conftest import assert_recorded_equals_eager

EPS = 1e-3


def keras_layer_norm(x, gamma, beta, eps=EPS):
    """Keras 3's ``_layer_normalization``: ``x * inv + (-mean * inv + beta)``, ``inv = gamma /
    sqrt(var + eps)``."""
    mean, var = x.mean(axis=-1, keepdims=True), x.var(axis=-1, keepdims=True)
    inv = 1 / np.sqrt(var + eps)
    if gamma is not None:
        inv = inv * gamma
    res = -mean * inv
    if beta is not None:
        res = res + beta
    return x * inv + res


def keras_rms_norm(x, scale, eps=1e-6):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * scale


def inputs(dtype, n=6, k=5, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, k)) * 3 + 1).astype(dtype)
    return x, rng.uniform(0.5, 1.5, k).astype(dtype), rng.standard_normal(k).astype(dtype)


@pytest.mark.parametrize("with_gamma,with_beta", [(True, True), (False, True), (True, False),
                                                  (False, False)])
def test_the_forward_pass_is_keras_formula(with_gamma, with_beta):
    x, gamma, beta = inputs(np.float64)
    gamma, beta = (gamma if with_gamma else None), (beta if with_beta else None)
    out = np.empty_like(x)
    NumpyBackend().row_norm_forward(x, gamma, beta, EPS, True, out)
    np.testing.assert_allclose(out, keras_layer_norm(x, gamma, beta), rtol=1e-12, atol=1e-12)
    NumpyBackend().row_norm_forward(x, gamma, None, 1e-6, False, out)
    np.testing.assert_allclose(out, keras_rms_norm(x, 1 if gamma is None else gamma),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("with_gamma,with_beta", [(True, True), (False, False), (True, False)])
def test_the_backward_pass_is_the_gradient_by_central_differences(centered, with_gamma,
                                                                  with_beta):
    """L = sum(r * y(x, gamma, beta)) in float64; every partial derivative by (L(+h) - L(-h))/2h."""
    be = NumpyBackend()
    x, gamma, beta = inputs(np.float64, n=4, k=5, seed=1)
    r = np.random.default_rng(2).standard_normal(x.shape)
    gamma = gamma if with_gamma else None
    beta = beta if with_beta and centered else None

    def loss(x, gamma, beta):
        y = keras_layer_norm(x, gamma, beta) if centered else \
            keras_rms_norm(x, 1 if gamma is None else gamma, EPS)
        return float((r * y).sum())

    dgamma, dbeta, dx = np.empty(5), np.empty(5), np.empty_like(x)
    be.row_norm_backward(x, r.copy(), gamma, EPS, centered, dgamma, dbeta, dx)
    h = 1e-6
    checks = [(x, dx)] + [(w, g) for w, g in ((gamma, dgamma), (beta, dbeta)) if w is not None]
    if beta is None:  # dbeta is sum(dy) whether or not the layer has beta
        np.testing.assert_allclose(dbeta, r.sum(axis=0), rtol=1e-12)
    for array, grad in checks:
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + h
            up = loss(x, gamma, beta)
            array[index] = saved - h
            down = loss(x, gamma, beta)
            array[index] = saved
            assert grad[index] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)


def test_dx_may_be_dy_and_each_output_is_optional():
    be = NumpyBackend()
    x, gamma, _ = inputs(np.float32, n=9, k=7)
    dy = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    want = [np.empty(7, np.float32), np.empty(7, np.float32), np.empty_like(x)]
    be.row_norm_backward(x, dy, gamma, EPS, True, *want)
    in_place = dy.copy()
    be.row_norm_backward(x, in_place, gamma, EPS, True, None, None, in_place)
    np.testing.assert_array_equal(in_place, want[2])
    only = np.empty(7, np.float32)
    be.row_norm_backward(x, dy, gamma, EPS, True, only, None, None)
    np.testing.assert_array_equal(only, want[0])


def ln_model(norm=None, device="cpu", dtype=None):
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(8, input_shape=(5,)),
                               norm if norm is not None else layers.LayerNormalization(),
                               layers.Activation("relu"),
                               layers.Dense(3, activation="softmax")], device=device)
    model.compile(optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=64):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


def test_weights_counts_and_config_as_keras(capsys):
    model = ln_model()
    norm = model.layers[1]
    gamma, beta = norm.get_weights()
    assert gamma.shape == beta.shape == (8,) and (gamma == 1).all() and (beta == 0).all()
    assert [v.name.split("/")[1] for v in model.trainable_weights[2:4]] == ["gamma", "beta"]
    model.summary()
    text = capsys.readouterr().out
    assert "Total params: 91" in text and "Non-trainable params: 0" in text  # 48 + 16 + 27
    assert norm.get_config()["epsilon"] == 1e-3 and norm.get_config()["axis"] == -1
    rms = ln_model(layers.RMSNormalization()).layers[1]
    assert [name for name, *_ in rms.param_specs()] == ["scale"]
    assert rms.get_config()["epsilon"] == 1e-6
    bare = layers.LayerNormalization(center=False, scale=False)
    assert ln_model(bare).layers[1].get_weights() == []


@pytest.mark.parametrize("make", [layers.LayerNormalization, layers.RMSNormalization])
def test_the_model_predicts_keras_formula_and_trains(make):
    x, y = data()
    model = ln_model(make())
    before = model.evaluate(x, y, verbose=0)[0]
    model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert model.evaluate(x, y, verbose=0)[0] < before
    kernel, bias = model.layers[0].get_weights()
    weights = model.layers[1].get_weights()
    z = x.astype(np.float64) @ kernel + bias
    hidden = keras_layer_norm(z, *weights) if make is layers.LayerNormalization else \
        keras_rms_norm(z, weights[0])
    kernel, bias = model.layers[3].get_weights()
    logits = np.maximum(hidden, 0) @ kernel + bias
    want = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x, verbose=0), want / want.sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_a_frozen_layer_keeps_its_weights_and_passes_gradients_on():
    x, y = data()
    model = ln_model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.layers[1].trainable = False
    model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
    frozen, before = model.layers[1].get_weights(), model.layers[0].get_weights()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(frozen, model.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[0], model.layers[0].get_weights()[0])


@pytest.mark.parametrize("make", [layers.LayerNormalization, layers.RMSNormalization])
def test_save_load_and_resume_are_exact(tmp_path, make):
    x, y = data()
    straight = ln_model(make(epsilon=1e-4))
    straight.fit(x, y, epochs=3, batch_size=16, verbose=0)
    resumed = ln_model(make(epsilon=1e-4))
    resumed.fit(x, y, epochs=1, batch_size=16, verbose=0)
    resumed.save(tmp_path / "ln.keras")
    loaded = models.load_model(tmp_path / "ln.keras")
    loaded.fit(x, y, epochs=3, initial_epoch=1, batch_size=16, verbose=0)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert type(loaded.layers[1]) is make
    assert loaded.layers[1].get_config() == resumed.layers[1].get_config()


def test_recorded_steps_equal_eager_ones(monkeypatch):
    x, y = data()  # batch 24 of 64: a partial last batch too
    assert_recorded_equals_eager(ln_model, x, y, monkeypatch, epochs=2, batch_size=24)


def test_a_gamma_regularizer_adds_its_penalty_to_the_loss():
    x, y = data()
    plain = ln_model()
    penalized = ln_model(layers.LayerNormalization(gamma_regularizer=gpudnn.regularizers.l2(0.5)))
    gap = penalized.evaluate(x, y, verbose=0)[0] - plain.evaluate(x, y, verbose=0)[0]
    assert gap == pytest.approx(0.5 * 8, rel=1e-5)  # gamma starts at ones: 0.5 * sum(1^2)


def test_it_trains_under_a_mixed_policy():
    pytest.importorskip("ml_dtypes")
    x, y = data()
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(8, input_shape=(5,), dtype="mixed_bfloat16"),
                               layers.LayerNormalization(dtype="mixed_bfloat16"),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.layers[1].get_weights()[0].dtype == np.float32


@pytest.mark.parametrize("make,bad", [
    (layers.LayerNormalization, {"axis": 0}), (layers.LayerNormalization, {"epsilon": 0}),
    (layers.LayerNormalization, {"rms_scaling": True}), (layers.RMSNormalization, {"axis": 2}),
    (layers.RMSNormalization, {"epsilon": -1.0})])
def test_bad_arguments_are_refused(make, bad):
    with pytest.raises(gpudnn.errors.InvalidInputError):
        make(**bad)
