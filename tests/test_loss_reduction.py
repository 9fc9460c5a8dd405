"""A loss's ``reduction=`` as Keras 3 (``keras/src/losses/loss.py``): per-sample losses L_i
times the weights w_i, then ``sum_over_batch_size`` / ``mean`` divide their sum by the number
of samples, ``sum`` keeps the sum, ``mean_with_sample_weight`` divides by the sum of the
weights, None / ``"none"`` return them per sample. Checked against hand-written float64 NumPy;
fit trains only on the batch-mean reductions and says so for the others."""

import numpy as np
import pytest

from gpudnn import layers, losses, models
from gpudnn.errors import InvalidInputError

RNG = np.random.default_rng(3)
P = RNG.dirichlet(np.ones(4), size=6)
Y = np.eye(4)[RNG.integers(0, 4, 6)]
W = np.array([1.0, 0.0, 2.0, 0.5, 3.0, 1.0])


def per_sample(kind):
    """Keras's per-sample losses, written out."""
    c = np.clip(P, 1e-7, 1 - 1e-7)
    if kind == "cce":
        return -(Y * np.log(c)).sum(axis=1)
    if kind == "mse":
        return ((P - Y) ** 2).mean(axis=1)
    if kind == "kld":  # summed over the classes, targets and predictions clipped to [1e-7, 1]
        t, q = np.clip(Y, 1e-7, 1), np.clip(P, 1e-7, 1)
        return (t * np.log(t / q)).sum(axis=1)
    return -(Y * np.log(c) + (1 - Y) * np.log(1 - c)).mean(axis=1)


MAKERS = {"cce": losses.CategoricalCrossentropy, "mse": losses.MeanSquaredError,
          "bce": losses.BinaryCrossentropy, "kld": losses.KLDivergence}


@pytest.mark.parametrize("kind", list(MAKERS))
@pytest.mark.parametrize("weights", [None, W], ids=["unweighted", "weighted"])
def test_each_reduction_is_keras_formula(kind, weights):
    values = per_sample(kind) * (1.0 if weights is None else weights)
    w_sum = len(P) if weights is None else W.sum()
    expected = {"sum_over_batch_size": values.sum() / len(P), "mean": values.sum() / len(P),
                "sum": values.sum(), "mean_with_sample_weight": values.sum() / w_sum}
    for reduction, value in expected.items():
        got = MAKERS[kind](reduction=reduction)(Y, P, sample_weight=weights)
        assert got == pytest.approx(value, rel=1e-12), reduction
    for none in (None, "none"):
        got = MAKERS[kind](reduction=none)(Y, P, sample_weight=weights)
        assert isinstance(got, np.ndarray) and got.shape == (len(P),)
        np.testing.assert_allclose(got, values, rtol=1e-12)


def test_mean_with_sample_weight_of_zero_weights_is_zero():
    loss = losses.CategoricalCrossentropy(reduction="mean_with_sample_weight")
    assert loss(Y, P, sample_weight=np.zeros(len(P))) == 0.0


def test_the_reduction_round_trips_through_config():
    for reduction in losses.REDUCTIONS:
        loss = losses.MeanSquaredError(reduction=reduction)
        again = losses.deserialize(losses.serialize(loss))
        assert again.reduction == reduction


@pytest.mark.parametrize("reduction", ["sum", "mean_with_sample_weight", None, "none"])
def test_fit_refuses_a_reduction_it_does_not_train_with(reduction):
    model = models.Sequential([layers.Dense(4, activation="softmax", input_shape=(3,))],
                              device="cpu")
    with pytest.raises(InvalidInputError, match="batch mean"):
        model.compile(optimizer="sgd",
                      loss=losses.CategoricalCrossentropy(reduction=reduction))


def test_mean_trains_as_sum_over_batch_size():
    x = RNG.random((32, 3), dtype=np.float32)
    y = np.eye(4, dtype=np.float32)[RNG.integers(0, 4, 32)]
    weights = []
    for reduction in ("sum_over_batch_size", "mean"):
        model = models.Sequential([layers.Dense(4, activation="softmax", input_shape=(3,))],
                                  device="cpu")
        model.set_weights([np.full((3, 4), 0.1, np.float32), np.zeros(4, np.float32)])
        model.compile(optimizer="sgd", loss=losses.CategoricalCrossentropy(reduction=reduction))
        model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
