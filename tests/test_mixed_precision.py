"""Mixed precision on the CPU: Keras 3's dtype-policy API, and the semantics of a mixed model
(float32 master weights and optimizer state, a 16-bit copy the layers compute on, 16-bit
activations and gradients, a float32 output) against an independent NumPy reference that
rounds with ml_dtypes at the same points."""

from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import gpudnn
from gpudnn import config, layers, mixed_precision, models, optimizers
from gpudnn.backend.numpy_backend import NumpyBackend
from gpudnn.utils import to_categorical

from conftest import blobs

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.fixture(autouse=True)
def _no_global_policy():
    yield
    mixed_precision.set_global_policy(None)


def small_model(policy=None, hidden_activation="relu", extra=()):
    return models.Sequential([layers.Dense(16, activation=hidden_activation, input_shape=(6,),
                                           dtype=policy),
                              *extra,
                              layers.Dense(3, activation="softmax", dtype=policy)])


def data(n=200):
    x, labels = blobs(n=n)
    return x, to_categorical(labels, 3)


# ---------------------------------------------------------------------- the policy API
def test_policies_have_keras_names_and_dtypes():
    for name, variable, compute in [("float32", "float32", "float32"),
                                    ("float64", "float64", "float64"),
                                    ("mixed_float16", "float32", "float16"),
                                    ("mixed_bfloat16", "float32", "bfloat16")]:
        policy = mixed_precision.Policy(name)
        assert (policy.name, policy.variable_dtype, policy.compute_dtype) == \
            (name, variable, compute)
        assert gpudnn.DTypePolicy(**policy.get_config()) == policy
        assert repr(policy) == f'<DTypePolicy "{name}">'


def test_pure_16_bit_and_unknown_policies_are_refused_with_the_fix():
    with pytest.raises(gpudnn.InvalidInputError, match="mixed_float16"):
        mixed_precision.Policy("float16")
    with pytest.raises(gpudnn.InvalidInputError, match="mixed_bfloat16"):
        layers.Dense(3, dtype="bfloat16")
    with pytest.raises(gpudnn.InvalidInputError, match="unknown dtype policy"):
        mixed_precision.set_global_policy("mixed_int8")


def test_the_global_policy_and_its_keras_3_aliases():
    assert mixed_precision.global_policy().name == "float32"
    mixed_precision.set_global_policy("mixed_bfloat16")
    assert config.dtype_policy() == mixed_precision.global_policy() == \
        mixed_precision.Policy("mixed_bfloat16")
    config.set_dtype_policy("float64")
    assert mixed_precision.dtype_policy().name == "float64"
    config.set_dtype_policy(None)
    assert mixed_precision.global_policy().name == gpudnn.floatx()


def test_a_layer_takes_the_global_policy_when_made_and_keeps_it():
    before = layers.Dense(4)
    mixed_precision.set_global_policy("mixed_float16")
    during = layers.Dense(4)
    mixed_precision.set_global_policy(None)
    assert before.dtype_policy.name == "float32"
    assert (during.dtype_policy.name, during.compute_dtype, during.variable_dtype, during.dtype) \
        == ("mixed_float16", "float16", "float32", "float32")
    assert layers.Dense(4, dtype=mixed_precision.Policy("mixed_bfloat16")).compute_dtype == \
        "bfloat16"


@pytest.mark.parametrize("make", [lambda p: layers.Dense(4, dtype=p),
                                  lambda p: layers.Activation("tanh", dtype=p),
                                  lambda p: layers.LeakyReLU(0.2, dtype=p),
                                  lambda p: layers.ReLU(dtype=p), lambda p: layers.Softmax(dtype=p),
                                  lambda p: layers.ELU(dtype=p),
                                  lambda p: layers.Dropout(0.5, dtype=p),
                                  lambda p: layers.GaussianNoise(0.1, dtype=p),
                                  lambda p: layers.GaussianDropout(0.1, dtype=p),
                                  lambda p: layers.BatchNormalization(dtype=p),
                                  lambda p: layers.Flatten(dtype=p)])
def test_every_layer_takes_dtype_and_its_config_keeps_it(make):
    layer = make("mixed_bfloat16")
    assert layer.dtype_policy.name == "mixed_bfloat16"
    again = layers.deserialize(layers.serialize(layer))
    assert again.dtype_policy.name == "mixed_bfloat16" and again.get_config() == \
        layer.get_config()


def test_summary_shows_the_policy_where_it_is_not_float32(capsys):
    model = models.Sequential([layers.Dense(8, input_shape=(4,), dtype="mixed_bfloat16",
                                            name="h"),
                               layers.Dense(2, activation="softmax", name="out")])
    model.summary()
    text = capsys.readouterr().out
    assert "│ h (Dense, mixed_bfloat16) " in text and "│ out (Dense) " in text
    assert text.count("mixed_bfloat16") == 1 and "float32" not in text


# ---------------------------------------------------------------------- a mixed model's buffers
def test_weights_and_optimizer_state_stay_float32_and_layers_compute_in_16_bits():
    x, y = data()
    model = small_model("mixed_bfloat16")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=50, verbose=0)
    assert model.params.dtype == np.float32 and model.grads.dtype == np.float32
    assert all(slot.dtype == np.float32 for slot in model.optimizer.slots.values())
    assert model._half_params.dtype == BF16
    ws = model._workspace(50, with_grads=True)
    assert ws.outputs[0].dtype == BF16 and ws.grads[0].dtype == BF16
    assert ws.outputs[1].dtype == np.float32 and ws.grads[1].dtype == np.float32  # the output
    assert model.predict(x, verbose=0).dtype == np.float32
    assert [w.dtype for w in model.get_weights()] == [np.float32] * 4
    # the copy the layers computed on is the master weights rounded
    np.testing.assert_array_equal(model._half_params, model.params.astype(BF16))


def reference_forward(x, weights):
    """The course rounding points, written out: x and the kernels rounded to bfloat16; each
    GEMM multiplies bfloat16 values and accumulates in float32; a hidden layer rounds its
    GEMM, then relu(z + b) with the float32 bias to bfloat16; the output layer stays float32
    through the softmax."""
    w1, b1, w2, b2 = weights
    w1, w2 = (w.astype(BF16).astype(np.float32) for w in (w1, w2))
    x16 = x.astype(BF16).astype(np.float32)
    z1 = (x16 @ w1).astype(BF16).astype(np.float32)
    h = np.maximum(z1 + b1, 0).astype(BF16).astype(np.float32)
    z2 = h @ w2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_forward_pass_rounds_where_the_reference_does():
    x, y = data(64)
    model = small_model("mixed_bfloat16")
    got = model.predict(x, verbose=0)
    np.testing.assert_allclose(got, reference_forward(x, model.get_weights()), rtol=2e-6,
                               atol=1e-7)
    float32 = small_model()
    float32.set_weights(model.get_weights())
    assert not np.array_equal(float32.predict(x, verbose=0), got)  # the rounding is real


def test_gradients_agree_with_float32_within_bfloat16_precision():
    x, y = data(64)
    model, reference = small_model("mixed_bfloat16"), small_model()
    reference.set_weights(model.get_weights())
    for m in (model, reference):
        m.compile(optimizer="sgd", loss="categorical_crossentropy")
    for got, want in zip(model.gradients(x, y), reference.gradients(x, y)):
        assert np.linalg.norm(got - want) <= 0.02 * np.linalg.norm(want)


def test_a_weight_written_from_the_host_reaches_the_16_bit_copy():
    x, y = data(32)
    model = small_model("mixed_bfloat16")
    first = model.predict(x, verbose=0)
    weights = model.get_weights()
    model.set_weights([w * 2 for w in weights])
    doubled = model.predict(x, verbose=0)
    assert not np.allclose(first, doubled)
    np.testing.assert_allclose(doubled, reference_forward(x, [w * 2 for w in weights]),
                               rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_float32_layers_inside_a_16_bit_model_train(policy):
    """BatchNormalization and Dropout compute in float32: their 16-bit input is widened and
    their input gradient rounded back; the model learns the blobs."""
    x, y = data(300)
    model = small_model(policy, extra=(layers.BatchNormalization(dtype=policy),
                                       layers.Dropout(0.2, dtype=policy),
                                       layers.Dense(8, activation="tanh", dtype=policy)))
    model.compile(optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    ws = model._workspace(32, with_grads=True)
    assert ws.wide_inputs[1] is not None and ws.wide_inputs[1].dtype == np.float32
    assert history.history["accuracy"][-1] > 0.9
    assert model.evaluate(x, y, verbose=0)[1] > 0.9


def test_a_float32_softmax_layer_ends_a_mixed_model_as_keras_recommends():
    mixed_precision.set_global_policy("mixed_bfloat16")
    x, y = data(200)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                               layers.Dense(3), layers.Activation("softmax", dtype="float32")])
    model.compile(optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert model._workspace(32, with_grads=True).outputs[1].dtype == BF16
    assert history.history["accuracy"][-1] > 0.9


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_replay_equals_eager_under_a_mixed_policy(monkeypatch, policy):
    x, y = data(150)
    results = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        gpudnn.set_seed(5)
        model = small_model(policy)
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        results.append(model.get_weights())
    for recorded, eager in zip(*results):
        np.testing.assert_array_equal(recorded, eager)


def test_the_compiled_cpu_backend_matches_numpy_under_a_mixed_policy(compiled):
    x, y = data(150)
    results = []
    for backend in (NumpyBackend(), compiled):
        gpudnn.set_seed(6)
        model = small_model("mixed_bfloat16")
        model.backend = backend
        model.build((6,))
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=32, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "tanh", "elu", "sigmoid", "leaky_relu", "selu",
                                        "softplus"])
def test_the_compiled_backend_runs_the_16_bit_kernels(compiled, kernels_only, activation):
    """A mixed model's hidden activations, forward and backward, are the 16-bit kernel forms
    (kernels_only fails the test on a fallback to NumPy), and its predictions agree with the
    NumPy backend's within bfloat16 rounding."""
    x, y = data(64)
    results = []
    for backend in (compiled, NumpyBackend()):
        gpudnn.set_seed(8)
        model = small_model("mixed_bfloat16", hidden_activation=activation)
        model.backend = backend
        model.build((6,))
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        results.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(results[0], results[1], rtol=0.02, atol=2e-3)


# ---------------------------------------------------------------------- what is refused
def test_a_mixed_layer_in_a_float64_model_is_refused_naming_both():
    with pytest.raises(gpudnn.InvalidInputError, match="float64"):
        models.Sequential([layers.Dense(4, input_shape=(3,), dtype="mixed_bfloat16")],
                          dtype="float64")


def test_one_model_computes_in_one_16_bit_dtype():
    with pytest.raises(gpudnn.InvalidInputError, match="bfloat16 and float16"):
        models.Sequential([layers.Dense(4, input_shape=(3,), dtype="mixed_bfloat16"),
                           layers.Dense(2, dtype="mixed_float16")])


def test_layers_without_dtype_follow_a_float64_model():
    model = models.Sequential([layers.Dense(4, input_shape=(3,))], dtype="float64")
    assert model.layers[0].dtype_policy.name == "float64" and model.params.dtype == np.float64


# ---------------------------------------------------------------------- saving
@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_save_and_load_keep_each_layers_policy_and_resume_exactly(tmp_path, policy):
    x, y = data(128)
    model = small_model(policy)
    model.layers[1].dtype_policy = "float32"
    model.build((6,))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    model.save(tmp_path / "m.gpudnn")
    loaded = models.load_model(tmp_path / "m.gpudnn")
    assert [layer.dtype_policy.name for layer in loaded.layers] == [policy, "float32"]
    assert type(loaded.optimizer) is type(model.optimizer)
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=32, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("tail", [lambda: layers.Dropout(0.0), lambda: layers.Flatten(),
                                  lambda: layers.Dropout(0.3),
                                  lambda: layers.GaussianNoise(0.1)])
def test_the_output_is_float32_behind_a_pass_through_layer(tail):
    """Layers after the last Dense that pass their input through (always, or in inference)
    leave the output float32: the loss is computed in float32 in training and evaluation."""
    x, y = data(64)
    model = small_model("mixed_bfloat16", extra=())
    model.add(tail())
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float32
    assert model(x).dtype == np.float32
    ws = model._workspace(16, with_grads=True)
    assert ws.grads[-1].dtype == np.float32 and ws.outputs[1].dtype == np.float32


def test_a_file_saved_before_policies_loads_in_its_own_dtype(tmp_path):
    """Layer configs without "dtype" (files of earlier versions) keep computing in the saved
    model's dtype even under a mixed global policy."""
    mixed_precision.set_global_policy("mixed_float16")
    model = models.load_model(Path(__file__).parent / "data" / "nested-adam.gpudnn")
    assert {leaf.dtype_policy.name for leaf in model._leaf_layers} == {"float32"}
    assert model._half_params is None and type(model.optimizer).__name__ == "Adam"


def test_without_its_16_bit_kernels_the_compiled_backend_lets_numpy_do_them(compiled,
                                                                            monkeypatch):
    """A compiler without _Float16 (g++ < 12) cannot build the float16 library: NumPy then does
    those ops, with one warning, and training goes on."""
    from gpudnn.backend import host_kernels
    from gpudnn.errors import KernelCompileError

    real = host_kernels.load

    def no_float16(dtype, *args, **kwargs):
        if np.dtype(dtype) == np.float16:
            raise KernelCompileError("g++ rejected the host kernels for float16")
        return real(dtype, *args, **kwargs)

    monkeypatch.setattr(host_kernels, "load", no_float16)
    monkeypatch.setattr(compiled, "_libs", {k: v for k, v in compiled._libs.items()
                                            if k != np.float16})
    monkeypatch.setattr(compiled, "_half_failed", set())
    monkeypatch.setattr(compiled, "_sites", {})
    x, y = data(64)
    model = small_model("mixed_float16")
    model.backend = compiled
    model.build((6,))
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    with pytest.warns(RuntimeWarning, match="float16 kernels did not compile"):
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_16_bit_weights_are_refused_pointing_at_the_mixed_policies():
    for make in (lambda: models.Sequential([layers.Dense(2, input_shape=(3,))],
                                           dtype="float16"),
                 lambda: gpudnn.set_floatx("float16"),
                 lambda: models.Sequential([layers.Dense(2, input_shape=(3,))],
                                           dtype="mixed_bfloat16")):
        with pytest.raises(gpudnn.InvalidInputError, match="mixed dtype policy"):
            make()


def test_bfloat16_data_trains_as_float32_data():
    """bfloat16 inputs and sample weights (ml_dtypes) are read as their float32 values: the
    same training as the float32 data rounded to bfloat16."""
    x, y = data(64)
    runs = []
    for xs, ws in ((x.astype(BF16), np.full(64, 0.5, BF16)),
                   (x.astype(BF16).astype(np.float32), np.full(64, 0.5, np.float32))):
        gpudnn.set_seed(9)
        model = small_model("mixed_bfloat16")
        model.compile(optimizer="sgd", loss="categorical_crossentropy")
        model.fit(xs, y, sample_weight=ws, epochs=1, batch_size=16, verbose=0, shuffle=False)
        runs.append(model.get_weights())
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
