"""BatchNormalization as Keras 3: the NumPy reference against Keras's formula in float64 and
against central differences, the CUDA kernels (run on the CPU through the CuPy backend's own
call sites, kernel_harness) against the NumPy reference, and the layer in a model: Keras's
weight order and counts, moving statistics, inference, a frozen layer in inference mode,
saving and exact resume, recorded = eager."""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from kernel_harness import host
from conftest import assert_recorded_equals_eager

EPS, MOMENTUM = 1e-3, 0.99


@pytest.fixture(scope="module")
def gpu():
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


def keras_forward(x, gamma, beta, mm, mv):
    """Keras 3's training forward in float64: biased batch moments."""
    mean, var = x.mean(axis=0), x.var(axis=0)
    y = gamma * (x - mean) / np.sqrt(var + EPS) + beta
    return y, mm * MOMENTUM + mean * (1 - MOMENTUM), mv * MOMENTUM + var * (1 - MOMENTUM)


def inputs(dtype, n=16, k=7, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, k)) * 3 + 1).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, k).astype(dtype)
    beta = rng.standard_normal(k).astype(dtype)
    mm = rng.standard_normal(k).astype(dtype)
    mv = rng.uniform(0.5, 2, k).astype(dtype)
    return x, gamma, beta, mm, mv


def run_forward(be, x, gamma, beta, mm, mv, wrap=lambda a: a):
    k = x.shape[1]
    out, mean, inv_std = (wrap(np.empty_like(x)), wrap(np.empty(k, x.dtype)),
                          wrap(np.empty(k, x.dtype)))
    mm, mv = wrap(mm.copy()), wrap(mv.copy())
    be.batchnorm_forward(wrap(x), wrap(gamma), wrap(beta), mm, mv, MOMENTUM, EPS, out, mean,
                         inv_std)
    return np.asarray(out), np.asarray(mm), np.asarray(mv), mean, inv_std


def test_the_reference_is_keras_formula():
    x, gamma, beta, mm, mv = inputs(np.float64)
    out, new_mm, new_mv, _, _ = run_forward(NumpyBackend(), x, gamma, beta, mm, mv)
    want, want_mm, want_mv = keras_forward(x, gamma, beta, mm, mv)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_mm, want_mm, rtol=1e-13)
    np.testing.assert_allclose(new_mv, want_mv, rtol=1e-13)
    inference = np.empty_like(x)
    NumpyBackend().batchnorm_inference(x, gamma, beta, mm, mv, EPS, inference)
    np.testing.assert_allclose(inference, gamma * (x - mm) / np.sqrt(mv + EPS) + beta,
                               rtol=1e-13)


def test_the_backward_pass_is_the_gradient_by_central_differences():
    """L = sum(r * y(x, gamma, beta)) in float64; every partial derivative by (L(+h) - L(-h))/2h."""
    be = NumpyBackend()
    x, gamma, beta, mm, mv = inputs(np.float64, n=6, k=3, seed=1)
    r = np.random.default_rng(2).standard_normal(x.shape)

    def loss(x, gamma, beta):
        return float((r * keras_forward(x, gamma, beta, mm, mv)[0]).sum())

    _, _, _, mean, inv_std = run_forward(be, x, gamma, beta, mm, mv)
    dgamma, dbeta, dx = np.empty(3), np.empty(3), np.empty_like(x)
    be.batchnorm_backward(x, r, gamma, mean, inv_std, dgamma, dbeta, dx)
    h = 1e-6
    for array, grad in ((x, dx), (gamma, dgamma), (beta, dbeta)):
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + h
            up = loss(x, gamma, beta)
            array[index] = saved - h
            down = loss(x, gamma, beta)
            array[index] = saved
            assert grad[index] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_kernels_equal_the_reference(gpu, dtype):
    x, gamma, beta, mm, mv = inputs(dtype, n=33, k=9)
    ulp = 4 * np.finfo(dtype).eps
    want = run_forward(NumpyBackend(), x, gamma, beta, mm, mv)
    got = run_forward(gpu, x, gamma, beta, mm, mv, wrap=host)
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), b, rtol=ulp, atol=ulp)
    dy = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    mean, inv_std = want[3], want[4]
    grads = [np.empty(9, dtype), np.empty(9, dtype), np.empty_like(x)]
    NumpyBackend().batchnorm_backward(x, dy, gamma, mean, inv_std, *grads)
    got_grads = [host(np.empty_like(g)) for g in grads]
    gpu.batchnorm_backward(host(x), host(dy), host(gamma), host(mean), host(inv_std),
                           *got_grads)
    for a, b in zip(got_grads, grads):
        np.testing.assert_allclose(a, b, rtol=64 * ulp, atol=64 * ulp)
    inference, got = np.empty_like(x), host(np.empty_like(x))
    NumpyBackend().batchnorm_inference(x, gamma, beta, mm, mv, EPS, inference)
    gpu.batchnorm_inference(host(x), host(gamma), host(beta), host(mm), host(mv), EPS, got)
    np.testing.assert_allclose(got, inference, rtol=ulp, atol=ulp)
    back, got = np.empty_like(x), host(np.empty_like(x))
    NumpyBackend().batchnorm_inference_backward(dy, gamma, mv, EPS, back)
    gpu.batchnorm_inference_backward(host(dy), host(gamma), host(mv), EPS, got)
    np.testing.assert_allclose(got, back, rtol=ulp, atol=ulp)
    # the optional outputs: no dgamma, no dbeta, no dx (a layer without them, a first layer)
    only_dx = host(np.empty_like(x))
    gpu.batchnorm_backward(host(x), host(dy), host(gamma), host(mean), host(inv_std), None,
                           None, only_dx)
    np.testing.assert_allclose(only_dx, grads[2], rtol=64 * ulp, atol=64 * ulp)


def bn_model(device="cpu", **bn):
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(8, input_shape=(5,)),
                               layers.BatchNormalization(**bn),
                               layers.Activation("relu"),
                               layers.Dense(3, activation="softmax")], device=device)
    model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def data(n=64):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]


def test_weights_in_keras_order_and_counts(capsys):
    model = bn_model()
    bn = model.layers[1]
    assert [w.shape for w in bn.get_weights()] == [(8,)] * 4
    gamma, beta, mm, mv = bn.get_weights()
    assert (gamma == 1).all() and (beta == 0).all() and (mm == 0).all() and (mv == 1).all()
    assert [v.name.split("/")[1] for v in model.non_trainable_weights] == \
        ["moving_mean", "moving_variance"]
    model.summary()
    text = capsys.readouterr().out
    assert "Total params: 107" in text  # Keras: 48 + 32 + 27
    assert "Trainable params: 91" in text and "Non-trainable params: 16" in text
    assert model.optimizer.slots == {}  # plain SGD keeps no slots; a moment-keeping one:
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert model.optimizer.slots["m"].shape == (91,)  # the moving statistics have none
    no_center = bn_model(center=False, scale=False).layers[1]
    assert [name for name, *_ in no_center.param_specs()] == ["moving_mean", "moving_variance"]


def test_one_step_moves_the_statistics_by_keras_rule_and_inference_uses_them():
    x, y = data()
    model = bn_model()
    model.optimizer.learning_rate = 0.0  # only the statistics move
    first = model.layers[0]
    z = x @ first.get_weights()[0] + first.get_weights()[1]
    model.train_on_batch(x, y)
    _, _, mm, mv = model.layers[1].get_weights()
    np.testing.assert_allclose(mm, z.mean(axis=0) * (1 - MOMENTUM), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mv, MOMENTUM + z.var(axis=0) * (1 - MOMENTUM), rtol=1e-5)
    gamma, beta, mm, mv = model.layers[1].get_weights()
    hidden = np.maximum(gamma * (z - mm) / np.sqrt(mv + EPS) + beta, 0)
    kernel, bias = model.layers[3].get_weights()
    logits = hidden @ kernel + bias
    want = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(model.predict(x), want / want.sum(1, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_a_frozen_layer_runs_in_inference_mode_and_keeps_its_statistics():
    x, y = data()
    model = bn_model()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.layers[1].trainable = False
    model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
    frozen = model.layers[1].get_weights()
    before = model.layers[0].get_weights()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for a, b in zip(frozen, model.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(before[0], model.layers[0].get_weights()[0])  # dx flowed through


def test_save_load_and_resume_are_exact(tmp_path):
    x, y = data()
    straight = bn_model()
    straight.fit(x, y, epochs=3, batch_size=16, verbose=0)
    resumed = bn_model()
    resumed.fit(x, y, epochs=1, batch_size=16, verbose=0)
    resumed.save(tmp_path / "bn.gpudnn")
    loaded = models.load_model(tmp_path / "bn.gpudnn")
    loaded.fit(x, y, epochs=3, initial_epoch=1, batch_size=16, verbose=0)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert isinstance(loaded.layers[1], layers.BatchNormalization)
    assert loaded.layers[1].get_config() == resumed.layers[1].get_config()


def test_recorded_steps_equal_eager_ones(monkeypatch):
    x, y = data()  # batch 24 of 64: a partial last batch too
    assert_recorded_equals_eager(bn_model, x, y, monkeypatch, epochs=2, batch_size=24)


@pytest.mark.parametrize("bad", [{"axis": 0}, {"momentum": 1.5}, {"epsilon": 0}])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(gpudnn.errors.InvalidInputError):
        layers.BatchNormalization(**bad)



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,k", [(16, 7), (128, 256), (3, 1), (1000, 33)])
def test_the_compiled_cpu_backend_runs_the_row_kernels_bit_for_bit(compiled, kernels_only, dtype,
                                                                   n, k):
    """On a CPU the column kernels (a thread per feature walking its column: coalesced on a GPU)
    lose to NumPy's row-wise passes; the row kernels (kernels/normalization.cu, *_rows) walk the
    batch row by row with NumPy's operations: the reference's results to the bit, forward,
    moving statistics and backward (with and without dgamma, dbeta and dx)."""
    x, gamma, beta, mm, mv = inputs(dtype, n=n, k=k)
    want = run_forward(NumpyBackend(), x, gamma, beta, mm, mv)
    got = run_forward(compiled, x, gamma, beta, mm, mv)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    dy = np.random.default_rng(5).standard_normal((n, k)).astype(dtype)
    mean, inv_std = want[3], want[4]
    for wanted in [(True, True, True), (False, False, True), (True, True, False)]:
        grads = [[np.empty(k, dtype), np.empty(k, dtype), np.empty((n, k), dtype)]
                 for _ in range(2)]
        for be, g in zip((NumpyBackend(), compiled), grads):
            be.batchnorm_backward(x, dy, gamma, mean, inv_std,
                                  *(a if on else None for a, on in zip(g, wanted)))
        for a, b, on in zip(grads[1], grads[0], wanted):
            if on:
                np.testing.assert_array_equal(a, b)


def test_without_gamma_and_beta_it_still_normalizes_by_the_batch_and_moves_its_statistics():
    x, y = data()
    model = bn_model(center=False, scale=False)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    moving_mean, _ = model.layers[1].get_weights()
    assert np.abs(moving_mean).max() > 0 and 1 not in model._frozen


def test_a_gamma_regularizer_changed_mid_fit_makes_the_step_record_again(monkeypatch):
    x, y = data()

    class Stronger(gpudnn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.layers[1].gamma_regularizer.l2 = 5.0

    results = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        model = bn_model(gamma_regularizer=gpudnn.regularizers.l2(0.0))
        history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[Stronger()])
        results.append((history.history["loss"], model.layers[1].get_weights()[0]))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
