"""BatchNormalization, LayerNormalization and freezing on a real GPU (skipped without one; bench/gpu_check.sh runs
it): the CUDA kernels against the NumPy reference, a captured training step against the CPU's,
and frozen weights bit-identical under CUDA graphs."""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.backend import NumpyBackend
from conftest import require_cuda

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cupy():
    require_cuda()
    import cupy
    return cupy


def bn_model(device):
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(64, input_shape=(20,)), layers.BatchNormalization(),
                               layers.Activation("relu"), layers.Dense(4, activation="softmax")],
                              device=device)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def data(n=512):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, 20)).astype(np.float32),
            np.eye(4, dtype=np.float32)[rng.integers(0, 4, n)])


@pytest.mark.parametrize("n,k", [(128, 512), (1000, 7), (3, 1)])
def test_batchnorm_kernels_equal_the_reference(cupy, n, k):
    from gpudnn.backend import backend_for

    gpu, cpu = backend_for("cuda:0"), NumpyBackend()
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((n, k)) * 2 + 1).astype(np.float32)
    vecs = [rng.uniform(0.5, 1.5, k).astype(np.float32) for _ in range(4)]
    outs = [np.empty_like(x), np.empty(k, np.float32), np.empty(k, np.float32)]
    moving = [vecs[2].copy(), vecs[3].copy()]
    cpu.batchnorm_forward(x, vecs[0], vecs[1], *moving, 0.99, 1e-3, *outs)
    g = [cupy.asarray(a) for a in (x, *vecs)]
    g_out = [cupy.empty_like(cupy.asarray(o)) for o in outs]
    gpu.batchnorm_forward(g[0], g[1], g[2], g[3], g[4], 0.99, 1e-3, *g_out)
    for got, want in zip(g_out + [g[3], g[4]], outs + moving):
        np.testing.assert_allclose(cupy.asnumpy(got), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_the_fused_batchnorm_activation_kernels_equal_the_reference(cupy, activation):
    """The training passes with the Activation after the layer fused (forward f(bn(x)),
    backward through f from its output), on the GPU against NumPy's."""
    from gpudnn.backend import backend_for

    gpu, cpu = backend_for("cuda:0"), NumpyBackend()
    rng = np.random.default_rng(2)
    n, k = 256, 300
    x = (rng.standard_normal((n, k)) * 2 + 1).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 1.5, k).astype(np.float32), rng.standard_normal(k).astype(
        np.float32)
    dy = rng.standard_normal((n, k)).astype(np.float32)
    results = []
    for be, wrap in ((cpu, np.asarray), (gpu, cupy.asarray)):
        out, mean, inv_std = wrap(np.empty_like(x)), wrap(np.zeros(k, np.float32)), \
            wrap(np.zeros(k, np.float32))
        mm, mv = wrap(np.zeros(k, np.float32)), wrap(np.ones(k, np.float32))
        dgamma, dbeta, dx = wrap(np.empty(k, np.float32)), wrap(np.empty(k, np.float32)), \
            wrap(np.empty_like(x))
        be.batchnorm_forward(wrap(x), wrap(gamma), wrap(beta), mm, mv, 0.99, 1e-3, out, mean,
                             inv_std, activation, 1.0)
        be.batchnorm_backward(wrap(x), wrap(dy), wrap(gamma), mean, inv_std, dgamma, dbeta, dx,
                              out, activation, 1.0)
        results.append([cupy.asnumpy(a) if be is gpu else a
                        for a in (out, mm, mv, dgamma, dbeta, dx)])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_a_batchnorm_model_trains_on_the_gpu_as_on_the_cpu(cupy):
    x, y = data()
    gpu = bn_model("cuda:0").fit(x, y, epochs=3, batch_size=64, verbose=0)
    cpu = bn_model("cpu").fit(x, y, epochs=3, batch_size=64, verbose=0)
    np.testing.assert_allclose(gpu.history["loss"], cpu.history["loss"], rtol=1e-3)


def test_frozen_weights_stay_bit_identical_under_cuda_graphs(cupy):
    x, y = data()
    model = bn_model("cuda:0")
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    model.layers[0].trainable = False
    model.layers[1].trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    frozen = model.layers[0].get_weights() + model.layers[1].get_weights()
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    for a, b in zip(frozen, model.layers[0].get_weights() + model.layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert model._steps.graphs >= 1


@pytest.mark.parametrize("centered", [True, False])
def test_row_normalization_on_cupy_equals_the_reference(cupy, centered):
    from gpudnn.backend import backend_for
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((256, 96)) * 3 + 1).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, 96).astype(np.float32)
    beta = rng.standard_normal(96).astype(np.float32)
    results = []
    for be, wrap in ((NumpyBackend(), np.asarray), (backend_for("cuda:0"), cupy.asarray)):
        out, dx = wrap(np.empty_like(x)), wrap(np.empty_like(x))
        dgamma, dbeta = wrap(np.empty(96, np.float32)), wrap(np.empty(96, np.float32))
        be.row_norm_forward(wrap(x), wrap(gamma), wrap(beta), 1e-3, centered, out)
        be.row_norm_backward(wrap(x), wrap(dy), wrap(gamma), 1e-3, centered, dgamma, dbeta, dx)
        results.append([cupy.asnumpy(a) if wrap is cupy.asarray else a
                        for a in (out, dgamma, dbeta, dx)])
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_layer_normalization_model_trains_under_cuda_graphs_as_on_the_cpu(cupy):
    x, y = data()
    histories = []
    for device in ("cuda:0", "cpu"):
        gpudnn.set_seed(0)
        model = models.Sequential([layers.Dense(64, input_shape=(20,)),
                                   layers.LayerNormalization(), layers.Activation("relu"),
                                   layers.Dense(4, activation="softmax")], device=device)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        histories.append(model.fit(x, y, epochs=3, batch_size=64, verbose=0).history["loss"])
        if device != "cpu":
            assert model._steps.graphs >= 1
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-3)


def test_constrained_weights_train_under_cuda_graphs_as_on_the_cpu(cupy):
    from gpudnn import constraints
    x, y = data()
    results = []
    for device in ("cuda:0", "cpu"):
        gpudnn.set_seed(0)
        model = models.Sequential([
            layers.Dense(64, activation="relu", input_shape=(20,),
                         kernel_constraint=constraints.MaxNorm(1.0)),
            layers.Dense(4, activation="softmax", kernel_constraint=constraints.UnitNorm())],
            device=device)
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=64, verbose=0)
        results.append(model.get_weights())
        if device != "cpu":
            assert model._steps.graphs >= 1
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert np.linalg.norm(results[0][0], axis=0).max() <= 1 + 1e-5
