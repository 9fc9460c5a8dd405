"""Learning-rate schedules against Keras 3: the expected values of
keras/src/optimizers/schedules/learning_rate_schedule_test.py, the formulas of
learning_rate_schedule.py at many steps, bad arguments, serialization, and an optimizer on a
schedule (``learning_rate`` is the schedule at ``iterations``; fit applies lr(iterations) at
each step, exactly as a hand loop of train_on_batch with the float set before each step)."""

import json
import math

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.errors import InvalidInputError
from gpudnn.optimizers import schedules

STEPS = [0, 1, 2, 3, 5, 9, 10, 11, 15, 20, 29, 30, 31, 100, 1000]


# ---------------------------------------------------------------- Keras's published expectations
def test_keras_exponential_decay():
    assert schedules.ExponentialDecay(0.05, 10, 0.96)(5) == pytest.approx(
        0.05 * 0.96 ** (5.0 / 10.0), rel=1e-6)
    staircase = schedules.ExponentialDecay(0.1, 3, 0.96, staircase=True)
    assert staircase(1) == pytest.approx(0.1, rel=1e-6)
    assert staircase(2) == pytest.approx(0.1, rel=1e-6)
    assert staircase(100) == pytest.approx(0.1 * 0.96 ** (100 // 3), rel=1e-6)


def test_keras_piecewise_constant_decay():
    decayed = schedules.PiecewiseConstantDecay([100, 110, 120], [1.0, 0.1, 0.01, 0.001])
    for step, expected in ((-999, 1.0), (100, 1.0), (105, 0.1), (110, 0.1), (120, 0.01),
                           (999, 0.001)):
        assert decayed(step) == pytest.approx(expected, rel=1e-6)
    boundary = schedules.PiecewiseConstantDecay([1, 2, 3], [0.4, 0.5, 0.6, 0.7])
    assert [boundary(s) for s in range(5)] == pytest.approx([0.4, 0.4, 0.5, 0.6, 0.7])


@pytest.mark.parametrize("power", [1.0, 0.5])
def test_keras_polynomial_decay(power):
    """LinearDecayTest (power 1) and SqrtDecayTest (power 0.5)."""
    lr, end = 0.05, 0.001
    assert schedules.PolynomialDecay(lr, 10, 0.0, power=power)(5) == pytest.approx(
        lr * 0.5 ** power, rel=1e-6)
    assert schedules.PolynomialDecay(lr, 10, end, power=power)(10) == pytest.approx(end, rel=1e-6)
    assert schedules.PolynomialDecay(lr, 10, end, power=power)(5) == pytest.approx(
        (lr - end) * 0.5 ** power + end, rel=1e-6)
    assert schedules.PolynomialDecay(lr, 10, end, power=power)(15) == pytest.approx(end, rel=1e-6)
    assert schedules.PolynomialDecay(lr, 10, end, power=power, cycle=True)(15) == pytest.approx(
        (lr - end) * 0.25 ** power + end, rel=1e-6)
    assert schedules.PolynomialDecay(0.001, 10, power=power, cycle=True)(0) == pytest.approx(
        0.001, rel=1e-6)


@pytest.mark.parametrize("staircase", [False, True])
def test_keras_inverse_time_decay(staircase):
    decayed = schedules.InverseTimeDecay(0.1, 10, 0.96, staircase=staircase)
    for i in range(11):
        p = i // 10 if staircase else i / 10
        assert decayed(i) == pytest.approx(0.1 / (1 + 0.96 * p), rel=1e-6)


def _np_cosine_decay(step, decay_steps, alpha=0.0):
    step = min(step, decay_steps)
    return (1.0 - alpha) * 0.5 * (1.0 + math.cos(math.pi * step / decay_steps)) + alpha


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_keras_cosine_decay(alpha):
    for step in range(0, 1500, 250):
        assert schedules.CosineDecay(1.0, 1000, alpha)(step) == pytest.approx(
            _np_cosine_decay(step, 1000, alpha), rel=1e-6, abs=1e-12)


def test_keras_cosine_decay_warmup():
    """test_warmup and test_warmup_decay (initial 0, target 10)."""
    for step in range(0, 1500, 250):
        lr = schedules.CosineDecay(0.0, 10, warmup_target=10.0, warmup_steps=1500)
        assert lr(step) == pytest.approx(step / 1500 * 10.0)
    for step in range(0, 3000, 250):
        lr = schedules.CosineDecay(0.0, 1000, warmup_target=10.0, warmup_steps=2000)
        expected = (step / 2000 * 10.0 if step < 2001
                    else 10.0 * _np_cosine_decay(step - 2000, 1000))
        assert lr(step) == pytest.approx(expected, abs=1e-12)


# ---------------------------------------------------------------- formulas at many steps
def exponential(lr0, decay_steps, rate, staircase):
    return lambda s: lr0 * rate ** (math.floor(s / decay_steps) if staircase else s / decay_steps)


def inverse_time(lr0, decay_steps, rate, staircase):
    return lambda s: lr0 / (1 + rate * (math.floor(s / decay_steps) if staircase
                                         else s / decay_steps))


def polynomial(lr0, decay_steps, end, power, cycle):
    def f(s):
        d = decay_steps * (max(1, math.ceil(s / decay_steps)) if cycle else 1)
        s = s if cycle else min(s, decay_steps)
        return (lr0 - end) * (1 - s / d) ** power + end
    return f


def cosine(lr0, decay_steps, alpha, target, warmup):
    def f(s):
        if target is None:
            return lr0 * _np_cosine_decay(s, decay_steps, alpha)
        s = min(s, decay_steps + warmup)
        if s < warmup:
            return lr0 + (target - lr0) * s / warmup
        return target * _np_cosine_decay(s - warmup, decay_steps, alpha)
    return f


def piecewise(boundaries, values):
    def f(s):
        for b, v in zip(boundaries, values):
            if s <= b:
                return v
        return values[-1]
    return f


CASES = {
    "exponential": (schedules.ExponentialDecay(0.1, 7, 0.5), exponential(0.1, 7, 0.5, False)),
    "exponential_staircase": (schedules.ExponentialDecay(0.1, 7, 0.5, staircase=True),
                              exponential(0.1, 7, 0.5, True)),
    "inverse_time": (schedules.InverseTimeDecay(0.2, 4, 0.3), inverse_time(0.2, 4, 0.3, False)),
    "inverse_time_staircase": (schedules.InverseTimeDecay(0.2, 4, 0.3, staircase=True),
                               inverse_time(0.2, 4, 0.3, True)),
    "polynomial": (schedules.PolynomialDecay(0.1, 10, 0.01, power=2.0),
                   polynomial(0.1, 10, 0.01, 2.0, False)),
    "polynomial_cycle": (schedules.PolynomialDecay(0.1, 10, 0.01, power=0.5, cycle=True),
                         polynomial(0.1, 10, 0.01, 0.5, True)),
    "cosine": (schedules.CosineDecay(0.1, 20, alpha=0.2), cosine(0.1, 20, 0.2, None, 0)),
    "cosine_warmup": (schedules.CosineDecay(0.01, 20, alpha=0.1, warmup_target=0.5,
                                            warmup_steps=10),
                      cosine(0.01, 20, 0.1, 0.5, 10)),
    "cosine_warmup_ignored_without_target": (schedules.CosineDecay(0.1, 20, warmup_steps=10),
                                             cosine(0.1, 20, 0.0, None, 0)),
    "piecewise": (schedules.PiecewiseConstantDecay([3, 10, 20], [0.5, 0.1, 0.05, 0.001]),
                  piecewise([3, 10, 20], [0.5, 0.1, 0.05, 0.001])),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_schedule_formula(case):
    schedule, formula = CASES[case]
    for step in STEPS:
        assert schedule(step) == pytest.approx(formula(step), rel=1e-14, abs=1e-16), step
        assert isinstance(schedule(step), float) or isinstance(schedule(step), int)


@pytest.mark.parametrize("case", sorted(CASES))
def test_schedule_serialization_round_trip(case):
    schedule = CASES[case][0]
    text = json.dumps(schedules.serialize(schedule))
    again = schedules.deserialize(json.loads(text))
    assert type(again) is type(schedule)
    assert again.get_config() == schedule.get_config()
    assert [again(s) for s in STEPS] == [schedule(s) for s in STEPS]


def test_schedule_configs_keep_keras_keys():
    keys = {
        schedules.ExponentialDecay: {"initial_learning_rate", "decay_steps", "decay_rate",
                                     "staircase", "name"},
        schedules.InverseTimeDecay: {"initial_learning_rate", "decay_steps", "decay_rate",
                                     "staircase", "name"},
        schedules.PolynomialDecay: {"initial_learning_rate", "decay_steps", "end_learning_rate",
                                    "power", "cycle", "name"},
        schedules.CosineDecay: {"initial_learning_rate", "decay_steps", "alpha", "name",
                                "warmup_target", "warmup_steps"},
        schedules.PiecewiseConstantDecay: {"boundaries", "values", "name"},
    }
    for schedule, _ in CASES.values():
        assert set(schedule.get_config()) == keys[type(schedule)]
    # Keras's default names
    assert schedules.ExponentialDecay(0.1, 1, 0.5).name == "ExponentialDecay"
    assert schedules.PiecewiseConstantDecay([1], [1.0, 0.5]).name == "PiecewiseConstant"
    assert schedules.PolynomialDecay(0.1, 1).name == "PolynomialDecay"
    assert schedules.InverseTimeDecay(0.1, 1, 0.5).name == "InverseTimeDecay"
    assert schedules.CosineDecay(0.1, 1).name == "CosineDecay"


# ---------------------------------------------------------------- bad arguments
BAD = [
    lambda: schedules.ExponentialDecay(0.1, 0, 0.5),
    lambda: schedules.ExponentialDecay(0.1, -3, 0.5),
    lambda: schedules.ExponentialDecay("0.1", 10, 0.5),
    lambda: schedules.ExponentialDecay(0.1, 10, float("nan")),
    lambda: schedules.InverseTimeDecay(0.1, 0, 0.5),
    lambda: schedules.InverseTimeDecay(None, 10, 0.5),
    lambda: schedules.PolynomialDecay(0.1, 0),
    lambda: schedules.PolynomialDecay(0.1, 10, power=float("inf")),
    lambda: schedules.CosineDecay(0.1, 0),
    lambda: schedules.CosineDecay(0.1, 10, warmup_steps=-1, warmup_target=0.2),
    lambda: schedules.CosineDecay(0.1, 10, warmup_target="high"),
    lambda: schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01]),
    lambda: schedules.PiecewiseConstantDecay([10], [0.1, "0.01"]),
    lambda: schedules.PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001]),
    lambda: schedules.deserialize({"class_name": "CosineDecayRestarts", "config": {}}),
    lambda: schedules.deserialize({"class_name": "ExponentialDecay",
                                   "config": {"initial_learning_rate": 0.1}}),
    lambda: schedules.deserialize("ExponentialDecay"),
]


@pytest.mark.parametrize("make", BAD, ids=range(len(BAD)))
def test_bad_schedule_arguments_are_refused(make):
    with pytest.raises(InvalidInputError):
        make()


def test_a_custom_schedule_cannot_be_serialized():
    class Halving(schedules.LearningRateSchedule):
        def __call__(self, step):
            return 0.1 / 2 ** step

        def get_config(self):
            return {}

    with pytest.raises(InvalidInputError, match="built-in schedules"):
        schedules.serialize(Halving())


# ---------------------------------------------------------------- optimizers on schedules
def test_optimizer_learning_rate_is_the_schedule_at_iterations():
    schedule = schedules.ExponentialDecay(0.1, 2, 0.5)
    optimizer = optimizers.SGD(learning_rate=schedule)
    var = gpudnn.Variable(np.zeros(3))
    for step in range(6):
        assert optimizer.learning_rate == pytest.approx(schedule(step), rel=1e-15)
        assert optimizer.lr == optimizer.learning_rate
        optimizer.apply_gradients(zip([np.ones(3)], [var]))
    np.testing.assert_allclose(var.numpy(), -sum(schedule(s) for s in range(6)), rtol=1e-14)
    optimizer.iterations = 2
    assert optimizer.learning_rate == pytest.approx(0.05, rel=1e-15)


def test_a_float_cannot_replace_a_schedule():
    optimizer = optimizers.Adam(learning_rate=schedules.CosineDecay(0.1, 10))
    with pytest.raises(InvalidInputError, match="schedule"):
        optimizer.learning_rate = 0.01
    with pytest.raises(InvalidInputError, match="schedule"):
        optimizer.lr = 0.01
    assert optimizer.learning_rate == pytest.approx(0.1)


def test_a_schedule_can_replace_a_float():
    optimizer = optimizers.SGD(learning_rate=0.5)
    var = gpudnn.Variable(np.zeros(2))
    optimizer.apply_gradients(zip([np.ones(2)], [var]))
    optimizer.learning_rate = schedules.PiecewiseConstantDecay([1], [1.0, 0.25])
    assert optimizer.learning_rate == 1.0   # iterations 1 <= boundary 1
    optimizer.apply_gradients(zip([np.ones(2)], [var]))
    assert optimizer.learning_rate == 0.25
    np.testing.assert_allclose(var.numpy(), -1.5)


@pytest.mark.parametrize("value", [0.0, -0.1, float("nan"), "0.1", None, True])
def test_bad_learning_rate_is_refused(value):
    with pytest.raises(InvalidInputError, match="learning_rate"):
        optimizers.SGD(learning_rate=value)
    optimizer = optimizers.SGD(learning_rate=0.1)
    if value == 0.0 and not isinstance(value, bool):  # a running optimizer may be set to 0, as
        optimizer.learning_rate = value              # a schedule or LearningRateScheduler ends
        assert optimizer.learning_rate == 0.0
        return
    with pytest.raises(InvalidInputError, match="learning_rate"):
        optimizer.learning_rate = value
    assert optimizer.learning_rate == 0.1


def _model(dtype):
    gpudnn.set_seed(7)
    model = models.Sequential([layers.Dense(5, activation="tanh", input_shape=(4,)),
                               layers.Dense(3, activation="softmax")], dtype=dtype)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    y = np.eye(3)[rng.integers(0, 3, 40)]
    return x, y


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("make", [
    lambda lr: optimizers.SGD(learning_rate=lr, momentum=0.9),
    lambda lr: optimizers.Adam(learning_rate=lr, weight_decay=0.01),
    lambda lr: optimizers.Nadam(learning_rate=lr, clipnorm=0.5),
    lambda lr: optimizers.RMSprop(learning_rate=lr, centered=True, global_clipnorm=1.0),
], ids=["sgd_momentum", "adam_wd", "nadam_clipnorm", "rmsprop_centered_global"])
def test_fit_applies_the_schedule_at_each_step(make, dtype):
    """fit with a schedule == a hand loop of train_on_batch setting the float lr(step) before
    each step, bit for bit (same batches: no shuffling, batch 8 -> 5 steps an epoch)."""
    schedule = schedules.PolynomialDecay(0.1, 12, 0.001, power=2.0, cycle=True)
    x, y = _data()
    scheduled = _model(dtype)
    scheduled.compile(optimizer=make(schedule), loss="categorical_crossentropy")
    scheduled.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert scheduled.optimizer.iterations == 15

    by_hand = _model(dtype)
    optimizer = make(1.0)
    by_hand.compile(optimizer=optimizer, loss="categorical_crossentropy")
    for _ in range(3):
        for start in range(0, 40, 8):
            optimizer.learning_rate = schedule(optimizer.iterations)
            by_hand.train_on_batch(x[start:start + 8], y[start:start + 8])
    for a, b in zip(scheduled.get_weights(), by_hand.get_weights()):
        np.testing.assert_array_equal(a, b)
    # and the schedule made a difference: a constant rate gives other weights
    constant = _model(dtype)
    constant.compile(optimizer=make(0.1), loss="categorical_crossentropy")
    constant.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert not np.allclose(constant.get_weights()[0], by_hand.get_weights()[0])


# ---------------------------------------------------------------- NumPy numbers, bad values
def test_numpy_numbers_are_accepted_and_configs_stay_json():
    """Keras takes NumPy scalars (np.int64 decay steps, np.float32 rates); the configs hold
    plain Python numbers so they stay JSON-able."""
    schedule = schedules.ExponentialDecay(np.float32(0.5), np.int64(10), np.float64(0.5),
                                          staircase=True)
    assert schedule(25) == pytest.approx(0.125)
    json.dumps(schedules.serialize(schedule))
    piecewise_numpy = schedules.PiecewiseConstantDecay(np.array([3, 10]), np.array([0.5, 0.1, 0.01]))
    assert piecewise_numpy(5) == pytest.approx(0.1)
    json.dumps(schedules.serialize(piecewise_numpy))
    optimizer = optimizers.Adam(learning_rate=np.float32(0.01), beta_1=np.float32(0.8),
                                epsilon=np.float64(1e-6), clipnorm=np.int64(1))
    assert optimizer.get_config()["clipnorm"] == 1.0
    json.dumps(optimizers.serialize(optimizer))
    json.dumps(optimizers.serialize(optimizers.Adagrad(initial_accumulator_value=np.float32(0))))


@pytest.mark.parametrize("make", [
    lambda: schedules.ExponentialDecay(0.1, 10, -0.5),
    lambda: schedules.InverseTimeDecay(0.1, 10, -0.5),
    lambda: schedules.PolynomialDecay(0.1, 10, power=-1.0),
])
def test_negative_decay_rate_or_power_is_refused(make):
    """A negative base to a fractional power is complex, a negative power divides by zero."""
    with pytest.raises(InvalidInputError):
        make()


def test_a_schedule_value_that_is_not_a_learning_rate_is_refused_before_the_step():
    optimizer = optimizers.SGD(learning_rate=schedules.PolynomialDecay(0.1, 10, -0.1))
    var = gpudnn.Variable(np.zeros(2))
    grads = np.ones(2)
    for _ in range(6):  # 0.1 down to 0.0 at step 5
        optimizer.apply_gradients(zip([grads], [var]))
    before = var.numpy()
    with pytest.raises(InvalidInputError, match="learning rate"):
        optimizer.apply_gradients(zip([grads], [var]))   # -0.02 at step 6
    np.testing.assert_array_equal(var.numpy(), before)
    assert optimizer.iterations == 6
