"""Keras's functional API for chains (gpudnn/models/functional.py, layers/symbolic.py):
``Model(inputs, outputs)`` trains exactly as the same Sequential, shows Keras 3's surface
(``layers`` starting with the InputLayer, the summary, the names, inputs / outputs), saves,
loads, clones and nests; a base called with ``training=False`` stays in inference mode, frozen
or fine-tuned (its BatchNormalization's gradients checked by float64 central differences); and
every graph that is not a chain is refused with the reason."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.errors import InvalidInputError


def data(n=64, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, features)).astype(np.float32), rng.integers(0, classes, n)


def mlp_layers():
    return [layers.Dense(16, activation="relu"), layers.Dropout(0.25, seed=3),
            layers.Dense(3, activation="softmax")]


def functional(stack, shape=(12,), **kwargs):
    inputs = x = gpudnn.Input(shape=shape)
    for layer in stack:
        x = layer(x)
    return gpudnn.Model(inputs=inputs, outputs=x, **kwargs)


def test_a_functional_chain_trains_bit_for_bit_as_the_same_sequential():
    x, y = data()
    seq = models.Sequential([gpudnn.Input((12,))] + mlp_layers())
    fun = functional(mlp_layers())
    fun.set_weights(seq.get_weights())
    for model in (seq, fun):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    assert type(fun).__name__ == "Functional"
    assert all(np.array_equal(a, b) for a, b in zip(seq.get_weights(), fun.get_weights()))
    assert np.array_equal(seq.predict(x, verbose=0), fun.predict(x, verbose=0))
    assert seq.evaluate(x, y, verbose=0) == fun.evaluate(x, y, verbose=0)


def test_keras_surface_layers_names_tensors_and_summary():
    gpudnn.utils.clear_session()
    inputs = gpudnn.Input(shape=(28, 28), name="pixels")
    assert isinstance(inputs, gpudnn.KerasTensor) and inputs.shape == (None, 28, 28)
    flat = layers.Flatten()(inputs)
    assert flat.shape == (None, 784) and flat.name == "flatten"
    outputs = layers.Dense(10, activation="softmax")(flat)
    model = gpudnn.Model(inputs, outputs)
    again = gpudnn.Model([inputs], [outputs])
    assert (model.name, again.name) == ("functional", "functional_1")
    assert isinstance(model, gpudnn.Model) and isinstance(models.Sequential(), gpudnn.Model)
    assert [l.name for l in model.layers] == ["pixels", "flatten", "dense"]
    assert model.get_layer(index=0) is inputs._layer and model.layers[0].get_weights() == []
    assert model.inputs == [inputs] and model.output is outputs and model.input is inputs
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert 'Model: "functional"' in text and "pixels (InputLayer)" in text
    assert "(None, 28, 28)" in text and "Total params: 7,850" in text
    with pytest.raises(InvalidInputError, match="fixed by its inputs and outputs"):
        model.add(layers.Dense(2))
    with pytest.raises(InvalidInputError, match="no pop"):
        model.pop()


def test_save_load_config_json_clone_and_nesting_keep_the_chain(tmp_path):
    x, y = data()
    model = functional(mlp_layers(), name="chain")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "chain.gpudnn")
    loaded = models.load_model(tmp_path / "chain.gpudnn")
    assert type(loaded).__name__ == "Functional" and loaded.name == "chain"
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    assert np.array_equal(loaded.predict(x, verbose=0), expected)
    loaded.fit(x, y, epochs=1, verbose=0)  # compiled, with its optimizer state
    for copy in (models.model_from_json(model.to_json()),
                 type(model).from_config(model.get_config()), models.clone_model(model)):
        assert type(copy).__name__ == "Functional"
        assert [l.name for l in copy.layers] == [l.name for l in model.layers]
        assert copy.count_params() == model.count_params()
    outer = models.Sequential([model, layers.Dense(2)])
    rebuilt = layers.deserialize(layers.serialize(outer))
    assert type(rebuilt.layers[0]).__name__ == "Functional"
    assert [l.name for l in rebuilt.layers[0].layers] == [l.name for l in model.layers]


def base_model():
    return models.Sequential([gpudnn.Input((12,)), layers.Dense(8), layers.BatchNormalization(),
                              layers.Activation("relu"), layers.Dropout(0.5, seed=1)],
                             name="base")


def test_a_frozen_base_called_with_training_false_stays_identical_and_in_inference():
    x, y = data()
    base = base_model()
    base.compile(optimizer="adam", loss="mse")
    base.fit(x, np.zeros((len(x), 8), np.float32), epochs=1, verbose=0)  # moving stats moved
    base.trainable = False
    inputs = gpudnn.Input(shape=(12,))
    outputs = layers.Dense(3, activation="softmax")(base(inputs, training=False))
    model = gpudnn.Model(inputs, outputs)
    before = base.get_weights()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, base.get_weights()))
    # dropout off and the moving statistics used, even in a training-mode call
    assert np.array_equal(model(x, training=True), model(x, training=False))


def test_fine_tuning_a_base_kept_in_inference_mode_is_the_gradient_by_central_differences():
    """Keras's fine-tuning: the base unfrozen, its BatchNormalization called with
    training=False; gamma and beta train through the inference formula."""
    x, y = data(n=10, features=4, seed=2)
    targets = np.eye(3)[y]
    base = models.Sequential([gpudnn.Input((4,)), layers.Dense(5),
                              layers.BatchNormalization(moving_mean_initializer="random_normal",
                                                        moving_variance_initializer="ones"),
                              layers.Activation("tanh")], dtype="float64")
    inputs = gpudnn.Input(shape=(4,))
    model = gpudnn.Model(inputs, layers.Dense(3)(base(inputs, training=False)), dtype="float64")
    weights = model.get_weights()
    rng = np.random.default_rng(5)
    weights = [w + 0.3 * rng.standard_normal(w.shape) for w in weights]  # gamma, beta not 1, 0
    weights[4] = np.abs(weights[4]) + 0.5  # moving variance > 0
    model.set_weights(weights)
    model.compile(optimizer="sgd", loss="mse")
    grads = model.gradients(x, targets)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))  # stats kept
    h = 1e-6
    for j, w in enumerate(weights):
        trains = j not in (4, 5)  # the moving statistics get no gradient
        numeric = np.zeros_like(w)
        if trains:
            for i in np.ndindex(w.shape):
                for sign in (1, -1):
                    moved = [v.copy() for v in weights]
                    moved[j][i] += sign * h
                    model.set_weights(moved)
                    numeric[i] += sign * model.evaluate(x, targets, verbose=0) / (2 * h)
        np.testing.assert_allclose(grads[j], numeric, rtol=1e-5, atol=1e-8)
    model.set_weights(weights)
    model.fit(x, targets, epochs=2, verbose=0)
    after = model.get_weights()
    assert not np.array_equal(after[2], weights[2])  # gamma trained
    assert np.array_equal(after[4], weights[4]) and np.array_equal(after[5], weights[5])


def test_training_false_calls_survive_saving(tmp_path):
    x, y = data()
    base = base_model()
    base.trainable = False
    inputs = gpudnn.Input(shape=(12,))
    model = gpudnn.Model(inputs, layers.Dense(3)(base(inputs, training=False)))
    model.save(tmp_path / "m.gpudnn")
    loaded = models.load_model(tmp_path / "m.gpudnn")
    assert loaded.get_config()["inference_calls"] == [0]
    assert np.array_equal(loaded(x, training=True), loaded(x, training=False))


def test_graphs_that_are_not_chains_and_misuse_are_refused():
    a = gpudnn.Input((4,))
    dense = layers.Dense(4)
    with pytest.raises(InvalidInputError, match="called twice"):
        gpudnn.Model(a, dense(dense(a)))
    with pytest.raises(InvalidInputError, match="chains of layers"):
        a + a
    with pytest.raises(InvalidInputError, match="another Input"):
        gpudnn.Model(gpudnn.Input((4,)), layers.Dense(3)(a))
    with pytest.raises(InvalidInputError, match="one input and one output"):
        gpudnn.Model([a, gpudnn.Input((4,))], layers.Dense(3)(a))
    with pytest.raises(InvalidInputError, match="array of samples"):
        layers.Dense(3)(object())  # data computes (test_eager_layers.py); this is not data
    with pytest.raises(InvalidInputError, match="training=True"):
        layers.Dropout(0.5)(a, training=True)
    with pytest.raises(InvalidInputError, match="Flatten"):
        layers.Dense(3)(gpudnn.Input((28, 28)))
    with pytest.raises(InvalidInputError, match="takes 5 features"):
        layers.Dense(3, input_shape=(5,))(a)
    with pytest.raises(InvalidInputError, match="holds no data"):
        np.asarray(a)
    with pytest.raises(InvalidInputError, match="Model\\(inputs, outputs\\)"):
        gpudnn.Model()
    with pytest.raises(InvalidInputError, match="a layer call"):
        models.Sequential([gpudnn.Input((4,)), layers.Dense(2)(a)])

    class Custom(gpudnn.Model):
        def call(self, x):
            return x

    with pytest.raises(InvalidInputError, match="call\\(\\) of its own"):
        Custom()


def test_sequential_takes_the_input_tensor_or_its_layer():
    for first in (gpudnn.Input((6,)), layers.InputLayer(shape=(6,))):
        model = models.Sequential([first, layers.Dense(2)])
        assert model.built and model.input_shape == (None, 6) and len(model.layers) == 1


def test_a_model_called_without_training_trains_in_training_mode():
    x, y = data()
    base = base_model()
    inputs = gpudnn.Input(shape=(12,))
    model = gpudnn.Model(inputs, layers.Dense(3, activation="softmax")(base(inputs)))
    assert model.get_config()["inference_calls"] == []
    assert not np.array_equal(model(x, training=True), model(x, training=False))  # dropout on
    moving_mean = base.get_weights()[4].copy()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.array_equal(base.get_weights()[4], moving_mean)  # the batch statistics moved


def test_training_false_belongs_to_the_model_that_made_the_call(tmp_path):
    x = data()[0]
    base = base_model()
    inputs = gpudnn.Input(shape=(12,))
    model = gpudnn.Model(inputs, layers.Dense(3)(base(inputs, training=False)))
    base(gpudnn.Input((12,)))  # a call thrown away changes nothing in the model
    assert np.array_equal(model(x, training=True), model(x, training=False))
    assert not np.array_equal(base(x, training=True), base(x, training=False))  # alone: dropout
    drop = layers.Dropout(0.5, seed=2)
    drop(gpudnn.Input((6,)), training=False)
    plain = models.Sequential([gpudnn.Input((12,)), layers.Dense(6), drop, layers.Dense(2)])
    assert not np.array_equal(plain(x, training=True), plain(x, training=False))
    plain.save(tmp_path / "plain.gpudnn")
    again = models.load_model(tmp_path / "plain.gpudnn")
    assert not np.array_equal(again(x, training=True), again(x, training=False))


def test_a_layer_whose_weights_moved_to_another_model_is_not_trained_silently():
    x, y = data()
    inputs = gpudnn.Input((12,))
    outputs = layers.Dense(3, activation="softmax")(layers.Dense(8)(inputs))
    first, second = gpudnn.Model(inputs, outputs), gpudnn.Model(inputs, outputs)
    for model in (first, second):
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(InvalidInputError, match="keeps its weights in model 'functional"):
        first.fit(x, y, verbose=0)
    second.fit(x, y, epochs=2, verbose=0)
    assert np.array_equal(first.predict(x, verbose=0), second.predict(x, verbose=0))
    first.build((12,))  # takes the weights back, as they are now
    first.fit(x, y, verbose=0)
    with pytest.raises(InvalidInputError, match="build this one again"):
        second.train_on_batch(x, y)


def test_refusals_leave_nothing_half_done_and_arguments_are_checked():
    base = base_model()
    i = gpudnn.Input((12,))
    with pytest.raises(InvalidInputError, match="float64"):
        gpudnn.Model(i, layers.Dense(2, dtype="float64")(base(i, training=False)))
    assert base._owner is None
    i2 = gpudnn.Input((12,))
    gpudnn.Model(i2, layers.Dense(2)(base(i2)))  # the base is free for another model
    a = gpudnn.Input((4,))
    with pytest.raises(InvalidInputError, match="training=0"):
        layers.Dropout(0.5)(a, training=0)
    layers.Dropout(0.5)(a, training=np.False_)
    with pytest.raises(InvalidInputError, match="at least one layer"):
        gpudnn.Model(a, a)
    with pytest.raises(InvalidInputError, match="Flatten"):
        layers.BatchNormalization()(gpudnn.Input((28, 28)))
    assert layers.Dropout(0.5)(gpudnn.Input((28, 28))).shape == (None, 28, 28)  # element-wise
    with pytest.raises(InvalidInputError, match="trainable"):
        gpudnn.Model(a, layers.Dense(2)(a), trainable="no")
    with pytest.raises(InvalidInputError, match="inputs and outputs"):
        gpudnn.Model(a)
    wide = gpudnn.Input((4,), dtype="float64")
    assert gpudnn.Model(wide, layers.Dense(2)(wide)).dtype == np.float64


def test_model_from_config_and_float64_nesting_round_trip(tmp_path):
    x = data()[0].astype(np.float64)
    inputs = gpudnn.Input((12,))
    inner = gpudnn.Model(inputs, layers.Dense(5)(inputs), dtype="float64")
    outer = models.Sequential([inner, layers.Dense(2)], dtype="float64")
    again = gpudnn.Model.from_config(inner.get_config())
    assert type(again).__name__ == "Functional" and again.dtype == np.float64
    assert type(gpudnn.Model.from_config(outer.get_config())).__name__ == "Sequential"
    outer.save(tmp_path / "outer.gpudnn")
    loaded = models.load_model(tmp_path / "outer.gpudnn")
    assert np.array_equal(loaded.predict(x, verbose=0), outer.predict(x, verbose=0))
    assert models.clone_model(outer).dtype == np.float64


def test_batchnorm_trained_in_inference_mode_is_the_same_on_every_backend():
    """The layer's calls of a training step in inference mode (forward keeping 1 / sqrt(
    moving_var + eps), backward with gamma and beta gradients) on NumPy, the compiled CPU
    backend and the CUDA kernels (host-routed), against a float64 formula."""

    from gpudnn.backend import backend_for
    from gpudnn.backend.numpy_backend import NumpyBackend

    from kernel_harness.backend import host_routed_backend

    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 2.0, (10, 5)).astype(np.float32)
    dy = rng.standard_normal((10, 5)).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2, 5), rng.standard_normal(5)
    mm, mv = rng.standard_normal(5), rng.uniform(0.5, 3, 5)
    s = 1 / np.sqrt(mv + 1e-3)
    want = (gamma * (x - mm) * s + beta, (dy * (x - mm) * s).sum(0), dy.sum(0), dy * gamma * s)
    results = []
    for be in (NumpyBackend(), backend_for("cpu"), host_routed_backend()):
        layer = layers.BatchNormalization()
        layer.build(5)
        layer._backend = be
        params = [be.from_host(np.asarray(v, np.float32)) for v in (gamma, beta, mm, mv)]
        grads = [be.zeros((5,), np.float32) for _ in params]
        layer.bind(params, grads)
        out, dx = be.empty((10, 5), np.float32), be.empty((10, 5), np.float32)
        layer.forward(be, be.from_host(x), out, training=False, trains_in_inference=True)
        layer.backward(be, be.from_host(x), out, be.from_host(dy), dx, inference=True)
        got = [np.asarray(be.to_host(a)) for a in (out, grads[0], grads[1], dx)]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=2e-5, atol=2e-5)
        assert np.array_equal(np.asarray(be.to_host(params[2])), np.float32(mm))  # not moved
        results.append(got)
    for got in results[1:]:
        for g, ref in zip(got, results[0]):
            np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-6)


def test_an_encoder_predicts_with_the_autoencoder_weights_under_a_mixed_policy():
    gpudnn.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        x = data()[0]
        inputs = gpudnn.Input((12,))
        code = layers.Dense(4)(inputs)
        encoder = gpudnn.Model(inputs, code)
        auto = gpudnn.Model(inputs, layers.Dense(12)(code))
        auto.compile(optimizer="adam", loss="mse")
        auto.fit(x, x, epochs=1, verbose=0)
        with pytest.raises(InvalidInputError, match="use that model, or build this one again"):
            encoder.predict(x, verbose=0)  # its 16-bit copy would be stale
        encoder.build((12,))
        assert encoder.predict(x, verbose=0).shape == (len(x), 4)
    finally:
        gpudnn.utils.clear_session()


def test_layer_outputs_make_a_feature_extractor_as_in_keras():
    """``Model(model.input, model.get_layer(...).output)`` after training: the extractor
    computes the trained layers' outputs (it takes their weights over, as shared layers)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 40)]
    for functional in (True, False):
        if functional:
            inputs = gpudnn.Input((6,))
            hidden = layers.Dense(5, activation="relu", name="hidden")(inputs)
            model = gpudnn.Model(inputs, layers.Dense(3, activation="softmax")(hidden))
        else:
            model = models.Sequential([layers.Dense(5, activation="relu", input_shape=(6,),
                                                    name="hidden"),
                                       layers.Dense(3, activation="softmax")])
            assert model.input.shape == (None, 6) and model.output.shape == (None, 3)
            assert model.layers[1].input is model.layers[0].output
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, verbose=0)
        kernel, bias = model.get_layer("hidden").get_weights()
        extractor = gpudnn.Model(inputs=model.inputs, outputs=model.get_layer("hidden").output)
        np.testing.assert_allclose(extractor.predict(x, verbose=0),
                                   np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


def test_a_layer_never_called_symbolically_has_no_output():
    layer = layers.Dense(3)
    with pytest.raises(InvalidInputError, match="never called on a symbolic tensor"):
        layer.output  # noqa: B018
    with pytest.raises(InvalidInputError, match="no input tensor yet"):
        models.Sequential([layers.Dense(2)]).input  # noqa: B018


def test_data_as_dicts_keyed_by_the_input_and_output_names():
    """Keras's ``fit({"features": x}, {"out": y})`` for a model with named Input and output."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    inputs = gpudnn.Input((4,), name="features")
    model = gpudnn.Model(inputs, layers.Dense(1, activation="sigmoid", name="out")(inputs))
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    gpudnn.set_seed(0)
    history = model.fit({"features": x}, {"out": y}, epochs=2, verbose=0,
                        validation_data=({"features": x}, y)).history
    assert sorted(history) == ["loss", "val_loss"]
    np.testing.assert_array_equal(model.predict({"features": x}, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_array_equal(model({"features": x[:3]}), model(x[:3]))
    assert model.train_on_batch({"features": x}, {"out": y}) > 0
    with pytest.raises(InvalidInputError, match="'features'"):
        model.fit({"feat": x}, y, verbose=0)
    with pytest.raises(InvalidInputError, match="'out'"):
        model.evaluate(x, {"outputs": y}, verbose=0)


def test_a_dict_y_is_keyed_by_a_nested_output_models_name():
    inputs = gpudnn.Input((3,), name="x_in")
    inner = models.Sequential([layers.Dense(2, name="d2")], name="inner")
    model = gpudnn.Model(inputs, inner(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=[gpudnn.losses.mae])
    history = model.fit({"x_in": np.ones((4, 3))}, {"inner": np.ones((4, 2))}, verbose=0).history
    assert sorted(history) == ["loss", "mean_absolute_error"]
