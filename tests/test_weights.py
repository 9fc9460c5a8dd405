"""Weights: one flat buffer with views, get/set, save/load, no gradient w.r.t. the input."""

import numpy as np
import pytest

from gpudnn import layers, models
from gpudnn.utils import to_categorical

from conftest import blobs


def model_of(width=8):
    model = models.Sequential([layers.Dense(width, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_parameters_are_views_of_one_flat_buffer():
    model = model_of()
    dense = model.layers[0]
    assert model.params.ndim == 1 and model.params.flags.c_contiguous
    assert model.params.size == model.count_params() == 6 * 8 + 8 + 8 * 3 + 3
    for view in (dense.kernel, dense.bias, model.layers[1].kernel):
        assert np.shares_memory(view, model.params)
    assert np.shares_memory(dense.kernel_grad, model.grads)
    assert all(slot.size == model.params.size and not np.shares_memory(slot, model.params)
               for slot in model.optimizer.slots.values())
    model.params[:] = 0.25
    assert np.all(dense.kernel == 0.25)


def test_initial_weights_follow_glorot_uniform_and_zero_bias():
    model = models.Sequential([layers.Dense(512, input_shape=(784,))])
    kernel, bias = model.get_weights()
    limit = np.sqrt(6 / (784 + 512))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    assert abs(kernel.std() - limit / np.sqrt(3)) < 0.01 * limit
    assert not bias.any()


def test_get_set_save_load_round_trip(tmp_path):
    x, labels = blobs()
    y = to_categorical(labels, 3)
    model = model_of()
    model.fit(x, y, epochs=2, verbose=0)
    path = tmp_path / "weights.npz"
    model.save_weights(path)
    clone = model_of()
    clone.load_weights(path)
    for a, b in zip(model.get_weights(), clone.get_weights()):
        assert np.array_equal(a, b)
    np.testing.assert_array_equal(model.predict(x), clone.predict(x))
    clone.set_weights([w * 0 for w in model.get_weights()])
    assert not np.any(np.concatenate([w.ravel() for w in clone.get_weights()]))


def test_set_weights_counts_arrays():
    with pytest.raises(ValueError, match="got 1 arrays but the model has 4"):
        model_of().set_weights([np.zeros((6, 8))])


def test_set_weights_checks_every_array_before_copying_any():
    from gpudnn.errors import InvalidInputError

    model = model_of()
    before = model.get_weights()
    bad_dtype = [w.astype(str) if i == 3 else w + 1 for i, w in enumerate(before)]
    with pytest.raises(InvalidInputError, match="must hold real numbers, not dtype <U"):
        model.set_weights(bad_dtype)
    bad_shape = [w + 1 for w in before[:-1]] + [np.zeros(before[-1].size + 1)]
    with pytest.raises(InvalidInputError, match="different architecture"):
        model.set_weights(bad_shape)
    for a, b in zip(model.get_weights(), before):  # nothing copied
        np.testing.assert_array_equal(a, b)


def test_first_layer_never_computes_a_gradient_for_the_input(monkeypatch):
    model = model_of()
    x, labels = blobs(n=32)
    calls = []
    original = model.backend.matmul

    def spy(a, b, out):
        calls.append((a.shape, b.shape))
        return original(a, b, out)

    monkeypatch.setattr(model.backend, "matmul", spy)
    model.train_on_batch(x, to_categorical(labels, 3))
    # forward x@W1, h@W2; backward h^T@d2, d2@W2^T, x^T@d1 -- and no d1@W1^T of shape (32, 6)
    assert len(calls) == 5
    assert ((32, 8), (8, 6)) not in calls


def test_flat_buffers_are_zeroed_and_staggered():
    from gpudnn.backend import NumpyBackend
    backend = NumpyBackend()
    for size in (10, 407_050):
        buffers = [backend.flat_zeros(size, np.float32, slot) for slot in range(4)]
        assert all(b.shape == (size,) and b.flags.c_contiguous and b.flags.writeable
                   and not b.any() for b in buffers)
        assert len({b.ctypes.data % 4096 for b in buffers}) == 4   # no 4K aliasing between them
    big = backend.flat_zeros(407_050, np.float32, 0)
    assert big.ctypes.data % (2 << 20) == 0                         # huge-page aligned


def test_model_and_optimizer_buffers_use_distinct_placements():
    model = model_of(width=512)
    addresses = [model.params.ctypes.data, model.grads.ctypes.data] + \
        [slot.ctypes.data for slot in model.optimizer.slots.values()]
    assert len({a % 4096 for a in addresses}) == len(addresses)
