"""sample_weight and class_weight follow Keras 3's rule (a batch's loss is sum_i w_i L_i / n, n
the batch size): trained weights and reported losses against a float64 NumPy reference of
plain SGD with gradients written by hand; class_weight is the equivalent sample_weight; the
accuracy metric stays unweighted (as Keras's ``metrics``); bad weights are refused up front."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, losses, models, optimizers
from gpudnn.errors import InvalidInputError
from gpudnn.utils import PyDataset, to_categorical

from conftest import blobs

LEARNING_RATE = {"softmax_cce": 0.5, "linear_mse": 0.05}


def small_model(kind, seed=3):
    """Dense(3, softmax) with categorical cross-entropy, or Dense(2) linear with MSE; SGD."""
    gpudnn.set_seed(seed)
    if kind == "softmax_cce":
        model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(6,))],
                                  device="cpu")
        model.compile(optimizer=optimizers.SGD(learning_rate=LEARNING_RATE[kind]),
                      loss="categorical_crossentropy", metrics=["accuracy"])
    else:
        model = models.Sequential([layers.Dense(2, input_shape=(6,))], device="cpu")
        model.compile(optimizer=optimizers.SGD(learning_rate=LEARNING_RATE[kind]), loss="mse")
    return model


def problem(kind, n=96):
    """x (n, 6) float32 and targets: one-hot of 3 classes, or 2 real outputs."""
    x, labels = blobs(n=n, features=6, classes=3, seed=1, spread=1.5)
    if kind == "softmax_cce":
        return x, to_categorical(labels, 3)
    mix = np.random.default_rng(2).normal(size=(6, 2))
    return x, (x @ mix / 3 + 0.3).astype(np.float32)


def half_zero_weights(n, seed=0):
    """Zeros on a random half of the samples, weights in [0.5, 2] on the other half."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.5, 2.0, n)
    w[rng.permutation(n)[:n // 2]] = 0.0
    return w


def per_sample(kind, z, y):
    """Per-sample losses (n,) and dL_i/dz (n, k) of the pre-activations z, float64."""
    if kind == "softmax_cce":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        return -np.sum(y * np.log(np.clip(p, 1e-7, 1 - 1e-7)), axis=1), p - y
    return np.mean((z - y) ** 2, axis=1), 2 * (z - y) / y.shape[1]


def reference_sgd(kind, weights, x, y, w, batch_size, epochs, normalize="batch size"):
    """Keras's rule in float64: per batch, loss = sum_i w_i L_i / n; plain SGD on the hand-made
    gradient. Returns the kernel, bias, each epoch's reported loss (sum_i w_i L_i / N at the
    weights each batch saw) and accuracy (unweighted). ``normalize="weights"`` divides by
    sum_i w_i instead (a wrong rule: the test must tell the two apart)."""
    kernel, bias = (a.astype(np.float64) for a in weights)
    lr = LEARNING_RATE[kind]
    history = {"loss": [], "accuracy": []}
    for _ in range(epochs):
        total = correct = 0.0
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size].astype(np.float64)
            yb, wb = y[start:start + batch_size].astype(np.float64), w[start:start + batch_size]
            z = xb @ kernel + bias
            loss, dz = per_sample(kind, z, yb)
            total += np.sum(wb * loss)
            correct += np.sum(z.argmax(axis=1) == yb.argmax(axis=1))
            scale = len(xb) if normalize == "batch size" else wb.sum()
            dz = wb[:, None] * dz / scale
            kernel -= lr * xb.T @ dz
            bias -= lr * dz.sum(axis=0)
        history["loss"].append(total / len(x))
        history["accuracy"].append(correct / len(x))
    return kernel, bias, history


@pytest.mark.parametrize("kind", ["softmax_cce", "linear_mse"])
def test_zero_weights_on_half_the_samples_train_as_keras_rule(kind):
    x, y = problem(kind)
    w = half_zero_weights(len(x))
    model = small_model(kind)
    start = model.get_weights()
    history = model.fit(x, y, sample_weight=w, batch_size=16, epochs=2, shuffle=False, verbose=0)
    kernel, bias, expected = reference_sgd(kind, start, x, y, w, batch_size=16, epochs=2)
    got_kernel, got_bias = model.get_weights()
    assert np.abs(kernel - start[0]).max() > 1e-2  # it trained
    np.testing.assert_allclose(got_kernel, kernel, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(got_bias, bias, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(history.history["loss"], expected["loss"], rtol=2e-5)
    if kind == "softmax_cce":  # the metric is not weighted
        assert history.history["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-9)
    # the test tells Keras's rule from dividing by the sum of the weights
    wrong, _, _ = reference_sgd(kind, start, x, y, w, batch_size=16, epochs=2, normalize="weights")
    assert not np.allclose(got_kernel, wrong, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("kind", ["softmax_cce", "linear_mse"])
def test_weighted_train_on_batch_test_on_batch_and_evaluate(kind):
    x, y = problem(kind, n=40)
    w = half_zero_weights(len(x), seed=5)
    model = small_model(kind)
    start = model.get_weights()
    z = x.astype(np.float64) @ start[0] + start[1]
    loss, _ = per_sample(kind, z, y.astype(np.float64))
    expected_loss = np.sum(w * loss) / len(x)

    evaluated = model.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0)
    tested = model.test_on_batch(x, y, sample_weight=w)
    if kind == "softmax_cce":
        accuracy = np.mean(z.argmax(axis=1) == y.argmax(axis=1))
        assert evaluated[1] == pytest.approx(accuracy, abs=1e-9)  # unweighted
        assert evaluated[1] == model.evaluate(x, y, batch_size=16, verbose=0)[1]
        assert tested[1] == pytest.approx(accuracy, abs=1e-9)
        evaluated, tested = evaluated[0], tested[0]
    assert evaluated == pytest.approx(expected_loss, rel=1e-5)
    assert tested == pytest.approx(expected_loss, rel=1e-5)
    assert all(np.array_equal(a, b) for a, b in zip(start, model.get_weights()))

    stepped = model.train_on_batch(x, y, sample_weight=w)
    kernel, bias, _ = reference_sgd(kind, start, x, y, w, batch_size=len(x), epochs=1)
    stepped = stepped[0] if kind == "softmax_cce" else stepped
    assert stepped == pytest.approx(expected_loss, rel=1e-5)
    np.testing.assert_allclose(model.get_weights()[0], kernel, rtol=1e-4, atol=2e-6)
    np.testing.assert_allclose(model.get_weights()[1], bias, rtol=1e-4, atol=2e-6)


def test_loss_object_call_takes_sample_weight():
    x, y = problem("softmax_cce", n=20)
    p = np.random.default_rng(0).dirichlet(np.ones(3), len(x))
    w = half_zero_weights(len(x))
    expected = np.sum(w * -np.sum(y * np.log(p), axis=1)) / len(x)
    assert losses.CategoricalCrossentropy()(y, p, sample_weight=w) == pytest.approx(expected,
                                                                                  rel=1e-12)


@pytest.mark.parametrize("loss,class_weight", [
    ("categorical_crossentropy", {0: 0.5, 1: 2.0, 2: 0.0}),
    ("sparse_categorical_crossentropy", {1: 3.0}),  # classes not named weigh 1
])
def test_class_weight_is_exactly_the_equivalent_sample_weight(loss, class_weight):
    x, labels = blobs(n=120, features=6, classes=3, seed=4, spread=1.5)
    y = to_categorical(labels, 3) if loss == "categorical_crossentropy" else labels
    sample_weight = np.array([class_weight.get(int(c), 1.0) for c in labels])
    trained = []
    for kwargs in ({"class_weight": class_weight}, {"sample_weight": sample_weight}):
        gpudnn.set_seed(11)
        model = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                                   layers.Dense(3, activation="softmax")], device="cpu")
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, **kwargs)  # shuffled
        trained.append((history.history, model.get_weights()))
    (h_class, w_class), (h_sample, w_sample) = trained
    assert h_class == h_sample
    assert all(np.array_equal(a, b) for a, b in zip(w_class, w_sample))


def test_class_weight_and_sample_weight_multiply():
    x, y = problem("softmax_cce")
    labels = y.argmax(axis=1)
    w = half_zero_weights(len(x))
    class_weight = {0: 2.0, 2: 0.25}
    both, product = small_model("softmax_cce"), small_model("softmax_cce")
    both.fit(x, y, sample_weight=w, class_weight=class_weight, batch_size=16, verbose=0)
    product.fit(x, y, sample_weight=w * np.array([2.0, 1.0, 0.25])[labels], batch_size=16,
                verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(both.get_weights(), product.get_weights()))


def test_validation_split_splits_the_sample_weights_too():
    x, y = problem("softmax_cce", n=100)
    w = half_zero_weights(len(x))
    model = small_model("softmax_cce")
    history = model.fit(x, y, sample_weight=w, validation_split=0.2, batch_size=16, verbose=0)
    expected = model.evaluate(x[80:], y[80:], sample_weight=w[80:], batch_size=16, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(expected[0], rel=1e-6)
    assert history.history["val_accuracy"][0] == pytest.approx(expected[1], abs=1e-9)


class OneBatch(PyDataset):
    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y

    def __len__(self):
        return 1

    def __getitem__(self, index):
        return self.x, self.y


def ten_class_model():
    model = models.Sequential([layers.Dense(10, activation="softmax", input_shape=(6,))],
                              device="cpu")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def bad_weight_cases(x, y):
    n = len(x)
    negative, nan = np.ones(n), np.ones(n)
    negative[3], nan[5] = -1.0, np.nan
    gen = lambda: ((x[i:i + 8], y[i:i + 8]) for i in range(0, n, 8))  # noqa: E731
    return {
        "negative": ({"sample_weight": negative}, r"sample_weight\[3\] is -1\.0 .*>= 0"),
        "NaN": ({"sample_weight": nan}, r"sample_weight\[5\] is nan .*finite"),
        "length": ({"sample_weight": np.ones(n - 1)},
                   rf"sample_weight has shape \({n - 1},\), but there are {n} samples"),
        "unknown class": ({"class_weight": {10: 1.0}},
                          r"class_weight names class 10, but the model's classes are 0\.\.9"),
        "negative class weight": ({"class_weight": {1: -0.5}},
                                  r"class_weight\[1\] must be a finite number >= 0"),
        "y with a generator": ({"x": gen(), "y": y}, r"y must be None when x is a generator"),
        "sample_weight with a generator": ({"x": gen(), "y": None, "sample_weight": np.ones(n)},
                                           r"sample_weight must be None when x is a generator"),
        "sample_weight with a PyDataset": ({"x": OneBatch(x, y), "y": None,
                                            "sample_weight": np.ones(n)},
                                           r"sample_weight must be None .* a PyDataset"),
    }


@pytest.mark.parametrize("case", list(bad_weight_cases(*blobs(n=8))))
def test_bad_weights_are_refused_before_any_step(case):
    x, labels = blobs(n=40, features=6, classes=3)
    kwargs, message = bad_weight_cases(x, labels)[case]
    model = ten_class_model()
    before = model.get_weights()
    with pytest.raises(InvalidInputError, match=message):
        model.fit(**{"x": x, "y": labels, **kwargs}, batch_size=8, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("call", ["evaluate", "train_on_batch", "test_on_batch"])
def test_bad_sample_weight_refused_by_evaluate_and_the_batch_calls(call):
    x, labels = blobs(n=40, features=6, classes=3)
    model = ten_class_model()
    before = model.get_weights()
    negative = np.ones(len(x))
    negative[7] = -2.0
    with pytest.raises(InvalidInputError, match=r"sample_weight\[7\] is -2\.0"):
        getattr(model, call)(x, labels, sample_weight=negative)
    with pytest.raises(InvalidInputError, match=r"sample_weight has shape \(39,\)"):
        getattr(model, call)(x, labels, sample_weight=np.ones(39))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(InvalidInputError, match=r"class_weight names class 10"):
        model.train_on_batch(x, labels, class_weight={10: 1.0})
