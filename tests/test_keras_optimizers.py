"""gpudnn's optimizers against Keras 3.

1. Keras's own optimizer tests, as published in keras-team/keras keras/src/optimizers/*_test.py
   (single step, weight decay, the five-step "golden" sequences, clipping), with their numbers and
   tolerances, through ``optimizer.apply_gradients(zip(grads, [gpudnn.Variable(...)]))``.
2. An independent float64 NumPy re-implementation of every update rule (written from Keras's
   ``update_step`` code and ``BaseOptimizer`` clipping / weight decay, not calling gpudnn), run
   for ten steps with random gradients on two variables, with weight decay and each clipping
   mode; gpudnn must agree to 1e-12 in float64 and 1e-5 in float32, on the default CPU backend
   and on the NumPy reference backend.
3. The per-step values are read from the optimizer's device array: nothing is baked into the
   update call.
"""

import json
import math

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.errors import InvalidInputError
from gpudnn.optimizers import schedules

X0 = [1.0, 2.0, 3.0, 4.0]
G0 = [1.0, 6.0, 7.0, 2.0]


def one_step(optimizer, x=X0, g=G0, dtype="float32"):
    var = gpudnn.Variable(np.array(x, dtype=dtype))
    optimizer.apply_gradients(zip([np.array(g, dtype=dtype)], [var]))
    return var.numpy()


# ---------------------------------------------------------------------------- 1. Keras's tests
# test_single_step of keras/src/optimizers/{sgd,adam,rmsprop,adamw,adagrad,nadam,adamax}_test.py:
# learning_rate=0.5, x=[1, 2, 3, 4], grads=[1, 6, 7, 2], rtol=atol=1e-4.
SINGLE_STEP = {
    "SGD": [0.5, -1.0, -0.5, 3.0],
    "Adam": [0.5, 1.5, 2.5, 3.5],
    "RMSprop": [-0.5811, 0.4189, 1.4189, 2.4189],
    "AdamW": [0.4980, 1.4960, 2.494, 3.492],
    "Adagrad": [0.5233, 1.5007, 2.5005, 3.5061],
    "Nadam": [0.4686, 1.4686, 2.4686, 3.4686],
    "Adamax": [0.5, 1.5, 2.5, 3.5],
}
CLASSES = sorted(SINGLE_STEP)


@pytest.mark.parametrize("name", CLASSES)
def test_keras_single_step(name):
    optimizer = getattr(optimizers, name)(learning_rate=0.5)
    np.testing.assert_allclose(one_step(optimizer), SINGLE_STEP[name], rtol=1e-4, atol=1e-4)
    assert optimizer.iterations == 1


@pytest.mark.parametrize("name", CLASSES)
def test_keras_single_step_float64(name):
    optimizer = getattr(optimizers, name)(learning_rate=0.5)
    np.testing.assert_allclose(one_step(optimizer, dtype="float64"), SINGLE_STEP[name],
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", CLASSES)
def test_keras_weight_decay(name):
    """Keras's test_weight_decay: three optimizers (lr 1, weight_decay 0.004) each take one step
    with a zero gradient on the same scalar variable: 2 * 0.996^3 = 1.9760959. (The parts on
    exclude_from_weight_decay are left out: gpudnn does not implement it.)"""
    var = gpudnn.Variable(2.0, dtype="float32")
    for _ in range(3):
        optimizer = getattr(optimizers, name)(learning_rate=1.0, weight_decay=0.004)
        optimizer.apply_gradients(zip([np.zeros((), np.float32)], [var]))
    assert var.shape == ()
    assert var.numpy() == pytest.approx(1.9760959, abs=1e-6)


def test_keras_rmsprop_docstring_example():
    """keras/src/optimizers/rmsprop.py's example: loss var^2 / 2 from var = 10, lr 0.1."""
    var = gpudnn.Variable(10.0, dtype="float32")
    optimizers.RMSprop(learning_rate=0.1).apply_gradients(zip([var.numpy()], [var]))
    assert var.numpy() == pytest.approx(9.683772, abs=1e-6)


# test_correctness_with_golden: x = ones(10); one step with grads 0.01, then before each of five
# steps with grads arange(0.1, 1.1, 0.1) x must equal the golden row (rtol=atol=5e-4).
def _tile(column):
    return np.tile(np.array(column)[:, None], (1, 10))


GOLDEN = {
    # sgd_test.py: SGD(nesterov=True) (momentum 0: plain SGD, lr 0.01)
    "sgd_nesterov": (lambda: optimizers.SGD(nesterov=True), np.array(
        [[0.9999] * 10,
         [0.9989, 0.9979, 0.9969, 0.9959, 0.9949, 0.9939, 0.9929, 0.9919, 0.9909, 0.9899],
         [0.9979, 0.9959, 0.9939, 0.9919, 0.9899, 0.9879, 0.9859, 0.9839, 0.9819, 0.9799],
         [0.9969, 0.9939, 0.9909, 0.9879, 0.9849, 0.9819, 0.9789, 0.9759, 0.9729, 0.9699],
         [0.9959, 0.9919, 0.9879, 0.9839, 0.9799, 0.9759, 0.9719, 0.9679, 0.9639, 0.9599]])),
    # adam_test.py: Adam(amsgrad=True)
    "adam_amsgrad": (lambda: optimizers.Adam(amsgrad=True),
                     _tile([0.999, 0.9982, 0.9974, 0.9965, 0.9955])),
    # rmsprop_test.py: RMSprop(centered=True)
    "rmsprop_centered": (lambda: optimizers.RMSprop(centered=True),
                         _tile([0.9967, 0.9933, 0.9908, 0.9885, 0.9864])),
    # adamw_test.py: AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2)
    "adamw": (lambda: optimizers.AdamW(learning_rate=1.0, weight_decay=0.5, epsilon=2), np.array(
        [[0.4998] * 10,
         [0.2486, 0.2475, 0.2463, 0.2451, 0.244, 0.2428, 0.2417, 0.2405, 0.2394, 0.2382],
         [0.1223, 0.1198, 0.1174, 0.1149, 0.1124, 0.11, 0.1075, 0.1051, 0.1027, 0.1003],
         [0.0586, 0.0549, 0.0512, 0.0475, 0.0439, 0.0402, 0.0366, 0.033, 0.0294, 0.0258],
         [0.0263, 0.0215, 0.0167, 0.012, 0.0073, 0.0026, -0.0021, -0.0067, -0.0113, -0.0159]])),
    # adagrad_test.py: Adagrad(learning_rate=0.2, initial_accumulator_value=0.3, epsilon=1e-6)
    "adagrad": (lambda: optimizers.Adagrad(learning_rate=0.2, initial_accumulator_value=0.3,
                                           epsilon=1e-6), np.array(
        [[0.9963] * 10,
         [0.9604, 0.9278, 0.9003, 0.8784, 0.8615, 0.8487, 0.8388, 0.8313, 0.8255, 0.8209],
         [0.9251, 0.8629, 0.8137, 0.7768, 0.7497, 0.7298, 0.7151, 0.704, 0.6956, 0.6891],
         [0.8903, 0.8012, 0.7342, 0.6862, 0.6521, 0.6277, 0.6099, 0.5967, 0.5867, 0.579],
         [0.856, 0.7422, 0.6604, 0.6037, 0.5644, 0.5367, 0.5168, 0.5021, 0.491, 0.4825]])),
    # nadam_test.py: Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5)
    "nadam": (lambda: optimizers.Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5),
              np.array(
        [[0.4281] * 10,
         [-0.1738, -0.1731, -0.1726, -0.1723, -0.1721, -0.172, -0.1719, -0.1718, -0.1718, -0.1717],
         [-0.7115, -0.7103, -0.7096, -0.7092, -0.709, -0.7088, -0.7086, -0.7085, -0.7085, -0.7084],
         [-1.2335, -1.2322, -1.2313, -1.2309, -1.2306, -1.2304, -1.2302, -1.2301, -1.23, -1.2299],
         [-1.7492, -1.7478, -1.7469, -1.7464, -1.7461, -1.7459, -1.7457, -1.7456, -1.7455,
          -1.7454]])),
    # adamax_test.py: Adamax(learning_rate=0.2, beta_1=0.85, beta_2=0.95, epsilon=1e-6)
    "adamax": (lambda: optimizers.Adamax(learning_rate=0.2, beta_1=0.85, beta_2=0.95,
                                         epsilon=1e-6), np.array(
        [[0.8] * 10,
         [0.6827, 0.6873, 0.6888, 0.6896, 0.6901, 0.6904, 0.6906, 0.6908, 0.6909, 0.691],
         [0.5333, 0.5407, 0.5431, 0.5444, 0.5451, 0.5456, 0.546, 0.5462, 0.5464, 0.5466],
         [0.368, 0.3773, 0.3804, 0.382, 0.3829, 0.3835, 0.384, 0.3843, 0.3846, 0.3848],
         [0.1933, 0.204, 0.2076, 0.2094, 0.2105, 0.2112, 0.2117, 0.2121, 0.2124, 0.2126]])),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_keras_golden(case, dtype):
    make, golden = GOLDEN[case]
    optimizer = make()
    x = gpudnn.Variable(np.ones(10), dtype=dtype)
    grads = np.arange(0.1, 1.1, 0.1)[:10]
    optimizer.apply_gradients(zip([np.full(10, 0.01)], [x]))
    for row in golden:
        np.testing.assert_allclose(x.numpy(), row, rtol=5e-4, atol=5e-4)
        optimizer.apply_gradients(zip([grads], [x]))
    assert optimizer.iterations == 6


@pytest.mark.parametrize("name", CLASSES)
def test_keras_clip_norm_and_value(name):
    """Keras's test_clip_norm / test_clip_value: gradient [100, 100] with clipnorm=1 becomes
    [sqrt(2)/2, sqrt(2)/2], with clipvalue=1 [1, 1]. Seen through SGD(lr=1) from zero, where the
    step is minus the clipped gradient; the other optimizers must clip the same gradient, so
    their step equals their step on the pre-clipped gradient."""
    for kwargs, clipped in (({"clipnorm": 1}, [2 ** 0.5 / 2] * 2), ({"clipvalue": 1}, [1.0, 1.0])):
        np.testing.assert_allclose(
            one_step(optimizers.SGD(learning_rate=1.0, **kwargs), [0, 0], [100, 100], "float64"),
            np.negative(clipped), rtol=1e-12)
        optimizer = getattr(optimizers, name)(learning_rate=0.5, **kwargs)
        reference = getattr(optimizers, name)(learning_rate=0.5)
        np.testing.assert_allclose(one_step(optimizer, [1, 2], [100, 100], "float64"),
                                   one_step(reference, [1, 2], clipped, "float64"), rtol=1e-12)


def test_global_clipnorm_scales_all_gradients_by_their_joint_norm():
    """global_clipnorm=1 on gradients [3, 4] and [12] (joint norm 13): both scaled by 1/13;
    clipnorm=1 scales each by its own norm (5 and 12)."""
    def steps(**kwargs):
        a, b = gpudnn.Variable(np.zeros(2)), gpudnn.Variable(np.zeros(1))
        optimizers.SGD(learning_rate=1.0, **kwargs).apply_gradients(
            zip([np.array([3.0, 4.0]), np.array([12.0])], [a, b]))
        return np.concatenate([a.numpy(), b.numpy()])

    np.testing.assert_allclose(steps(global_clipnorm=1), [-3 / 13, -4 / 13, -12 / 13], rtol=1e-14)
    np.testing.assert_allclose(steps(clipnorm=1), [-3 / 5, -4 / 5, -1.0], rtol=1e-14)
    np.testing.assert_allclose(steps(global_clipnorm=100), [-3, -4, -12], rtol=1e-14)


@pytest.mark.parametrize("kwargs", [{"clipnorm": 0}, {"clipvalue": 0}, {"global_clipnorm": 0}])
def test_zero_clip_setting_means_no_clipping_as_in_keras(kwargs):
    """Keras clips only when the setting is > 0 (``if self.clipnorm and self.clipnorm > 0``):
    0 leaves the gradient as it is, it does not zero it."""
    np.testing.assert_allclose(one_step(optimizers.SGD(learning_rate=0.5, **kwargs),
                                        dtype="float64"), SINGLE_STEP["SGD"], rtol=1e-14)


def test_only_one_clipping_setting():
    with pytest.raises(InvalidInputError, match="only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(InvalidInputError, match="only one of"):
        optimizers.SGD(clipnorm=1.0, global_clipnorm=1.0)


def test_adamw_weight_decay_none_is_refused_as_in_keras():
    """adamw_test.py test_weight_decay_is_none: AdamW needs a float weight_decay."""
    with pytest.raises(InvalidInputError, match="weight_decay"):
        optimizers.AdamW(learning_rate=1.0, weight_decay=None)


def test_keras_fit_with_exponential_decay_schedule():
    """keras/src/optimizers/schedules/learning_rate_schedule_test.py test_fit_lr_correctness:
    Dense(2) with ones, Adam on ExponentialDecay(0.05, 1, 0.9), mse, 3 epochs of 4 batches of 4,
    no shuffling: Keras's losses per epoch, rtol=5e-5; iterations 12."""
    model = models.Sequential([layers.Dense(2, kernel_initializer="ones",
                                            bias_initializer="ones", input_shape=(2,))])
    optimizer = optimizers.Adam(learning_rate=schedules.ExponentialDecay(
        initial_learning_rate=0.05, decay_steps=1, decay_rate=0.9))
    assert optimizer.iterations == 0
    model.compile(optimizer=optimizer, loss="mse")
    x = np.arange(32).reshape((16, 2))
    history = model.fit(x, x, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert optimizer.iterations == 12
    np.testing.assert_allclose(history.history["loss"],
                               [230.79457092285156, 128.30319213867188, 79.33648681640625],
                               rtol=5e-5)


def test_keras_defaults():
    """The constructor defaults of keras/src/optimizers/*.py."""
    expected = {
        "SGD": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
        "RMSprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7,
                    "centered": False},
        "Adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
                 "amsgrad": False},
        "AdamW": {"learning_rate": 0.001, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999,
                  "epsilon": 1e-7, "amsgrad": False},
        "Adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
        "Nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
        "Adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    }
    for name, defaults in expected.items():
        config = getattr(optimizers, name)().get_config()
        for key, value in defaults.items():
            assert config[key] == value, (name, key)
        for key in ("clipnorm", "clipvalue", "global_clipnorm"):
            assert config[key] is None
        if name != "AdamW":
            assert config["weight_decay"] is None


# ---------------------------------------------------------------------------- 2. reference
def reference_clip(grads, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """BaseOptimizer._clip_gradients: per-variable clipnorm, joint global_clipnorm, clipvalue."""
    if clipnorm:
        return [g * clipnorm / max(math.sqrt(float(np.sum(g * g))), clipnorm) for g in grads]
    if global_clipnorm:
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        scale = global_clipnorm * min(1.0 / norm, 1.0 / global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


class Reference:
    """Keras's update_step for one optimizer kind, in float64, variable by variable."""

    def __init__(self, kind, lr=None, weight_decay=None, clip=None, **hp):
        self.kind, self.lr, self.wd, self.clip, self.hp = kind, lr, weight_decay, clip or {}, hp
        self.state, self.iterations, self.u_product = {}, 0, 1.0

    def lr_at(self, step):
        return self.lr(step) if callable(self.lr) else self.lr

    def apply(self, params, grads):
        grads = reference_clip([np.asarray(g, np.float64) for g in grads], **self.clip)
        lr, t = self.lr_at(self.iterations), self.iterations + 1
        if self.kind == "nadam":
            self.u_product *= self.hp["beta_1"] * (1 - 0.5 * 0.96 ** t)
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.wd:
                p -= p * self.wd * lr
            p[...] = getattr(self, "_" + self.kind)(self.state.setdefault(i, {}), p, g, lr, t)
        self.iterations += 1

    def _sgd(self, s, p, g, lr, t):
        momentum = self.hp.get("momentum", 0.0)
        if not momentum:
            return p - g * lr
        s["m"] = s.get("m", 0.0) * momentum - g * lr
        if self.hp.get("nesterov"):
            return p + (s["m"] * momentum - g * lr)
        return p + s["m"]

    def _rmsprop(self, s, p, g, lr, t):
        rho, eps, momentum = self.hp["rho"], self.hp["epsilon"], self.hp.get("momentum", 0.0)
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        if self.hp.get("centered"):
            s["a"] = rho * s.get("a", 0.0) + (1 - rho) * g
            denominator = s["v"] - s["a"] ** 2 + eps
        else:
            denominator = s["v"] + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            s["mom"] = momentum * s.get("mom", 0.0) + increment
            return p - s["mom"]
        return p - increment

    def _moments(self, s, g):
        b1, b2 = self.hp["beta_1"], self.hp["beta_2"]
        s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
        s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)

    def _adam(self, s, p, g, lr, t):
        b1, b2 = self.hp["beta_1"], self.hp["beta_2"]
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        self._moments(s, g)
        v = s["v"]
        if self.hp.get("amsgrad"):
            s["vhat"] = np.maximum(s.get("vhat", 0.0), v)
            v = s["vhat"]
        return p - s["m"] * alpha / (np.sqrt(v) + self.hp["epsilon"])

    def _nadam(self, s, p, g, lr, t):
        b1, b2 = self.hp["beta_1"], self.hp["beta_2"]
        u_t = b1 * (1 - 0.5 * 0.96 ** t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        self._moments(s, g)
        m_hat = u_next * s["m"] / (1 - self.u_product * u_next) + \
            (1 - u_t) * g / (1 - self.u_product)
        v_hat = s["v"] / (1 - b2 ** t)
        return p - m_hat * lr / (np.sqrt(v_hat) + self.hp["epsilon"])

    def _adamax(self, s, p, g, lr, t):
        b1, b2 = self.hp["beta_1"], self.hp["beta_2"]
        s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
        s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g))
        return p - lr * s["m"] / ((1 - b1 ** t) * (s["u"] + self.hp["epsilon"]))

    def _adagrad(self, s, p, g, lr, t):
        s["acc"] = s.get("acc", self.hp["initial_accumulator_value"]) + g * g
        return p - lr * g / np.sqrt(s["acc"] + self.hp["epsilon"])


ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}
# (gpudnn optimizer class, its keyword arguments, the reference kind and hyperparameters)
RULES = {
    "sgd": (optimizers.SGD, {"learning_rate": 0.1}, "sgd", {}),
    "sgd_momentum": (optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.9}, "sgd",
                     {"momentum": 0.9}),
    "sgd_nesterov": (optimizers.SGD, {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True},
                     "sgd", {"momentum": 0.8, "nesterov": True}),
    "rmsprop": (optimizers.RMSprop, {"learning_rate": 0.01}, "rmsprop",
                {"rho": 0.9, "epsilon": 1e-7}),
    "rmsprop_momentum": (optimizers.RMSprop, {"learning_rate": 0.01, "rho": 0.8, "momentum": 0.5},
                         "rmsprop", {"rho": 0.8, "epsilon": 1e-7, "momentum": 0.5}),
    "rmsprop_centered": (optimizers.RMSprop, {"learning_rate": 0.01, "centered": True},
                         "rmsprop", {"rho": 0.9, "epsilon": 1e-7, "centered": True}),
    "rmsprop_centered_momentum": (
        optimizers.RMSprop, {"learning_rate": 0.01, "centered": True, "momentum": 0.3,
                             "epsilon": 1e-6},
        "rmsprop", {"rho": 0.9, "epsilon": 1e-6, "centered": True, "momentum": 0.3}),
    "adam": (optimizers.Adam, {"learning_rate": 0.02}, "adam", ADAM),
    "adam_amsgrad": (optimizers.Adam, {"learning_rate": 0.02, "beta_1": 0.8, "beta_2": 0.99,
                                       "amsgrad": True},
                     "adam", {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7, "amsgrad": True}),
    "adamw": (optimizers.AdamW, {"learning_rate": 0.02}, "adam", ADAM),
    "adagrad": (optimizers.Adagrad, {"learning_rate": 0.1}, "adagrad",
                {"initial_accumulator_value": 0.1, "epsilon": 1e-7}),
    "nadam": (optimizers.Nadam, {"learning_rate": 0.02}, "nadam", ADAM),
    "adamax": (optimizers.Adamax, {"learning_rate": 0.02, "beta_2": 0.95}, "adamax",
               {"beta_1": 0.9, "beta_2": 0.95, "epsilon": 1e-7}),
}
CLIPS = {"none": {}, "clipnorm": {"clipnorm": 0.5}, "global_clipnorm": {"global_clipnorm": 0.8},
         "clipvalue": {"clipvalue": 0.3}}
SHAPES = [(3, 4), (5,)]
STEPS = 10


def random_problem(dtype, seed=0):
    """Starting values and STEPS gradients for two variables, exactly representable in dtype."""
    rng = np.random.default_rng(seed)
    start = [rng.normal(0, 1, s).astype(dtype).astype(np.float64) for s in SHAPES]
    grads = [[(rng.normal(0, 1, s) * rng.choice([0.1, 1.0, 3.0])).astype(dtype).astype(np.float64)
              for s in SHAPES] for _ in range(STEPS)]
    return start, grads


def rule_pair(rule, clip, weight_decay):
    cls, kwargs, kind, hp = RULES[rule]
    kwargs = dict(kwargs, **CLIPS[clip])
    if weight_decay is not None or cls is not optimizers.AdamW:
        kwargs["weight_decay"] = weight_decay
    wd = kwargs["weight_decay"] if "weight_decay" in kwargs else 0.004  # AdamW's default
    return cls(**kwargs), Reference(kind, kwargs["learning_rate"], wd, CLIPS[clip], **hp)


def run_reference(reference, start, grads):
    params = [p.copy() for p in start]
    for step_grads in grads:
        reference.apply(params, step_grads)
    return params


def run_variables(optimizer, start, grads, dtype):
    variables = [gpudnn.Variable(p, dtype=dtype, name=f"v{i}") for i, p in enumerate(start)]
    for step_grads in grads:
        optimizer.apply_gradients(zip([g.astype(dtype) for g in step_grads], variables))
    return [v.numpy() for v in variables]


def run_numpy_backend(optimizer, start, grads, dtype):
    """The same steps on NumpyBackend's flat buffers, through the optimizer's build/apply."""
    be = NumpyBackend()
    sizes = [p.size for p in start]
    bounds = np.cumsum([0] + sizes)
    params = np.concatenate([p.ravel() for p in start]).astype(dtype)
    optimizer.build(be, params.size, dtype, segments=list(zip(bounds[:-1], bounds[1:])))
    for step_grads in grads:
        optimizer.apply(be, params, np.concatenate([g.ravel() for g in step_grads]).astype(dtype))
    return [params[a:b].reshape(p.shape) for a, b, p in zip(bounds[:-1], bounds[1:], start)]


def assert_each_close(got, expected, **tolerance):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, **tolerance)


TOLERANCE = {"float64": dict(rtol=1e-12, atol=1e-13), "float32": dict(rtol=1e-5, atol=1e-5)}


@pytest.mark.parametrize("path", ["variables", "numpy_backend"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("weight_decay", [None, 0.05])
@pytest.mark.parametrize("clip", sorted(CLIPS))
@pytest.mark.parametrize("rule", sorted(RULES))
def test_ten_steps_match_the_reference(rule, clip, weight_decay, dtype, path):
    start, grads = random_problem(dtype, seed=10 * sorted(RULES).index(rule) +
                                  sorted(CLIPS).index(clip))
    optimizer, reference = rule_pair(rule, clip, weight_decay)
    expected = run_reference(reference, start, grads)
    run = run_variables if path == "variables" else run_numpy_backend
    got = run(optimizer, start, grads, dtype)
    assert optimizer.iterations == STEPS
    assert all(g.dtype == np.dtype(dtype) for g in got)
    assert_each_close(got, expected, **TOLERANCE[dtype])


def test_reference_is_not_trivially_satisfied():
    """The comparisons above can fail: a different rule or clipping gives other numbers."""
    start, grads = random_problem("float64")
    base = run_reference(rule_pair("adam", "none", None)[1], start, grads)
    for rule, clip, wd in (("nadam", "none", None), ("adam", "clipnorm", None),
                           ("adam", "global_clipnorm", None), ("adam", "clipvalue", None),
                           ("adam", "none", 0.05), ("adam_amsgrad", "none", None)):
        other = run_reference(rule_pair(rule, clip, wd)[1], start, grads)
        assert not np.allclose(other[0], base[0], rtol=1e-6), (rule, clip, wd)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_schedule_reference(rule):
    """An optimizer on a schedule takes the schedule's value at ``iterations`` each step."""
    cls, kwargs, kind, hp = RULES[rule]
    lr0 = kwargs["learning_rate"]
    schedule = schedules.ExponentialDecay(lr0, decay_steps=3, decay_rate=0.5)
    optimizer = cls(**dict(kwargs, learning_rate=schedule, weight_decay=0.01))
    reference = Reference(kind, lambda step: lr0 * 0.5 ** (step / 3), 0.01, **hp)
    start, grads = random_problem("float64", seed=7)
    assert_each_close(run_variables(optimizer, start, grads, "float64"),
                      run_reference(reference, start, grads), **TOLERANCE["float64"])


@pytest.mark.parametrize("rule", ["sgd_momentum", "rmsprop_centered", "adam", "nadam", "adamax"])
def test_learning_rate_set_between_steps_matches_the_reference(rule):
    """``optimizer.learning_rate = x`` changes the next step (Adam's alpha, Nadam's factors)."""
    cls, kwargs, kind, hp = RULES[rule]
    rates = [0.05, 0.01, 0.2, 0.002, 0.1, 0.03, 0.3, 0.004, 0.06, 0.01]
    optimizer = cls(**kwargs)
    reference = Reference(kind, lambda step: rates[step], None, **hp)
    start, grads = random_problem("float64", seed=3)
    variables = [gpudnn.Variable(p, name=f"v{i}") for i, p in enumerate(start)]
    for rate, step_grads in zip(rates, grads):
        optimizer.learning_rate = rate
        optimizer.apply_gradients(zip(step_grads, variables))
    assert_each_close([v.numpy() for v in variables], run_reference(reference, start, grads),
                      **TOLERANCE["float64"])


def test_nadam_step_factors_do_not_depend_on_earlier_steps():
    """Nadam's running product u_1 ... u_t is recomputed when ``iterations`` is set back (a
    resumed run): the factors written for step t are the same whatever ran before."""
    for t in (1, 2, 5, 3, 1):
        fresh, resumed = optimizers.Nadam(), optimizers.Nadam()
        resumed._extras(0.02, 7)  # a run that got to step 7 before being set back
        assert resumed._extras(0.02, t) == pytest.approx(fresh._extras(0.02, t), rel=1e-15)


# ---------------------------------------------------------------------------- 3. nothing baked
class RecordingBackend(NumpyBackend):
    """NumpyBackend that records every ``*_update`` call's arguments (arrays by identity)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attr = super().__getattribute__(name)
        if name.endswith("_update") and callable(attr):
            def recorded(*args, **kwargs):
                self.calls.append((name, args + tuple(kwargs[k] for k in sorted(kwargs))))
                return attr(*args, **kwargs)
            return recorded
        return attr


def _hyper_of(args):
    """The hyper array among an update call's arguments: the only small array."""
    small = [a for a in args if isinstance(a, np.ndarray) and a.size <= 8]
    assert len(small) == 1
    return small[0]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_step_reads_the_device_array_of_per_step_values(rule):
    """Two steps with a learning rate changed between them: the update is called with the same
    hyper array both times (a captured step would replay with it), every other argument is the
    same object or the same scalar, and the array holds the new step's values."""
    cls, kwargs, kind, hp = RULES[rule]
    be = RecordingBackend()
    optimizer = cls(**dict(kwargs, weight_decay=0.01))
    params = np.linspace(-1, 1, 12)
    grads = np.linspace(0.5, -0.3, 12)
    optimizer.build(be, 12, np.float64)
    optimizer.apply(be, params, grads)
    optimizer.learning_rate = kwargs["learning_rate"] * 3
    optimizer.apply(be, params, grads)
    (name1, args1), (name2, args2) = be.calls
    assert name1 == name2 and len(args1) == len(args2)
    hyper = _hyper_of(args1)
    assert hyper is optimizer.hyper
    for a, b in zip(args1, args2):
        assert a is b or (not isinstance(a, np.ndarray) and a == b)
    lr = kwargs["learning_rate"] * 3
    assert hyper[1] == pytest.approx(lr * 0.01, rel=1e-15)  # decay = lr * weight_decay
    step_size = {"adam": lr * math.sqrt(1 - hp.get("beta_2", 0) ** 2) / (1 - hp.get("beta_1", 0)
                                                                          ** 2),
                 "adamax": lr / (1 - hp.get("beta_1", 0) ** 2)}.get(kind, lr)
    assert hyper[0] == pytest.approx(step_size, rel=1e-15)
    # the second step really used the new values: compare with the reference
    reference = Reference(kind, lambda step: kwargs["learning_rate"] * (1 if step == 0 else 3),
                          0.01, **hp)
    expected = np.linspace(-1, 1, 12)
    for _ in range(2):
        reference.apply([expected], [grads])
    np.testing.assert_allclose(params, expected, rtol=1e-12, atol=1e-14)


def test_replaying_a_recorded_update_uses_the_current_array():
    """Replay the recorded call itself (what a captured graph does) after the optimizer has
    written a new learning rate into its array: the replay takes the new rate."""
    be = RecordingBackend()
    optimizer = optimizers.SGD(learning_rate=0.1)
    params, grads = np.zeros(3), np.ones(3)
    optimizer.build(be, 3, np.float64)
    optimizer.apply(be, params, grads)
    name, args = be.calls[0]
    assert name == "sgd_update"
    np.testing.assert_allclose(params, -0.1)
    optimizer.learning_rate = 0.25
    optimizer.begin_step(be)  # the optimizer writes the new rate into its array
    params_, grads_, hyper, ema = args  # the recorder lists the keyword ema=None last
    assert ema is None
    NumpyBackend.sgd_update(be, params_, grads_, hyper)  # the same arrays, no new host scalar
    np.testing.assert_allclose(params, -0.35, rtol=1e-15)


# ---------------------------------------------------------------------------- 4. serialization
# The configs of Keras's test_config cases (run_class_serialization_test), and a schedule.
CONFIG_CASES = {
    "SGD": lambda: optimizers.SGD(learning_rate=0.5, momentum=0.06, nesterov=True,
                                  weight_decay=0.004),
    "RMSprop": lambda: optimizers.RMSprop(learning_rate=0.5, rho=0.8, momentum=0.05, epsilon=1e-6,
                                          centered=True),
    "Adam": lambda: optimizers.Adam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5,
                                    amsgrad=True),
    "AdamW": lambda: optimizers.AdamW(learning_rate=0.5, weight_decay=0.008, beta_1=0.5,
                                      beta_2=0.67, epsilon=1e-5, amsgrad=True),
    "Adagrad": lambda: optimizers.Adagrad(learning_rate=0.5, initial_accumulator_value=0.2,
                                          epsilon=1e-5),
    "Nadam": lambda: optimizers.Nadam(learning_rate=0.5, beta_1=0.5, beta_2=0.67, epsilon=1e-5),
    "Adamax": lambda: optimizers.Adamax(learning_rate=0.5, beta_1=0.8, beta_2=0.95, epsilon=1e-5),
    "Adam_schedule_clipnorm": lambda: optimizers.Adam(
        learning_rate=schedules.CosineDecay(0.05, 10, alpha=0.1, warmup_target=0.2,
                                            warmup_steps=2, name="my_cd"), clipnorm=0.5),
    "SGD_schedule_global_clipnorm": lambda: optimizers.SGD(
        learning_rate=schedules.PiecewiseConstantDecay([2, 4], [0.3, 0.2, 0.1]),
        global_clipnorm=1.5, name="my_sgd"),
    "Nadam_schedule_clipvalue": lambda: optimizers.Nadam(
        learning_rate=schedules.ExponentialDecay(0.05, 3, 0.5, staircase=True), clipvalue=0.2,
        weight_decay=0.01),
}
# BaseOptimizer.get_config's keys that gpudnn implements (all but loss_scale_factor), and each
# optimizer's own keys.
BASE_KEYS = {"name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
             "use_ema", "ema_momentum", "ema_overwrite_frequency", "gradient_accumulation_steps"}
OWN_KEYS = {
    "SGD": {"momentum", "nesterov"},
    "RMSprop": {"rho", "momentum", "epsilon", "centered"},
    "Adam": {"beta_1", "beta_2", "epsilon", "amsgrad"},
    "AdamW": {"beta_1", "beta_2", "epsilon", "amsgrad"},
    "Adagrad": {"initial_accumulator_value", "epsilon"},
    "Nadam": {"beta_1", "beta_2", "epsilon"},
    "Adamax": {"beta_1", "beta_2", "epsilon"},
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_serialize_round_trip(case):
    optimizer = CONFIG_CASES[case]()
    name = type(optimizer).__name__
    config = optimizer.get_config()
    assert set(config) == BASE_KEYS | OWN_KEYS[name]
    text = json.dumps(optimizers.serialize(optimizer))
    again = optimizers.deserialize(json.loads(text))
    assert type(again) is type(optimizer)
    assert again.get_config() == config
    assert type(optimizer).from_config(config).get_config() == config
    assert optimizers.get(again) is again
    # the copy (no state) steps exactly like a fresh optimizer of the same config
    start, grads = random_problem("float64", seed=11)
    for a, b in zip(run_variables(CONFIG_CASES[case](), start, grads[:5], "float64"),
                    run_variables(again, start, grads[:5], "float64")):
        np.testing.assert_array_equal(a, b)


def test_deserialize_refuses_what_it_does_not_know():
    for bad in ({"class_name": "Lion", "config": {}}, {"class_name": "Adam"}, "adam",
                {"class_name": "Adam", "config": {"beta_3": 0.5}},
                {"class_name": "Adam", "config": {"learning_rate": {"class_name": "Nope",
                                                                   "config": {}}}}):
        with pytest.raises(InvalidInputError):
            optimizers.deserialize(bad)

    class Custom(optimizers.Adam):
        pass

    with pytest.raises(InvalidInputError, match="Custom"):
        optimizers.serialize(Custom())


def test_unknown_keyword_is_refused_with_the_names():
    with pytest.raises(InvalidInputError, match="beta1"):
        optimizers.Adam(beta1=0.9)


def test_get_by_name_and_class_gives_keras_defaults():
    for name in ("sgd", "rmsprop", "adam", "adamw", "adagrad", "nadam", "adamax"):
        by_name = optimizers.get(name)
        by_class = optimizers.get(type(by_name))
        assert type(by_name).__name__.lower() == name
        assert by_class.get_config() == by_name.get_config()


@pytest.mark.parametrize("clip", ["clipnorm", "global_clipnorm", "clipvalue"])
def test_train_on_batch_clips_each_weight_as_keras_does(clip):
    """In a model, clipnorm clips each kernel and bias by its own norm (Keras clips per
    variable), global_clipnorm all of them together: train_on_batch against the reference fed
    with the model's own gradients, in float64."""
    gpudnn.set_seed(5)
    model = models.Sequential([layers.Dense(6, activation="tanh", input_shape=(4,)),
                               layers.Dense(2)], dtype="float64")
    limits = {"clipnorm": 0.05, "global_clipnorm": 0.1, "clipvalue": 0.01}
    model.compile(optimizer=optimizers.Adam(0.01, weight_decay=0.01, **{clip: limits[clip]}),
                  loss="mse")
    reference = Reference("adam", 0.01, 0.01, {clip: limits[clip]}, **ADAM)
    weights = model.get_weights()
    rng = np.random.default_rng(2)
    for _ in range(4):
        x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 2)) * 3
        grads = model.gradients(x, y)
        clipped = reference_clip(grads, **{clip: limits[clip]})
        assert not all(np.allclose(a, b) for a, b in zip(grads, clipped))  # clipping bites
        reference.apply(weights, grads)
        model.train_on_batch(x, y)
    assert_each_close(model.get_weights(), weights, **TOLERANCE["float64"])
