"""The Keras 3 model surface around the architecture: ``get_config`` / ``from_config``,
``to_json`` / ``models.model_from_json``, ``models.clone_model``, ``pop``, the ``variables``
aliases, ``model.history`` and ``fit(validation_freq=)``."""

import json

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.errors import InvalidInputError

from conftest import blobs


def stack():
    base = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                              layers.BatchNormalization()], name="base")
    base.trainable = False
    model = models.Sequential([base, layers.Dropout(0.25), layers.Dense(3, activation="softmax")],
                              name="head")
    model.layers[-1].trainable = True
    return model


def test_config_round_trips_and_a_clone_has_the_architecture_with_fresh_weights(keras_names):
    model = stack()
    config = model.get_config()
    assert json.loads(json.dumps(config)) == config  # JSON-able
    assert config["build_input_shape"] == [None, 6] and config["dtype"] == "float32"
    assert [item["class_name"] for item in config["layers"]] == ["Sequential", "Dropout",
                                                                 "Dense"]
    clone = models.clone_model(model)
    assert clone.get_config() == config
    assert clone.built and clone.count_params() == model.count_params()
    assert [layer.name for layer in clone.layers] == ["base", "dropout", "dense_1"]
    assert [len(clone.trainable_weights), len(clone.non_trainable_weights)] == \
        [len(model.trainable_weights), len(model.non_trainable_weights)]
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])  # freshly drawn
    assert clone.optimizer is None and clone.backend is model.backend
    # Keras's automatic model names
    assert [models.Sequential().name, models.Sequential().name] == ["sequential", "sequential_1"]
    assert models.Sequential(name="mine").name == "mine"


def test_a_compiled_models_clone_is_compiled_as_keras_clones_it(keras_names):
    x, labels = blobs(n=96)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=gpudnn.optimizers.Adam(0.02, use_ema=True),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", gpudnn.metrics.SparseTopKCategoricalAccuracy(k=2)])
    model.fit(x, labels, epochs=1, verbose=0)
    clone = models.clone_model(model)
    assert clone.optimizer is not model.optimizer and clone.optimizer.step_count == 0
    assert clone.optimizer.get_config() == model.optimizer.get_config()
    assert clone.metric_names == model.metric_names
    history = clone.fit(x, labels, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "sparse_top_k_categorical_accuracy"}
    with pytest.raises(InvalidInputError, match="clone_function"):
        models.clone_model(model, clone_function=lambda layer: layer)


def test_a_clone_trains_apart_from_its_original():
    x, labels = blobs(n=96)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    clone = models.clone_model(model)
    clone.set_weights(model.get_weights())  # the usual pattern: the same start, two runs
    before = model.get_weights()
    clone.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    clone.fit(x, labels, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not np.array_equal(before[0], clone.get_weights()[0])


def test_json_round_trip_float64_unbuilt_and_flatten_inputs():
    for model in (models.Sequential([layers.Dense(4), layers.Dense(2)], dtype="float64"),
                  models.Sequential([gpudnn.Input((4, 5)), layers.Flatten(), layers.Dense(3)])):
        again = models.model_from_json(model.to_json(indent=2))
        assert again.get_config() == model.get_config() and again.dtype == model.dtype
        assert again.built == model.built
    assert models.model_from_json(models.Sequential().to_json()).layers == []


BAD_CONFIGS = ['{"layers": [{"x": 1}]}', '{"layer": []}', '{"layers": [], "name": 3}',
               '{"layers": [], "build_input_shape": [null, "a"]}',
               '{"layers": [], "build_input_shape": [null, -4]}',
               '{"layers": [], "build_input_shape": [null, [4]]}',
               '{"layers": [], "build_input_shape": [null, 0]}',
               '{"layers": [], "build_input_shape": [null, 4.5]}',
               '{"layers": [], "build_input_shape": [4]}', '{"layers": [], "dtype": "int8"}']


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"class_name": "Dense", "config": {}}',
                                  '{"class_name": ["Sequential"], "config": {}}'] +
                         ['{"class_name": "Sequential", "config": %s}' % c for c in BAD_CONFIGS])
def test_a_bad_architecture_is_refused_with_a_gpudnn_error(text):
    with pytest.raises(InvalidInputError):
        models.model_from_json(text)


def test_pop_removes_the_last_layer_and_keeps_the_others_weights():
    x, labels = blobs(n=64)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dense(5, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, labels, epochs=1, verbose=0)
    kept = model.get_weights()[:4]
    last = model.layers[-1]
    assert model.pop() is last
    assert len(model.layers) == 2 and model.output_dim == 5
    assert all(np.array_equal(a, b) for a, b in zip(kept, model.get_weights()))
    model.add(layers.Dense(2, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, labels % 2, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (64, 2)
    model.pop()
    model.pop()
    model.pop()
    with pytest.raises(InvalidInputError, match="no layers"):
        model.pop()
    model.add(layers.Dense(4))  # the input shape stayed, as Keras's InputLayer does
    assert model.built and model.input_shape == (None, 6)
    again = models.clone_model(models.Sequential([gpudnn.Input((5,))]))
    assert again.layers == [] and again.get_config()["build_input_shape"] == [None, 5]
    lazy = models.Sequential([layers.Dense(3, input_shape=(4,)), layers.Dense(2)])
    lazy.pop(rebuild=False)
    assert not lazy.built and lazy.predict(np.ones((2, 4), np.float32), verbose=0).shape == (2, 3)


def test_variables_aliases_history_and_validation_freq():
    x, labels = blobs(n=120)
    model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    assert [v.name for v in model.variables] == [v.name for v in model.weights]
    assert [v.name for v in model.trainable_variables] == \
        [v.name for v in model.trainable_weights]
    assert [v.name for v in model.non_trainable_variables] == \
        [v.name for v in model.non_trainable_weights]
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, labels, epochs=5, verbose=0, validation_split=0.25,
                        validation_freq=2)
    assert model.history is history
    assert len(history.history["loss"]) == 5 and len(history.history["val_loss"]) == 2
    history = model.fit(x, labels, epochs=4, verbose=0, validation_split=0.25,
                        validation_freq=[1, 4])
    assert len(history.history["val_accuracy"]) == 2
    for bad in (0, 1.5, "2", [0], True):
        with pytest.raises(InvalidInputError, match="validation_freq"):
            model.fit(x, labels, epochs=1, verbose=0, validation_split=0.25,
                      validation_freq=bad)


def test_a_frozen_model_freezes_the_layers_added_later_and_flags_are_checked():
    model = models.Sequential([layers.Dense(3, input_shape=(4,))], trainable=False)
    model.add(layers.Dense(2))
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 4
    for bad in (lambda: models.Sequential(trainable="no"), lambda: model.pop(rebuild="no"),
                lambda: models.Sequential.from_config({"layers": [], "trainable": "no"}),
                lambda: models.Sequential.from_config({"layers": [],
                                                       "build_input_shape": [3, 4]})):
        with pytest.raises(InvalidInputError):
            bad()


def test_a_clone_keeps_the_originals_optimizer_kind_under_float16():
    """compile(auto_scale_loss=False) under mixed_float16: the clone has no LossScaleOptimizer
    either (and the one that had it keeps it)."""
    for auto in (False, True):
        model = models.Sequential([layers.Dense(4, input_shape=(3,), dtype="mixed_float16"),
                                   layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse", auto_scale_loss=auto)
        clone = models.clone_model(model)
        assert type(clone.optimizer) is type(model.optimizer)
