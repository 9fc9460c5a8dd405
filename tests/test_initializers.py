"""Initializers as Keras 3 has them: names, classes, arguments and defaults, each drawing its
formula's distribution (checked statistically on large shapes against the formula worked out
here), seeds, and the layer / saving path (an initializer object survives get_config, save and
load as Keras writes it)."""

import numpy as np
import pytest

import gpudnn
from gpudnn import initializers, layers, models
from gpudnn.errors import InvalidInputError, UnknownNameError

TRUNCATION = 0.87962566103423978  # the stddev of a standard normal cut at two stddevs

#: (initializer, shape, Keras's scale / n for that shape, distribution)
VARIANCE_SCALING = [
    (initializers.GlorotUniform(), (600, 400), 1.0 / 500, "uniform"),
    (initializers.GlorotNormal(), (600, 400), 1.0 / 500, "truncated"),
    (initializers.HeUniform(), (600, 400), 2.0 / 600, "uniform"),
    (initializers.HeNormal(), (600, 400), 2.0 / 600, "truncated"),
    (initializers.LecunUniform(), (600, 400), 1.0 / 600, "uniform"),
    (initializers.LecunNormal(), (600, 400), 1.0 / 600, "truncated"),
    (initializers.VarianceScaling(3.0, "fan_out", "untruncated_normal"), (600, 400), 3.0 / 400,
     "normal"),
    (initializers.GlorotUniform(), (5000,), 1.0 / 5000, "uniform"),  # a vector: fans = length
]


@pytest.mark.parametrize("init,shape,s,distribution", VARIANCE_SCALING,
                         ids=[f"{type(c[0]).__name__}-{c[1]}" for c in VARIANCE_SCALING])
def test_variance_scaling_draws_keras_distribution(init, shape, s, distribution):
    gpudnn.set_seed(0)
    w = init(shape, dtype="float64")
    assert w.shape == shape and w.dtype == np.float64
    assert abs(w.mean()) < 4 * np.sqrt(s / w.size)
    assert w.std() == pytest.approx(np.sqrt(s), rel=0.02)  # Keras: the variance is scale / n
    if distribution == "uniform":
        assert np.abs(w).max() <= np.sqrt(3 * s)
        assert np.abs(w).max() > 0.99 * np.sqrt(3 * s)
    elif distribution == "truncated":  # cut at two stddevs of the normal before truncation
        bound = 2 * np.sqrt(s) / TRUNCATION
        assert np.abs(w).max() < bound and np.abs(w).max() > 0.98 * bound
    else:
        assert np.abs(w).max() > 3.5 * np.sqrt(s)  # an untruncated normal's tails


def test_the_other_random_initializers():
    gpudnn.set_seed(1)
    w = initializers.RandomNormal(mean=1.0, stddev=0.5)((400, 400))
    assert w.dtype == np.float32
    assert w.mean() == pytest.approx(1.0, abs=0.01) and w.std() == pytest.approx(0.5, rel=0.02)
    w = initializers.RandomUniform(minval=-1.0, maxval=2.0)((400, 400))
    assert w.min() >= -1.0 and w.max() < 2.0 and w.mean() == pytest.approx(0.5, abs=0.01)
    w = initializers.TruncatedNormal(mean=0.5, stddev=0.1)((400, 400), dtype="float64")
    assert np.abs(w - 0.5).max() < 0.2 and np.abs(w - 0.5).max() > 0.199
    assert w.std() == pytest.approx(0.1 * TRUNCATION, rel=0.02)
    defaults = initializers.RandomNormal()
    assert (defaults.mean, defaults.stddev, defaults.seed) == (0.0, 0.05, None)


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (4, 5, 6)])
def test_orthogonal_has_orthonormal_rows_or_columns(shape):
    w = initializers.Orthogonal(gain=2.0, seed=3)(shape, dtype="float64")
    flat = w.reshape(-1, shape[-1]) / 2.0
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


def test_constant_identity_zeros_ones():
    np.testing.assert_array_equal(initializers.Constant(0.25)((2, 3)), np.full((2, 3), 0.25))
    np.testing.assert_array_equal(initializers.Identity(gain=3.0)((2, 3)), 3 * np.eye(2, 3))
    assert initializers.Zeros()((4,)).sum() == 0 and initializers.Ones()((4,)).sum() == 4


def test_seeds_repeat_and_the_global_seed_reproduces():
    seeded = initializers.HeNormal(seed=7)
    np.testing.assert_array_equal(seeded((30, 20)), seeded((30, 20)))  # as a seeded Keras 3 one
    unseeded = initializers.HeNormal()
    gpudnn.set_seed(5)
    first = unseeded((30, 20))
    gpudnn.set_seed(5)
    np.testing.assert_array_equal(first, unseeded((30, 20)))
    assert not np.array_equal(first, unseeded((30, 20)))


@pytest.mark.parametrize("identifier,cls", [
    ("he_normal", initializers.HeNormal), ("HeNormal", initializers.HeNormal),
    ("glorot_uniform", initializers.GlorotUniform), ("normal", initializers.RandomNormal),
    ("uniform", initializers.RandomUniform), ("truncated_normal", initializers.TruncatedNormal),
    ("orthogonal", initializers.Orthogonal), ("lecun_normal", initializers.LecunNormal),
    ("variance_scaling", initializers.VarianceScaling), ("zeros", initializers.Zeros),
])
def test_keras_names(identifier, cls):
    assert type(initializers.get(identifier)) is cls


def test_a_layer_draws_from_the_object_and_saving_keeps_it(tmp_path):
    kernel = initializers.HeNormal(seed=11)
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(6, input_shape=(4,), kernel_initializer=kernel,
                                            bias_initializer=initializers.Constant(0.1)),
                               layers.Dense(2, kernel_initializer="orthogonal")])
    model.compile(optimizer="sgd", loss="mse")
    w, b = model.layers[0].get_weights()
    np.testing.assert_array_equal(w, kernel((4, 6)))
    np.testing.assert_array_equal(b, np.full(6, 0.1, np.float32))
    config = model.layers[0].get_config()
    assert config["kernel_initializer"] == {"class_name": "HeNormal", "config": {
        "seed": 11, "input_axes": None, "output_axes": None}}
    assert config["bias_initializer"] == {"class_name": "Constant", "config": {"value": 0.1}}
    model.save(tmp_path / "m")
    loaded = models.load_model(tmp_path / "m")
    assert loaded.layers[0].kernel_initializer == kernel
    assert models.clone_model(model).layers[0].bias_initializer == initializers.Constant(0.1)
    for a, c in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, c)


def test_a_keras_config_dict_is_taken():
    keras_form = {"module": "keras.initializers", "class_name": "RandomNormal",
                  "config": {"mean": 0.0, "stddev": 0.01, "seed": 3}, "registered_name": None}
    layer = layers.Dense(3, kernel_initializer=keras_form)
    assert layer.kernel_initializer == initializers.RandomNormal(0.0, 0.01, seed=3)
    # Keras 3's newest configs carry the fans' axes
    newest = {"class_name": "GlorotUniform",
              "config": {"seed": None, "input_axes": None, "output_axes": None}}
    assert layers.Dense(3, kernel_initializer=newest).kernel_initializer == \
        initializers.GlorotUniform()
    axes = initializers.VarianceScaling(1.0, "fan_in", "uniform", input_axes=[0, 1],
                                        output_axes=[2])
    assert initializers.compute_fans((3, 4, 5), [0, 1], [2]) == (12, 5)
    assert np.abs(axes((3, 4, 5), dtype="float64")).max() <= np.sqrt(3 / 12)


def test_classes_arrays_and_users_own_initializers():
    """As Keras's get: a class gives an instance with its defaults, an array its values; a
    subclass written as Keras's (its own __call__) draws through it, and is code, not saved."""
    assert type(layers.Dense(3, kernel_initializer=initializers.HeNormal).kernel_initializer) \
        is initializers.HeNormal
    values = np.arange(6.0).reshape(2, 3)
    model = models.Sequential([layers.Dense(3, input_shape=(2,), kernel_initializer=values)])
    model.compile(optimizer="sgd", loss="mse")
    np.testing.assert_array_equal(model.get_weights()[0], values)

    class Halves(initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 0.5)

    class OnesHe(initializers.HeNormal):  # a subclass of a built-in one, its own __call__
        def __call__(self, shape, dtype=None):
            return np.ones(shape)

    mine = models.Sequential([layers.Dense(3, input_shape=(2,), kernel_initializer=Halves()),
                              layers.Dense(2, kernel_initializer=OnesHe())])
    mine.compile(optimizer="sgd", loss="mse")
    np.testing.assert_array_equal(mine.get_weights()[0], np.full((2, 3), 0.5))
    np.testing.assert_array_equal(mine.get_weights()[2], np.ones((3, 2)))
    with pytest.raises(InvalidInputError, match="not JSON-serializable"):
        mine.to_json()


@pytest.mark.parametrize("factory,match", [
    (lambda: initializers.RandomUniform(1.0, 0.0), "minval < maxval"),
    (lambda: initializers.VarianceScaling(mode="fan_max"), "mode must be one of"),
    (lambda: initializers.VarianceScaling(scale=0.0), "positive"),
    (lambda: initializers.VarianceScaling(distribution="cauchy"), "distribution must be"),
    (lambda: initializers.HeNormal(seed=-1), "seed"),
    (lambda: initializers.RandomNormal(stddev=float("nan")), "finite"),
    (lambda: layers.Dense(3, kernel_initializer={"class_name": "Bogus", "config": {}}),
     "unknown initializer"),
    (lambda: layers.Dense(3, kernel_initializer={"class_name": "HeNormal",
                                                 "config": {"stdev": 1}}), "bad config"),
    (lambda: layers.Dense(3, kernel_initializer=3.5), "an initializer is a name"),
    (lambda: layers.Dense(3, kernel_initializer={"class_name": "HeNormal", "config": "x"}),
     "is a dict of arguments"),
    (lambda: initializers.Zeros()(("a",)), "non-negative integer sizes"),
    (lambda: initializers.Zeros()((2.5,)), "non-negative integer sizes"),
    (lambda: initializers.HeNormal(input_axes="0"), "list of axes"),
    (lambda: models.Sequential([layers.Dense(3, input_shape=(2,),
                                             kernel_initializer=np.ones((3, 3)))
                                ]).compile(optimizer="sgd", loss="mse"), "cannot fill"),
    (lambda: models.Sequential([layers.Dense(3, input_shape=(2,), bias_initializer="orthogonal")
                                ]).compile(optimizer="sgd", loss="mse"), "2 or more dimensions"),
])
def test_bad_arguments_are_refused_with_the_reason(factory, match):
    with pytest.raises((InvalidInputError, UnknownNameError), match=match):
        factory()
