"""Each optimizer's first steps against the Keras formulas computed by hand, element by element."""

import math

import numpy as np
import pytest

from gpudnn import optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.errors import InvalidInputError, UnknownNameError

P0 = [0.5, -1.5, 2.0, 0.0]
GRADS = [[0.1, -0.2, 0.3, 0.0], [0.4, 0.1, -0.5, 1e-3], [-0.3, 0.2, 0.2, -2.0]]


def run(optimizer, dtype=np.float64):
    be = NumpyBackend()
    params = np.array(P0, dtype=dtype)
    optimizer.build(be, params.size, dtype)
    for g in GRADS:
        optimizer.apply(be, params, np.array(g, dtype=dtype))
    return params


def by_hand(step):
    """Apply ``step(p, g, state, t)`` to each scalar parameter independently."""
    out = []
    for i, p in enumerate(P0):
        state = {}
        for t, g in enumerate(GRADS, start=1):
            p = step(p, g[i], state, t)
        out.append(p)
    return out


def sgd(lr, momentum=0.0, nesterov=False):
    def step(p, g, s, t):
        if momentum == 0:
            return p - lr * g
        s["v"] = momentum * s.get("v", 0.0) - lr * g
        return p + (momentum * s["v"] - lr * g if nesterov else s["v"])
    return step


def rmsprop(lr, rho, eps, momentum=0.0):
    def step(p, g, s, t):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        inc = lr * g / math.sqrt(s["v"] + eps)
        if momentum:
            s["m"] = momentum * s.get("m", 0.0) + inc
            return p - s["m"]
        return p - inc
    return step


def adam(lr, b1, b2, eps, amsgrad=False, wd=0.0):
    def step(p, g, s, t):
        p = p - p * wd * lr
        s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
        s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)
        v = s["v"]
        if amsgrad:
            s["vhat"] = max(s.get("vhat", 0.0), v)
            v = s["vhat"]
        alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        return p - alpha * s["m"] / (math.sqrt(v) + eps)
    return step


def adagrad(lr, init, eps):
    def step(p, g, s, t):
        s["acc"] = s.get("acc", init) + g * g
        return p - lr * g / math.sqrt(s["acc"] + eps)
    return step


CASES = [
    (optimizers.SGD(), sgd(0.01)),
    (optimizers.SGD(learning_rate=0.1, momentum=0.9), sgd(0.1, 0.9)),
    (optimizers.SGD(lr=0.1, momentum=0.5, nesterov=True), sgd(0.1, 0.5, True)),
    (optimizers.RMSprop(), rmsprop(1e-3, 0.9, 1e-7)),
    (optimizers.RMSprop(lr=0.01, rho=0.8, momentum=0.5), rmsprop(0.01, 0.8, 1e-7, 0.5)),
    (optimizers.Adam(), adam(1e-3, 0.9, 0.999, 1e-7)),
    (optimizers.Adam(lr=0.1, beta_1=0.8, beta_2=0.99, amsgrad=True), adam(0.1, 0.8, 0.99, 1e-7, True)),
    (optimizers.AdamW(learning_rate=0.05, weight_decay=0.1), adam(0.05, 0.9, 0.999, 1e-7, wd=0.1)),
    (optimizers.Adagrad(), adagrad(1e-3, 0.1, 1e-7)),
    (optimizers.Adagrad(learning_rate=0.5, initial_accumulator_value=0.0), adagrad(0.5, 0.0, 1e-7)),
]


@pytest.mark.parametrize("optimizer,formula", CASES, ids=[repr(c[0]) for c in CASES])
def test_first_steps_match_keras_formulas(optimizer, formula):
    np.testing.assert_allclose(run(optimizer), by_hand(formula), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optimizer,formula", CASES, ids=[repr(c[0]) for c in CASES])
def test_float32_agrees_with_float64(optimizer, formula):
    np.testing.assert_allclose(run(optimizer, np.float32), by_hand(formula), rtol=2e-6, atol=1e-6)


def test_keras_defaults_and_lr_alias():
    assert optimizers.SGD().learning_rate == 0.01
    assert optimizers.RMSprop(lr=0.001).learning_rate == 0.001
    adam = optimizers.get("adam")
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon) == (1e-3, 0.9, 0.999, 1e-7)
    assert optimizers.get("adamw").weight_decay == 0.004
    assert optimizers.get("Adagrad").initial_accumulator_value == 0.1


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), "fast", None])
def test_non_positive_learning_rate_is_refused(bad):
    with pytest.raises(InvalidInputError, match="learning_rate"):
        optimizers.Adam(learning_rate=bad)


def test_unknown_optimizer_lists_the_valid_names():
    with pytest.raises(UnknownNameError, match="adagrad, adam, adamax, adamw, nadam, rmsprop, sgd"):
        optimizers.get("adadelta")
