"""BatchNormalization followed by an Activation layer runs as one pair in the training step: the
forward pass writes f(batchnorm(x)) and the backward pass takes the gradient through f from
f's output, in the same passes over the batch. Checked: the fused ops equal the two layers'
separate ops to the bit on NumPy, the compiled CPU backend and the CUDA kernels (run on the CPU
by the harness), for every activation that fuses; a model trains to the same bits fused and
unfused; the pair is fused only where that is the same computation (not a frozen layer, not
the model's output, not across a dtype change)."""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.backend.capture import record_calls
from gpudnn.backend.normalization import FUSED_ACTIVATIONS
from gpudnn.training.step import TrainingStep
from kernel_harness import host

EPS, MOMENTUM = 1e-3, 0.99


@pytest.fixture(scope="module")
def gpu():
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


def operands(dtype, n, k, seed=0):
    """Random operands with the edges: column 0 constant with gamma < 0 and beta = -0.0 (its
    normalized value is -0.0, which the activation kernels' zero bias makes +0.0), and a few
    gradients below float32's smallest normal number (subnormals, flushed by the kernels)."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, k)) * 2 + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, k).astype(dtype)
    beta = rng.standard_normal(k).astype(dtype)
    dy = rng.standard_normal((n, k)).astype(dtype)
    x[:, 0], gamma[0], beta[0] = 0.75, -1.0, -0.0
    dy[1, :5] = 1e-39
    return x, gamma, beta, dy


def assert_same_bits(a, b):
    """Equal to the bit (assert_array_equal takes -0.0 == 0.0)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def fused_and_separate(be, wrap, x, gamma, beta, dy, kind, alpha):
    """(fused results, separate results): forward output, moving statistics, mean, inv_std,
    then dgamma, dbeta, dx; each as host arrays."""
    n, k = x.shape
    results = []
    for fused in (True, False):
        out, mean, inv_std = (wrap(np.empty_like(x)), wrap(np.zeros(k, x.dtype)),
                              wrap(np.zeros(k, x.dtype)))
        mm, mv = wrap(np.zeros(k, x.dtype)), wrap(np.ones(k, x.dtype))
        dgamma, dbeta, dx = (wrap(np.empty(k, x.dtype)), wrap(np.empty(k, x.dtype)),
                             wrap(np.empty_like(x)))
        gx, gg, gb, gdy = wrap(x), wrap(gamma), wrap(beta), wrap(dy)
        if fused:
            be.batchnorm_forward(gx, gg, gb, mm, mv, MOMENTUM, EPS, out, mean, inv_std, kind,
                                 alpha)
            be.batchnorm_backward(gx, gdy, gg, mean, inv_std, dgamma, dbeta, dx, out, kind,
                                  alpha)
        else:
            z, g = wrap(np.empty_like(x)), wrap(np.empty_like(x))
            be.batchnorm_forward(gx, gg, gb, mm, mv, MOMENTUM, EPS, z, mean, inv_std)
            be.activation_forward(kind, z, None, out, alpha)
            be.activation_backward(kind, out, gdy, g, alpha)
            be.batchnorm_backward(gx, g, gg, mean, inv_std, dgamma, dbeta, dx)
        results.append([np.asarray(a) for a in (out, mm, mv, mean, inv_std, dgamma, dbeta, dx)])
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", FUSED_ACTIVATIONS)
def test_fused_ops_equal_the_two_layers_ops_on_numpy_and_the_compiled_cpu_backend(
        compiled, kernels_only, kind, dtype):
    x, gamma, beta, dy = operands(dtype, 64, 40)
    alpha = 0.3 if kind in ("leaky_relu", "elu") else 0.0
    for be in (NumpyBackend(), compiled):
        fused, separate = fused_and_separate(be, lambda a: a, x, gamma, beta, dy, kind, alpha)
        for a, b in zip(fused, separate):
            assert_same_bits(a, b)


@pytest.mark.parametrize("kind", FUSED_ACTIVATIONS)
def test_the_cuda_kernels_fuse_to_the_bit_and_match_the_reference(gpu, kind):
    x, gamma, beta, dy = operands(np.float32, 33, 9)
    alpha = 0.3 if kind in ("leaky_relu", "elu") else 0.0
    fused, separate = fused_and_separate(gpu, host, x, gamma, beta, dy, kind, alpha)
    for a, b in zip(fused, separate):
        if kind == "linear":  # the pass without an activation; the separate linear adds +0.0
            np.testing.assert_array_equal(a, b)
        else:
            assert_same_bits(a, b)
    want, _ = fused_and_separate(NumpyBackend(), lambda a: a, x, gamma, beta, dy, kind, alpha)
    ulp = 64 * np.finfo(np.float32).eps
    for a, b in zip(fused, want):
        np.testing.assert_allclose(a, b, rtol=ulp, atol=ulp)


def model(kind="relu", device="cpu", output_activation=False):
    """Dense -> BatchNormalization -> Activation(kind) [-> Dense softmax]; device "numpy": the
    NumPy reference backend (the CPU's arrays, so it can stand in after compile)."""
    gpudnn.set_seed(0)
    stack = [layers.Dense(12, input_shape=(6,)), layers.BatchNormalization(),
             layers.Activation(kind)]
    if not output_activation:
        stack.append(layers.Dense(3, activation="softmax"))
    m = models.Sequential(stack, device="cpu")
    m.compile(optimizer=optimizers.Adam(0.01),
              loss="mse" if output_activation else "categorical_crossentropy")
    if device == "numpy":
        m.backend = NumpyBackend()
    return m


def data():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((96, 6)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[rng.integers(0, 3, 96)]


def calls_of_a_step(m):
    x, y = data()
    target = y[:16] if m.output_dim == 3 else np.tile(x[:16], 2)  # (16, 12) for the MSE head
    m.fit(x[:16], target, epochs=1, verbose=0)
    ws = m._workspace(16, with_grads=True)
    totals = m._new_totals()
    recorder = record_calls(m, lambda: m._device_step(ws, totals))
    return [call.func.__name__ for call in recorder.calls]


@pytest.mark.parametrize("kind", ["relu", "tanh", "elu"])
@pytest.mark.parametrize("device", ["cpu", "numpy"])
def test_a_model_trains_to_the_same_bits_fused_and_unfused(monkeypatch, kind, device):
    x, y = data()
    fused = model(kind, device)
    h_fused = fused.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
    calls = calls_of_a_step(model(kind, device))
    assert calls[calls.index("batchnorm_forward") + 1] == "matmul"  # no activation pass between
    monkeypatch.setattr(TrainingStep, "_fused_activation", lambda self, i, ws: None)
    separate = model(kind, device)
    h_separate = separate.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False).history
    assert h_fused == h_separate
    for a, b in zip(fused.get_weights(), separate.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fused.predict(x, verbose=0), separate.predict(x, verbose=0))


def test_the_pair_is_fused_only_where_it_is_the_same_computation():
    # trained: one batchnorm_forward writes the activation's output, no separate relu pass
    calls = calls_of_a_step(model("relu"))
    assert calls.count("batchnorm_forward") == 1 and calls.count("batchnorm_backward") == 1
    # the Dense layers' bias (+ softmax) passes only
    assert calls[calls.index("batchnorm_forward") + 1] == "matmul"
    assert calls.count("activation_forward") == 2
    # frozen: the layer runs in inference mode, the Activation on its own
    frozen = model("relu")
    frozen.layers[1].trainable = False
    frozen.compile(optimizer="adam", loss="categorical_crossentropy")
    calls = calls_of_a_step(frozen)
    assert "batchnorm_forward" not in calls and calls.count("activation_forward") == 3
    # the model's output: its gradient may come from the loss already (not fused)
    assert model("sigmoid", output_activation=True)._bn_fusions == frozenset()
    calls = calls_of_a_step(model("sigmoid", output_activation=True))
    assert calls.count("activation_forward") == 2
    # softmax is not element-wise, linear is a copy: never fused
    assert model("softmax")._bn_fusions == frozenset()
    assert model("linear")._bn_fusions == frozenset()


def test_not_across_a_dtype_change_under_a_mixed_policy():
    """mixed_float16: BatchNormalization computes in float32, the Activation in 16 bits; the
    pair stays two passes (the cast between them is the Activation's)."""
    from gpudnn import mixed_precision

    mixed_precision.set_global_policy("mixed_float16")
    try:
        m = model("relu")
    finally:
        mixed_precision.set_global_policy("float32")
    ws = m._workspace(16, with_grads=True)
    assert m._bn_fusions == {1} and m._fused_activation(1, ws) is None
    calls = calls_of_a_step(m)
    assert calls[calls.index("batchnorm_forward") + 1] == "activation_forward"


def test_a_subclass_with_passes_of_its_own_is_not_fused():
    """A BatchNormalization subclass that overrides forward (with the signature it had before
    the fusion) runs its own pass and the Activation its own."""
    calls = []

    class Logged(layers.BatchNormalization):
        def forward(self, backend, x, out, training=False, trains_in_inference=False):
            calls.append(training)
            super().forward(backend, x, out, training, trains_in_inference)

    gpudnn.set_seed(0)
    m = models.Sequential([layers.Dense(12, input_shape=(6,)), Logged(), layers.Activation("relu"),
                           layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="categorical_crossentropy")
    assert m._bn_fusions == frozenset()
    x, y = data()
    m.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert calls and all(calls)
