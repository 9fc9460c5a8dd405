"""``gpudnn.Variable`` and custom training loops: the Variable API, ``model.trainable_weights``
as views of the model, ``optimizer.apply_gradients`` errors (raised before any change), and the
custom loop ``grads = model.gradients(x, y); optimizer.apply_gradients(zip(grads,
model.trainable_weights))`` equal to ``train_on_batch`` bit for bit."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.errors import InvalidInputError


# ---------------------------------------------------------------- the Variable API
def test_variable_api():
    var = gpudnn.Variable(np.arange(6.0).reshape(2, 3), name="w")
    assert var.shape == (2, 3) and var.dtype == np.float64 and var.name == "w"
    assert "w" in repr(var) and "(2, 3)" in repr(var)
    np.testing.assert_array_equal(var.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(np.asarray(var), var.numpy())
    host = var.numpy()
    host[0, 0] = 99  # numpy() is a copy
    assert var.numpy()[0, 0] == 0
    assert var.assign(np.ones((2, 3))) is var
    np.testing.assert_array_equal(var.numpy(), np.ones((2, 3)))
    var.assign_add(np.full((2, 3), 2.5))
    np.testing.assert_array_equal(var.numpy(), np.full((2, 3), 3.5))
    var.assign_sub(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(var.numpy(), 3.5 - np.arange(6.0).reshape(2, 3))
    var.assign(gpudnn.Variable(np.zeros((2, 3))))
    np.testing.assert_array_equal(var.numpy(), np.zeros((2, 3)))
    var.assign([[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(var.numpy(), [[1, 2, 3], [4, 5, 6]])
    assert var.dtype == np.float64


def test_variable_dtypes():
    """As in Keras: Python floats give floatx (float32); a NumPy float array keeps its dtype."""
    assert gpudnn.Variable([1.0, 2.0]).dtype == np.float32
    assert gpudnn.Variable(2.0).dtype == np.float32 and gpudnn.Variable(2.0).shape == ()
    assert gpudnn.Variable([1, 2]).dtype == np.float32
    assert gpudnn.Variable(np.ones(2)).dtype == np.float64
    assert gpudnn.Variable(np.ones(2, np.float32)).dtype == np.float32
    assert gpudnn.Variable([1.0], dtype="float64").dtype == np.float64
    assert gpudnn.Variable(np.ones(2), dtype="float32").dtype == np.float32
    gpudnn.set_floatx("float64")
    try:
        assert gpudnn.Variable([1.0]).dtype == np.float64
    finally:
        gpudnn.set_floatx("float32")


@pytest.mark.parametrize("change", [
    lambda v: v.assign(np.ones((3, 2))),
    lambda v: v.assign(np.ones(6)),
    lambda v: v.assign_add(np.ones((2, 3, 1))),
    lambda v: v.assign_sub(np.ones((2, 2))),
    lambda v: v.assign(gpudnn.Variable(np.ones(3))),
    lambda v: v.assign(np.array([["a", "b", "c"]] * 2)),
])
def test_assign_errors_leave_the_variable_as_it_was(change):
    var = gpudnn.Variable(np.arange(6.0).reshape(2, 3), name="w")
    with pytest.raises(InvalidInputError, match="'w'"):
        change(var)
    np.testing.assert_array_equal(var.numpy(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("value,dtype", [("abc", None), ([[1.0, 2.0], [3.0]], None),
                                         ([1.0], "no-such-type"), ([1.0], "str")])
def test_bad_variable_values_are_refused(value, dtype):
    with pytest.raises(InvalidInputError):
        gpudnn.Variable(value, dtype=dtype)


# ---------------------------------------------------------------- model.trainable_weights
def _model(dtype="float32", seed=3):
    gpudnn.set_seed(seed)
    return models.Sequential([layers.Dense(6, activation="relu", input_shape=(4,)),
                              layers.Dense(5, activation="tanh"),
                              layers.Dense(3, activation="softmax")], dtype=dtype)


def test_trainable_weights_are_views_of_the_model():
    model = _model()
    weights = model.trainable_weights
    assert [w.shape for w in weights] == [w.shape for w in model.get_weights()]
    assert [w.name for w in weights] == [f"{layer.name}/{part}" for layer in model.layers
                                         for part in ("kernel", "bias")]
    for w, host in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(w.numpy(), host)
        assert w.dtype == np.float32
    weights[2].assign(np.full((6, 5), 0.25))
    np.testing.assert_array_equal(model.get_weights()[2], np.full((6, 5), 0.25))
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    np.testing.assert_array_equal(weights[0].numpy(), 0)
    assert sum(int(np.prod(w.shape)) for w in weights) == model.count_params()


def test_trainable_weights_need_a_built_model():
    model = models.Sequential([layers.Dense(3)])
    with pytest.raises(InvalidInputError, match="built"):
        model.trainable_weights  # noqa: B018 (reading it raises)


# ---------------------------------------------------------------- apply_gradients errors
@pytest.mark.parametrize("pairs,match", [
    (lambda v, w: [(np.ones(3), np.zeros(3))], "Variable"),
    (lambda v, w: [(None, v)], "no gradient"),
    (lambda v, w: [(np.ones(4), v)], "shape"),
    (lambda v, w: [(np.ones((3, 1)), v)], "shape"),
    (lambda v, w: [(np.array(["a", "b", "c"]), v)], "numbers"),
    (lambda v, w: [], "no"),
    (lambda v, w: [(np.ones(3), v), (np.ones(3), v)], "twice"),
    (lambda v, w: [(np.ones(3), v), (np.ones(2), w)], "dtype"),
    (lambda v, w: [(np.ones(3), gpudnn.Variable(np.zeros(3), dtype="int32"))], "floating"),
])
def test_apply_gradients_errors_change_nothing(pairs, match):
    v = gpudnn.Variable(np.zeros(3), name="v")
    w = gpudnn.Variable(np.zeros(2), dtype="float32", name="w")
    optimizer = optimizers.Adam()
    with pytest.raises(InvalidInputError, match=match):
        optimizer.apply_gradients(pairs(v, w))
    assert optimizer.iterations == 0
    np.testing.assert_array_equal(v.numpy(), 0)
    np.testing.assert_array_equal(w.numpy(), 0)


def test_one_optimizer_per_set_of_variables():
    """Like Keras's "Unknown variable": an optimizer built on some variables refuses others."""
    a, b = gpudnn.Variable(np.zeros(2)), gpudnn.Variable(np.zeros(2))
    optimizer = optimizers.SGD(0.1)
    optimizer.apply_gradients(zip([np.ones(2)], [a]))
    with pytest.raises(InvalidInputError, match="other variables"):
        optimizer.apply_gradients(zip([np.ones(2)], [b]))
    optimizer.apply_gradients([(np.ones(2), a)])   # the same set again is fine
    np.testing.assert_allclose(a.numpy(), -0.2)
    np.testing.assert_array_equal(b.numpy(), 0)
    compiled = _model()
    compiled.compile(optimizer=optimizers.SGD(0.1), loss="mse")
    with pytest.raises(InvalidInputError):
        compiled.optimizer.apply_gradients(zip([np.ones(2)], [a]))


def test_gradients_may_be_variables_or_float32_for_float64():
    a = gpudnn.Variable(np.zeros(2))
    optimizer = optimizers.SGD(0.5)
    optimizer.apply_gradients(zip([gpudnn.Variable(np.ones(2))], [a]))
    optimizer.apply_gradients(zip([np.ones(2, np.float32)], [a]))
    np.testing.assert_array_equal(a.numpy(), -1.0)
    assert optimizer.iterations == 2


def test_slots_persist_across_calls_on_standalone_variables():
    """SGD momentum over three calls equals the formula: the velocity is kept."""
    a = gpudnn.Variable(np.zeros(1))
    optimizer = optimizers.SGD(0.1, momentum=0.5)
    for _ in range(3):
        optimizer.apply_gradients(zip([np.ones(1)], [a]))
    velocity, p = 0.0, 0.0
    for _ in range(3):
        velocity = 0.5 * velocity - 0.1
        p += velocity
    np.testing.assert_allclose(a.numpy(), [p], rtol=1e-15)


# ---------------------------------------------------------------- custom loop == train_on_batch
OPTIMIZERS = {
    "sgd_nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "sgd_clipvalue": lambda: optimizers.SGD(0.1, clipvalue=0.05),
    "rmsprop_centered": lambda: optimizers.RMSprop(0.01, centered=True, momentum=0.5),
    "adam_amsgrad_wd": lambda: optimizers.Adam(0.01, amsgrad=True, weight_decay=0.01),
    "adamw": lambda: optimizers.AdamW(0.01),
    "adagrad": lambda: optimizers.Adagrad(0.1),
    "nadam_clipnorm": lambda: optimizers.Nadam(0.01, clipnorm=0.1),
    "adamax_global_clipnorm": lambda: optimizers.Adamax(0.02, global_clipnorm=0.2),
}


def _batches():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(48, 4))
    y = np.eye(3)[rng.integers(0, 3, 48)]
    return [(x[i:i + 16], y[i:i + 16]) for i in range(0, 48, 16)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_custom_loop_equals_train_on_batch(name, dtype):
    batches = _batches()
    stepped = _model(dtype)
    stepped.compile(optimizer=OPTIMIZERS[name](), loss="categorical_crossentropy")
    for x, y in batches:
        stepped.train_on_batch(x, y)

    custom = _model(dtype)
    optimizer = OPTIMIZERS[name]()
    custom.compile(optimizer=optimizer, loss="categorical_crossentropy")
    for x, y in batches:
        grads = custom.gradients(x, y)
        assert optimizer.apply_gradients(zip(grads, custom.trainable_weights)) == \
            optimizer.iterations
    assert optimizer.iterations == stepped.optimizer.iterations == len(batches)
    for a, b in zip(custom.get_weights(), stepped.get_weights()):
        np.testing.assert_array_equal(a, b)
    for slot in optimizer.slots:
        np.testing.assert_array_equal(np.asarray(optimizer.slots[slot]),
                                      np.asarray(stepped.optimizer.slots[slot]))


@pytest.mark.parametrize("name", ["adam_amsgrad_wd", "nadam_clipnorm"])
def test_custom_loop_with_its_own_optimizer_equals_train_on_batch(name):
    """An optimizer that is not the compiled one can drive the model's weights (the compiled
    optimizer only gives the loss for ``gradients``)."""
    batches = _batches()
    stepped = _model()
    stepped.compile(optimizer=OPTIMIZERS[name](), loss="categorical_crossentropy")
    custom = _model()
    custom.compile(optimizer="sgd", loss="categorical_crossentropy")
    optimizer = OPTIMIZERS[name]()
    for x, y in batches:
        stepped.train_on_batch(x, y)
        optimizer.apply_gradients(zip(custom.gradients(x, y), custom.trainable_weights))
    for a, b in zip(custom.get_weights(), stepped.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert custom.optimizer.iterations == 0


def test_custom_loop_on_a_part_of_the_model_updates_only_that_part():
    """Variables that are not the whole model take the gathered path: the other weights stay."""
    model = _model("float64")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    x, y = _batches()[0]
    before = model.get_weights()
    grads = model.gradients(x, y)
    optimizer = optimizers.SGD(0.5)
    last = model.trainable_weights[-2:]
    optimizer.apply_gradients(zip(grads[-2:], last))
    after = model.get_weights()
    for i in range(4):
        np.testing.assert_array_equal(after[i], before[i])
    for i in (4, 5):
        np.testing.assert_allclose(after[i], before[i] - 0.5 * grads[i], rtol=1e-15, atol=1e-17)


def test_complex_or_non_numeric_gradients_are_refused_before_any_change():
    var = gpudnn.Variable([1.0, 2.0])
    optimizer = optimizers.SGD(0.1)
    for bad in (np.array([1 + 1j, 2]), np.array(["a", "b"])):
        with pytest.raises(InvalidInputError, match="must hold (real )?numbers"):
            optimizer.apply_gradients([(bad, var)])
    np.testing.assert_array_equal(var.numpy(), [1.0, 2.0])
    optimizer.apply_gradients([([1.0, 2.0], var)])  # a list is fine
    np.testing.assert_allclose(var.numpy(), [0.9, 1.8])
