"""GradientNormRecorder: exact values against a NumPy reference, bookkeeping, vanishing gradients."""

import math

import numpy as np
import pytest

from gpudnn import experiments, layers, models, optimizers
from gpudnn.callbacks import Callback
from gpudnn.errors import InvalidInputError
from gpudnn.callbacks.gradient_norms import GradientNormRecorder
from gpudnn.utils import to_categorical

from conftest import blobs


def _small_model():
    model = models.Sequential()
    model.add(layers.Dense(16, activation="relu", input_shape=(6,)))
    model.add(layers.Dense(3, activation="softmax"))
    model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _reference_norms(weights, x, y):
    """Per-layer gradient norms of the mean cross-entropy, back-propagated by hand in float64."""
    w1, b1, w2, b2 = (w.astype(np.float64) for w in weights)
    x, y = x.astype(np.float64), y.astype(np.float64)
    z1 = x @ w1 + b1
    h = np.maximum(z1, 0)
    z2 = h @ w2 + b2
    p = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz2 = (p - y) / len(x)
    dh = dz2 @ w2.T
    dz1 = dh * (z1 > 0)

    def norm(*grads):
        return math.sqrt(sum(float((g * g).sum()) for g in grads))

    return [norm(x.T @ dz1, dz1.sum(0)), norm(h.T @ dz2, dz2.sum(0))]


def test_norms_match_a_numpy_reference_for_a_full_batch():
    x, labels = blobs(n=64)
    y = to_categorical(labels, 3)
    model = _small_model()
    expected = _reference_norms(model.get_weights(), x, y)
    recorder = GradientNormRecorder()
    model.fit(x, y, epochs=1, batch_size=64, verbose=0, shuffle=False, callbacks=[recorder])
    names = [layer.name for layer in model.layers]
    assert list(recorder.norms) == names
    got = [recorder.norms[name][0] for name in names]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_every_n_batches_counts_across_epochs():
    x, labels = blobs(n=80)
    recorder = GradientNormRecorder(every=3)
    model = _small_model()
    model.fit(x, to_categorical(labels, 3), epochs=2, batch_size=10, verbose=0,
              callbacks=[recorder])
    # 8 batches per epoch, 16 in all: batches 0, 3, 6, 9, 12, 15 are recorded
    assert recorder.steps == [0, 3, 6, 9, 12, 15]
    assert all(len(values) == 6 for values in recorder.norms.values())
    assert all(v > 0 and math.isfinite(v) for values in recorder.norms.values() for v in values)
    means = recorder.mean_norms()
    assert means[model.layers[0].name] == pytest.approx(np.mean(recorder.norms[model.layers[0].name]))


@pytest.mark.parametrize("every", [0, -1, 1.5, True, "2"])
def test_every_must_be_a_positive_integer(every):
    with pytest.raises(InvalidInputError, match="every"):
        GradientNormRecorder(every=every)


def test_flush_keeps_the_batches_before_an_interrupted_fit():
    class StopAfter(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 4:
                raise KeyboardInterrupt

    x, labels = blobs(n=80)
    recorder = GradientNormRecorder()
    model = _small_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, to_categorical(labels, 3), epochs=1, batch_size=10, verbose=0,
                  callbacks=[recorder, StopAfter()])
    recorder.flush()
    assert recorder.steps == [0, 1, 2, 3, 4]


def test_sigmoid_first_layer_gets_orders_of_magnitude_less_gradient_than_relu():
    data = experiments.load_data("sample", limit=1000)
    first, last_hidden = {}, {}
    for activation in ("sigmoid", "relu"):
        model = experiments.course_model(activation, depth=6, seed=0)
        result = experiments.run(activation, model, data, epochs=1, batch_size=128, verbose=0,
                                 record_every=1)
        means = result.mean_grad_norms()
        assert list(means) == [f"layer {i}" for i in range(1, 8)]
        first[activation], last_hidden[activation] = means["layer 1"], means["layer 6"]
    assert first["sigmoid"] < first["relu"] / 100
    # and within the sigmoid stack, the gradient shrinks towards the input
    assert first["sigmoid"] < last_hidden["sigmoid"] / 50
