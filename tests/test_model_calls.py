"""Calling and composing models: model(x), get_layer, layer weights, trainable_weights, and a
Sequential nested in another with its weights shared both ways."""

import re

import numpy as np
import pytest

from gpudnn import layers, models
from gpudnn.errors import InvalidInputError
from gpudnn.utils import to_categorical

from conftest import blobs


def linear_model():
    return models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,), name="hidden"),
                              layers.Dense(3, name="logits")], name="linear")


def test_call_returns_host_predictions():
    x, _ = blobs(50)
    model = linear_model()
    out = model(x)
    assert isinstance(out, np.ndarray) and out.shape == (50, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, model.predict(x))
    np.testing.assert_array_equal(model(x[:1]), model.predict(x[:1]))
    np.testing.assert_array_equal(model(x, training=None), out)


def test_get_layer_by_name_and_index():
    model = linear_model()
    assert model.get_layer("logits") is model.layers[1]
    assert model.get_layer(index=0).name == "hidden" and model.get_layer(index=-1).name == "logits"
    with pytest.raises(InvalidInputError, match=r"no layer named 'out'.*\['hidden', 'logits'\]"):
        model.get_layer("out")
    with pytest.raises(InvalidInputError, match="out of range"):
        model.get_layer(index=2)
    with pytest.raises(InvalidInputError, match="exactly one"):
        model.get_layer()


def test_layer_weights_are_host_copies_and_set_in_place():
    x, _ = blobs(20)
    model = linear_model()
    hidden = model.get_layer("hidden")
    kernel, bias = hidden.get_weights()
    assert kernel.shape == (6, 8) and bias.shape == (8,)
    kernel[:] = 0  # a copy: the model is unchanged
    assert np.any(model.get_weights()[0] != 0)
    hidden.set_weights([np.zeros((6, 8)), np.ones(8)])
    np.testing.assert_array_equal(model.get_weights()[0], 0)
    np.testing.assert_array_equal(model.get_weights()[1], 1)
    assert layers.Flatten().get_weights() == [] and layers.Dense(3).get_weights() == []
    with pytest.raises(InvalidInputError, match=r"hidden/kernel has shape \(6, 8\).*\(8, 6\)"):
        hidden.set_weights([np.zeros((8, 6)), np.ones(8)])
    with pytest.raises(InvalidInputError, match=r"takes 2 weight arrays \(kernel, bias\).*got 1"):
        hidden.set_weights([np.zeros((6, 8))])
    with pytest.raises(InvalidInputError, match="has no weights yet"):
        layers.Dense(3).set_weights([np.zeros((2, 3)), np.zeros(3)])


def test_trainable_weights_are_views_of_the_parameters():
    x, _ = blobs(20)
    model = linear_model()
    views = model.trainable_weights
    assert [tuple(v.shape) for v in views] == [w.shape for w in model.get_weights()]
    views[3].assign(np.full(views[3].shape, 5.0))  # the logits bias, written through its view
    np.testing.assert_array_equal(model.get_weights()[3], 5.0)
    assert all(np.shares_memory(v.value, model.params) for v in views)
    assert [v.name for v in views][:2] == [f"{model.layers[0].name}/kernel",
                                           f"{model.layers[0].name}/bias"]


def test_a_nested_model_shares_its_weights_both_ways():
    x, labels = blobs(300)
    y = to_categorical(labels, 3)
    inner = linear_model()
    outer = models.Sequential([inner, layers.Softmax()])
    assert outer.layers[0] is inner and outer.count_params() == inner.count_params() == 83
    for a, b in zip(outer.get_weights(), inner.get_weights()):
        np.testing.assert_array_equal(a, b)
    logits = inner(x)
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(outer(x), p / p.sum(1, keepdims=True), rtol=1e-6, atol=1e-7)
    # training the outer model moves the inner model's predictions
    outer.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    outer.fit(x, y, epochs=5, verbose=0)
    assert not np.allclose(inner(x), logits)
    assert outer.evaluate(x, y, verbose=0)[1] > 0.9
    np.testing.assert_array_equal(np.argmax(inner(x), 1), np.argmax(outer(x), 1))
    # and training the inner model (its own optimizer) moves the outer's
    before = outer(x)
    inner.compile(optimizer="sgd", loss="mse")
    inner.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(outer(x), before)
    for a, b in zip(outer.get_weights(), inner.get_weights()):
        np.testing.assert_array_equal(a, b)
    # set_weights on either side is seen by both
    inner.get_layer("logits").set_weights([np.zeros((8, 3)), np.zeros(3)])
    np.testing.assert_allclose(outer(x), 1 / 3, rtol=1e-6)


def test_nesting_summary_and_deeper_nesting():
    inner = linear_model()
    middle = models.Sequential([inner, layers.Dense(4, name="extra")], name="middle")
    outer = models.Sequential([middle, layers.Softmax(name="probs")], name="outer")
    lines = []
    outer.summary(print_fn=lines.append)
    text = lines[0]
    assert "│ middle (Sequential)             │ (None, 4)              │            99 │" in text
    assert "│ probs (Softmax)                 │ (None, 4)              │             0 │" in text
    assert " Total params: 99 (396.00 B)" in text
    x, _ = blobs(10)
    weights = [np.full(w.shape, 0.1 * (i + 1), np.float32) for i, w in enumerate(inner.get_weights())]
    inner.set_weights(weights)
    for w, got in zip(weights, outer.get_weights()[:4]):
        np.testing.assert_array_equal(got, w)
    assert np.shares_memory(inner.params, outer.params)
    assert np.shares_memory(middle.params, outer.params)


def test_nesting_misuse_is_refused():
    inner = linear_model()
    models.Sequential([inner])
    with pytest.raises(InvalidInputError, match="already part of model"):
        models.Sequential([inner])
    with pytest.raises(InvalidInputError, match="nested in model .* cannot add layers"):
        inner.add(layers.Dense(2))
    lone = linear_model()
    with pytest.raises(InvalidInputError, match="cannot contain itself"):
        lone.add(lone)
    with pytest.raises(InvalidInputError, match="same device and dtype"):
        models.Sequential([linear_model()], dtype="float64")


def test_unbuilt_nested_model_is_built_by_the_outer_one():
    x, labels = blobs(100)
    inner = models.Sequential([layers.Dense(5, activation="relu"), layers.Dense(3)])
    outer = models.Sequential([inner, layers.Softmax()])
    assert not outer.built
    outer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    outer.fit(x, labels, epochs=1, verbose=0)
    assert inner.built and inner.input_shape == (None, 6)
    np.testing.assert_array_equal(np.argmax(inner(x), 1), np.argmax(outer(x), 1))


def test_trainable_takes_booleans_and_softmax_takes_the_last_axis():
    layer = layers.Dense(3)
    with pytest.raises(InvalidInputError, match="True or False"):
        layer.trainable = "no"
    layer.trainable = False
    assert not layer.trainable
    layer.trainable = True
    assert layer.trainable
    layers.Softmax(axis=-1)
    with pytest.raises(InvalidInputError, match="axis=-1"):
        layers.Softmax(axis=0)


def test_a_slope_set_on_an_activation_layer_is_the_one_it_uses():
    from gpudnn.layers.advanced_activations import ELU, LeakyReLU

    leaky, elu = LeakyReLU(0.3), ELU(1.0)
    leaky.alpha, elu.alpha = 0.01, 0.5
    assert leaky.activation_spec.alpha == 0.01 and leaky.get_config()["alpha"] == 0.01
    assert elu.activation_spec.alpha == 0.5 and elu.get_config()["alpha"] == 0.5
    with pytest.raises(InvalidInputError, match="alpha"):
        elu.alpha = 0.0
    inner = linear_model()
    inner.trainable = False  # a model's flag sets every layer's, as in Keras
    assert not inner.trainable and not any(layer.trainable for layer in inner.layers)


def test_input_and_output_shape_and_summary_options_as_keras():
    model = models.Sequential([layers.Dense(4, input_shape=(3,), name="hidden"),
                               layers.Dropout(0.1, name="drop"), layers.Dense(2, name="out")])
    assert (model.input_shape, model.output_shape) == ((None, 3), (None, 2))
    assert models.Sequential([layers.Dense(2)]).output_shape is None  # not built yet
    lines = []
    model.layers[0].trainable = False
    model.summary(line_length=100, show_trainable=True, print_fn=lines.append,
                  layer_range=("drop", "out"))
    text = lines[0]
    rows = text.splitlines()
    assert all(len(row) == 100 for row in rows[1:4])
    assert "Trainable" in rows[2] and "hidden" not in text and "drop (Dropout)" in text
    assert re.search(r"drop \(Dropout\).*│\s+-\s+│", text)  # it has no weights
    assert re.search(r"out \(Dense\).*│\s+Y\s+│", text)
    outer = models.Sequential([model, layers.Dense(1, name="head")])
    lines.clear()
    outer.summary(expand_nested=True, print_fn=lines.append)
    assert "└ hidden (Dense)" in lines[0] and "head (Dense)" in lines[0]
    with pytest.raises(InvalidInputError, match="layer_range"):
        model.summary(layer_range=("out", "hidden"))


def test_metrics_names_follow_evaluate():
    x, y = np.ones((8, 3), np.float32), np.eye(2, dtype=np.float32)[[0, 1] * 4]
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy", "mae"])
    assert model.metrics_names == ["loss", "accuracy", "mae"]
    assert len(model.evaluate(x, y, verbose=0)) == 3


def test_train_and_test_on_batch_give_running_means_until_reset_as_keras_3():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 32)]
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=["accuracy"])
    first = model.test_on_batch(x[:8], y[:8], return_dict=True)
    second_alone = model.evaluate(x[8:24], y[8:24], verbose=0, return_dict=True)  # resets
    model.reset_metrics()
    model.test_on_batch(x[:8], y[:8])
    both = model.test_on_batch(x[8:24], y[8:24], return_dict=True)
    assert both["loss"] == pytest.approx((8 * first["loss"] + 16 * second_alone["loss"]) / 24,
                                         rel=1e-6)
    model.reset_metrics()
    assert model.test_on_batch(x[:8], y[:8], return_dict=True) == pytest.approx(first)
    loss = model.train_on_batch(x[:8], y[:8])[0]  # goes on from the test batch above
    assert loss == pytest.approx(first["loss"], rel=1e-6)
    model.reset_metrics()
    after = model.evaluate(x[:8], y[:8], verbose=0)[0]
    assert model.train_on_batch(x[:8], y[:8])[0] == pytest.approx(after, rel=1e-6)


def test_layer_weights_as_variables_and_from_config():
    model = models.Sequential([layers.Dense(3, input_shape=(2,), name="d"),
                               layers.BatchNormalization(name="bn")])
    bn = model.layers[1]
    assert [v.name for v in bn.trainable_variables] == ["bn/gamma", "bn/beta"]
    assert [v.name for v in bn.non_trainable_weights] == ["bn/moving_mean", "bn/moving_variance"]
    dense = model.layers[0]
    dense.weights[1].assign([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(dense.get_weights()[1], [1, 2, 3])
    dense.trainable = False
    assert dense.trainable_weights == [] and len(dense.non_trainable_variables) == 2
    assert layers.Dense(2).weights == []
    again = layers.Dense.from_config(dense.get_config())
    assert again.get_config() == dense.get_config() and not again.trainable
    with pytest.raises(InvalidInputError, match="cannot make a Dense"):
        layers.Dense.from_config({"unitz": 3})


def test_build_takes_keras_batch_first_shape_and_layer_outputs_exist_at_once():
    model = models.Sequential([layers.Dense(3), layers.Dense(2, name="last")])
    model.build((None, 7))
    assert model.input_shape == (None, 7)
    assert model.get_layer("last").output.shape == (None, 2)  # before model.input is asked
    with pytest.raises(InvalidInputError, match="sample shape"):
        models.Sequential([layers.Dense(2)]).build((None,))


def test_one_feature_models_take_1d_x_as_keras():
    """TensorFlow's regression tutorial: Normalization(input_shape=[1], axis=None) fit on a
    1-D column."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(64) * 10 + 100).astype(np.float32)
    y = (0.1 * x + rng.standard_normal(64)).astype(np.float32)
    norm = layers.Normalization(input_shape=[1], axis=None)
    norm.adapt(x)
    model = models.Sequential([norm, layers.Dense(1)])
    model.compile(optimizer="adam", loss="mean_absolute_error")
    history = model.fit(x, y, epochs=2, verbose=0, validation_split=0.2).history
    assert sorted(history) == ["loss", "val_loss"]
    np.testing.assert_array_equal(model.predict(x, verbose=0),
                                  model.predict(x.reshape(-1, 1), verbose=0))


def test_keras_backend_names_variable_paths_and_clear_refusals():
    import gpudnn
    assert gpudnn.backend.floatx() == "float32" and gpudnn.backend.epsilon() == 1e-7
    assert gpudnn.backend.backend() == gpudnn.config.backend() == "gpudnn"
    model = models.Sequential([layers.Dense(2, input_shape=(8,), name="d")])
    assert model.weights[0].path == "d/kernel"
    with pytest.raises(InvalidInputError, match=r"reshape\(1, -1\)"):
        model.predict(np.ones(8, np.float32), verbose=0)  # one sample given as a vector
    with pytest.raises(InvalidInputError, match="activity_regularizer"):
        layers.Dense(2, activity_regularizer="l2")


def test_an_unbuilt_model_summary_prints_keras_unbuilt_rows():
    model = models.Sequential([layers.Dense(3, name="a"), layers.Dense(1, name="b")])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert text.count("0 (unbuilt)") == 2 and "│ ?" in text and "Total params: 0 " in text
    model.build((None, 4))
    lines.clear()
    model.summary(print_fn=lines.append)
    assert "(unbuilt)" not in lines[0] and "Total params: 19 " in lines[0]


def test_unbuilt_summaries_with_a_nested_model_or_an_adapted_normalization():
    lines = []
    models.Sequential([models.Sequential([layers.Dense(3)]), layers.Dense(1)]).summary(
        print_fn=lines.append)
    assert lines[0].count("0 (unbuilt)") == 2
    norm = layers.Normalization()
    norm.adapt(np.ones((4, 9), np.float32))
    models.Sequential([layers.Flatten(), norm, layers.Dense(1)]).summary(print_fn=lines.append)
    assert "Total params: 19 " in lines[1] and "Non-trainable params: 19 " in lines[1]


def test_summary_after_training_counts_the_optimizer_as_keras():
    """Keras 3.15 (JAX) printed, for this model after one epoch of Adam: Total params: 14,616
    (57.09 KB), Optimizer params: 9,732 (38.02 KB) (m and v of 4,865 weights, the step counter
    and the learning rate)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 9)).astype(np.float32)
    y = rng.normal(size=300).astype(np.float32)
    norm = layers.Normalization()
    norm.adapt(x)
    model = models.Sequential([norm, layers.Dense(64, activation="relu"),
                               layers.Dense(64, activation="relu"), layers.Dense(1)])
    model.compile(loss="mean_absolute_error", optimizer="adam")
    lines = []
    model.summary(print_fn=lines.append)
    assert "Optimizer params" not in lines[0]  # not built before its first update, as Keras
    model.fit(x, y, epochs=1, verbose=0)
    model.summary(print_fn=lines.append)
    assert " Total params: 14,616 (57.09 KB)" in lines[1]
    assert " Optimizer params: 9,732 (38.02 KB)" in lines[1]
