"""Edge cases of the data sources found in review: a copy-on-write memmap keeps the user's
changes, a generator refilling one buffer trains as one yielding fresh arrays, an exhausted
validation generator warns instead of crashing, class_weight works on a model built by its first
batch, and steps_per_epoch / steps follow Keras 3's epoch iterator for every source."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.errors import InvalidInputError
from gpudnn.training.data_adapters import sources
from gpudnn.utils import PyDataset

RNG = np.random.default_rng(0)
X = RNG.normal(size=(256, 4)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 256)]


def small(built=True):
    gpudnn.set_seed(1)
    shape = {"input_shape": (4,)} if built else {}
    model = models.Sequential([layers.Dense(3, activation="softmax", **shape)], device="cpu")
    model.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
    return model


def test_a_copy_on_write_memmap_keeps_the_users_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "RELEASE_ABOVE_BYTES", 0)  # release even a small file
    monkeypatch.setattr(sources, "RELEASE_EVERY_BYTES", 1)
    np.save(tmp_path / "x.npy", np.full((64, 4), 500.0, np.float32))
    mapped = np.load(tmp_path / "x.npy", mmap_mode="c")
    mapped -= 500.0  # in place: private pages only
    model = small()
    model.predict(mapped, batch_size=8)
    model.predict(np.asarray(mapped)[8:], batch_size=8)  # a plain view of it, too
    assert float(np.abs(mapped).max()) == 0.0
    np.testing.assert_array_equal(model.predict(mapped), model.predict(np.zeros((64, 4),
                                                                                np.float32)))


def test_a_generator_refilling_one_buffer_trains_as_one_with_fresh_arrays():
    def batches(reuse):
        xb, yb = np.empty((32, 4), np.float32), np.empty((32, 3), np.float32)
        while True:
            for i in range(8):
                if reuse:
                    xb[:], yb[:] = X[i * 32:(i + 1) * 32], Y[i * 32:(i + 1) * 32]
                    yield xb, yb
                else:
                    yield X[i * 32:(i + 1) * 32].copy(), Y[i * 32:(i + 1) * 32].copy()

    weights = []
    for reuse in (False, True):
        model = small()
        model.fit(batches(reuse), steps_per_epoch=8, epochs=3, verbose=0)
        weights.append(model.get_weights()[0])
    np.testing.assert_array_equal(*weights)


def test_an_exhausted_validation_generator_warns_and_training_goes_on():
    def two_batches():
        yield X[:16], Y[:16]
        yield X[16:32], Y[16:32]

    with pytest.warns(UserWarning, match="validation data yielded no batch in epoch 2"):
        history = small().fit(X, Y, epochs=3, batch_size=16, verbose=0,
                              validation_data=two_batches())
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 1
    with pytest.raises(InvalidInputError, match="yields no batch"):
        generator = two_batches()
        list(generator)
        small().evaluate(generator, verbose=0)


@pytest.mark.parametrize("source", ["generator", "memmap"])
def test_class_weight_on_a_model_its_first_batch_builds(source, tmp_path):
    if source == "memmap":
        np.save(tmp_path / "x.npy", X)
        data = {"x": np.load(tmp_path / "x.npy", mmap_mode="r"), "y": Y}
    else:
        data = {"x": iter([(X[:128], Y[:128]), (X[128:], Y[128:])])}
    model = small(built=False)
    model.fit(**data, class_weight={0: 2.0, 2: 0.5}, epochs=1, batch_size=128, verbose=0)
    assert model.built
    with pytest.raises(InvalidInputError, match="class 3"):
        small(built=False).fit(X, Y, class_weight={3: 1.0}, epochs=1, verbose=0)


def test_steps_per_epoch_on_arrays_follows_keras_epoch_iterator():
    """Keras 3: each epoch takes steps_per_epoch batches, continuing where the last stopped; an
    epoch never runs past the end of the data (it ends there with a warning) and the next epoch
    starts a new (shuffled) pass. 8 batches, 3 steps, 4 epochs, unshuffled: [0 1 2] [3 4 5]
    [6 7] (warning) [0 1 2]."""
    stepped = small()
    with pytest.warns(UserWarning, match="ran out of data before 3 steps; this epoch ends"):
        history = stepped.fit(X, Y, batch_size=32, epochs=4, steps_per_epoch=3, shuffle=False,
                              verbose=0)
    assert len(history.history["loss"]) == 4  # the training goes on
    reference = small()
    for b in [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2]:
        reference.train_on_batch(X[b * 32:(b + 1) * 32], Y[b * 32:(b + 1) * 32])
    for a, b in zip(stepped.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert small().evaluate(X, Y, batch_size=32, steps=2, verbose=0) == pytest.approx(
        small().evaluate(X[:64], Y[:64], batch_size=32, verbose=0))


def test_validation_steps_walk_the_validation_data_over_the_epochs():
    """As Keras's cached evaluation iterator: each epoch's validation continues where the last
    stopped, the same for arrays in memory and memory-mapped ones."""
    losses = []
    for x_val in (X, None):
        model = small()
        model.compile(optimizer=optimizers.SGD(1e-30), loss="categorical_crossentropy")
        if x_val is None:
            import tempfile
            folder = tempfile.mkdtemp()
            np.save(folder + "/x.npy", X)
            x_val = np.load(folder + "/x.npy", mmap_mode="r")
        history = model.fit(X[:32], Y[:32], epochs=3, batch_size=32, verbose=0,
                            validation_data=(x_val, Y), validation_steps=2)
        losses.append(history.history["val_loss"])
    assert losses[0] == pytest.approx(losses[1])
    assert losses[0][0] != pytest.approx(losses[0][1])  # another part of the data


def test_a_pydataset_with_steps_reads_every_batch_and_restarts_when_it_ends():
    seen = []

    class Batches(PyDataset):
        def __len__(self):
            return 8

        def __getitem__(self, i):
            seen.append(i)
            return X[i * 32:(i + 1) * 32], Y[i * 32:(i + 1) * 32]

    seen.clear()
    with pytest.warns(UserWarning, match="ran out of data"):
        small().fit(Batches(), steps_per_epoch=3, epochs=4, shuffle=False, verbose=0)
    assert seen[1:] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2]  # seen[0]: the peek at batch 0
    with pytest.warns(UserWarning, match="ran out of data before 12 steps"):
        history = small().fit(Batches(), steps_per_epoch=12, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_predict_and_evaluate_with_more_steps_than_batches_read_each_row_once(tmp_path):
    np.save(tmp_path / "x.npy", X[:64])
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    model = small()
    want = model.predict(X[:64], batch_size=32)
    np.testing.assert_array_equal(model.predict(mapped, batch_size=32, steps=3), want)
    assert model.evaluate(mapped, Y[:64], batch_size=32, steps=3, verbose=0) == pytest.approx(
        model.evaluate(X[:64], Y[:64], batch_size=32, verbose=0))


def test_a_memmap_list_target_is_converted_once(tmp_path):
    """The targets of a memmap are in memory: checked and converted once, up front (not per
    batch, not as a list), and training equals the same targets given as an array."""
    from gpudnn.training.data_adapters import adapt

    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    data = adapt(small(), "fit", mapped, Y.tolist(), batch_size=64)
    assert isinstance(data.y, np.ndarray) and data.y.shape == Y.shape
    data.close()
    weights = []
    for targets in (Y.tolist(), Y):
        model = small()
        model.fit(mapped, targets, epochs=1, batch_size=64, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
