"""model.save / load_model: the file format (read here without gpudnn's reader), every layer and
optimizer round-trip, optimizer and random state, atomic writes, CUDA <-> CPU."""

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers, saving
from gpudnn.backend import cuda_problem
from gpudnn.errors import FileFormatError, InvalidInputError
from gpudnn.utils import to_categorical

from conftest import blobs

OPTIMIZERS = [optimizers.SGD, lambda: optimizers.SGD(momentum=0.9, nesterov=True),
              lambda: optimizers.RMSprop(momentum=0.5), optimizers.Adam,
              lambda: optimizers.Adam(amsgrad=True), optimizers.AdamW, optimizers.Adagrad]


def every_layer_model(optimizer="adam", device=None):
    model = models.Sequential([
        layers.Dense(8, activation=layers.LeakyReLU(alpha=0.1), input_shape=(6,)),
        layers.ELU(alpha=0.5), layers.Dense(7, activation="tanh", use_bias=False),
        layers.LeakyReLU(), layers.Dense(6, kernel_initializer="he_normal"), layers.ReLU(),
        layers.Activation("elu"), layers.Dense(3), layers.Softmax()], name="every", device=device)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def data():
    x, labels = blobs()
    return x, to_categorical(labels, 3)


def assert_same_weight_arrays(got, want):
    for x, y in zip(got, want, strict=True):
        assert x.dtype == y.dtype and np.array_equal(x, y)


def assert_same_weights(a, b):
    assert_same_weight_arrays(a.get_weights(), b.get_weights())


def test_layer_configs_round_trip_through_their_constructors():
    model = every_layer_model()
    for layer in model.layers:
        config = layers.serialize(layer)
        json.dumps(config)
        clone = layers.deserialize(config)
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
        assert clone.activation_spec == layer.activation_spec
    assert layers.serialize(model.layers[0])["config"]["activation"] == \
        {"kind": "leaky_relu", "alpha": 0.1}
    with pytest.raises(InvalidInputError, match="unknown layer class 'Conv2D'"):
        layers.deserialize({"class_name": "Conv2D", "config": {}})
    with pytest.raises(InvalidInputError, match="cannot make a Dense"):
        layers.deserialize({"class_name": "Dense", "config": {"units": 3, "color": "red"}})
    with pytest.raises(InvalidInputError, match="unknown layer class 'InvalidInputError'"):
        layers.deserialize({"class_name": "InvalidInputError", "config": {}})


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_save_load_round_trip_continues_bit_for_bit(tmp_path, make_optimizer):
    x, y = data()
    model = every_layer_model(make_optimizer())
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    path = tmp_path / "model.any-suffix"
    model.save(path)
    assert os.listdir(tmp_path) == ["model.any-suffix"]   # exactly there, no stray temp file
    loaded = models.load_model(path)
    assert [l.get_config() for l in loaded.layers] == [l.get_config() for l in model.layers]
    assert loaded.name == "every" and loaded.metric_names == ["accuracy"]
    assert optimizers.serialize(loaded.optimizer) == optimizers.serialize(model.optimizer)
    assert loaded.optimizer.iterations == model.optimizer.iterations == 10
    for name, slot in model.optimizer.slots.items():
        assert np.array_equal(loaded.backend.to_host(loaded.optimizer.slots[name]),
                              model.backend.to_host(slot))
    assert loaded.rng.bit_generator.state == model.rng.bit_generator.state
    assert_same_weights(model, loaded)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=64, verbose=0)
    assert_same_weights(model, loaded)


def test_file_is_a_zip_of_json_and_npy_readable_without_gpudnn(tmp_path):
    """The documented format, read with zipfile, json, hashlib and numpy only."""
    x, y = data()
    model = every_layer_model(optimizers.Adam())
    model.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "m.gpudnn"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert all(info.compress_type == zipfile.ZIP_STORED for info in zf.infolist())
        entries = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(entries.pop("manifest.json"))["entries"]
    assert set(manifest) == set(entries)
    for name, data_ in entries.items():
        assert hashlib.sha256(data_).hexdigest() == manifest[name]["sha256"]
        assert len(data_) == manifest[name]["size"]
    assert json.loads(entries["format.json"])["format"] == "gpudnn.model"
    assert json.loads(entries["format.json"])["version"] == 1
    arch = json.loads(entries["model.json"])
    assert arch["input_shape"] == [6] and arch["dtype"] == "float32"
    assert [l["class_name"] for l in arch["layers"]][:2] == ["Dense", "ELU"]
    weights = [np.load(io.BytesIO(entries[w["entry"]]), allow_pickle=False) for w in arch["weights"]]
    for w, spec, mine in zip(weights, arch["weights"], model.get_weights(), strict=True):
        assert list(w.shape) == spec["shape"] and np.array_equal(w, mine)
    compiled = json.loads(entries["compile.json"])
    assert compiled["loss"]["class_name"] == "CategoricalCrossentropy"
    assert compiled["metrics"] == ["accuracy"]
    assert compiled["optimizer"]["class_name"] == "Adam"
    state = json.loads(entries["state.json"])
    flat = np.concatenate([w.ravel() for w in weights])
    m = np.load(io.BytesIO(entries[state["optimizer"]["slots"]["m"]]))
    assert m.shape == flat.shape and state["optimizer"]["iterations"] == 10
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state["rng"]
    assert np.array_equal(rng.permutation(50), model.rng.permutation(50))


def test_equal_models_give_equal_files(tmp_path):
    model = every_layer_model()
    model.save(tmp_path / "a")
    model.save(tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_model_rng_is_its_own_and_comes_from_the_seed():
    gpudnn.set_seed(5)
    a = every_layer_model()
    gpudnn.set_seed(5)
    b = every_layer_model()
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    c = every_layer_model()
    assert c.rng.bit_generator.state != b.rng.bit_generator.state
    gpudnn.set_seed(5)
    before = gpudnn.config.rng().bit_generator.state
    x, y = data()
    a.fit(x, y, epochs=1, verbose=0)   # shuffling draws from the model's generator only
    assert gpudnn.config.rng().bit_generator.state == before
    assert list(a.state_arrays()) == ["dropout_step"]


def test_uncompiled_and_unbuilt_models(tmp_path):
    model = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    model.save(tmp_path / "plain")
    loaded = models.load_model(tmp_path / "plain")
    assert loaded.optimizer is None and loaded.loss is None
    assert_same_weights(model, loaded)
    with pytest.raises(InvalidInputError, match="save\\(\\) needs a built model"):
        models.Sequential([layers.Dense(4)]).save(tmp_path / "unbuilt")
    assert_same_weights(model, gpudnn.saving.load_model(tmp_path / "plain"))


def test_load_weights_accepts_a_model_file_and_checks_the_architecture(tmp_path):
    model = every_layer_model()
    model.save(tmp_path / "m.gpudnn")
    other = every_layer_model()
    other.load_weights(tmp_path / "m.gpudnn")
    assert_same_weights(model, other)
    small = models.Sequential([layers.Dense(3, input_shape=(6,))])
    before = small.get_weights()
    with pytest.raises(FileFormatError, match="m.gpudnn: holds 7 weight arrays but the model has 2"):
        small.load_weights(tmp_path / "m.gpudnn")
    assert_same_weight_arrays(small.get_weights(), before)


def test_save_weights_writes_exactly_the_path_atomically(tmp_path):
    model = every_layer_model()
    model.save_weights(tmp_path / "w.weights")   # no ".npz" appended
    assert os.listdir(tmp_path) == ["w.weights"]
    clone = every_layer_model()
    clone.load_weights(tmp_path / "w.weights")
    assert_same_weights(model, clone)


def test_restore_state_into_an_existing_model(tmp_path):
    x, y = data()
    model = every_layer_model(optimizers.Adam())
    model.fit(x, y, epochs=1, verbose=0)
    model.optimizer.learning_rate = 0.0005   # as a ReduceLROnPlateau would
    saving.save_model(model, tmp_path / "s", extra_state={"epoch": 3})
    other = every_layer_model(optimizers.Adam())
    assert saving.restore_state(other, tmp_path / "s") == {"epoch": 3}
    assert other.optimizer.iterations == model.optimizer.iterations
    assert other.optimizer.learning_rate == 0.0005
    model.fit(x, y, epochs=1, verbose=0)
    other.fit(x, y, epochs=1, verbose=0)
    assert_same_weights(model, other)
    sgd = every_layer_model(optimizers.SGD(momentum=0.5))
    before = sgd.get_weights()
    with pytest.raises(FileFormatError, match="state of a Adam optimizer"):
        saving.restore_state(sgd, tmp_path / "s")
    assert_same_weight_arrays(sgd.get_weights(), before)


def test_atomic_write_leaves_the_old_file_and_no_temp_on_error(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")

    def failing(f):
        f.write(b"half of the new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        saving.atomic_write(target, failing)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["t.bin"]
    saving.atomic_write(target, lambda f: f.write(b"new"))
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["t.bin"]
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == 0o666 & ~umask
    with pytest.raises(InvalidInputError, match="does not exist"):
        saving.atomic_write(tmp_path / "no" / "such" / "file", lambda f: None)
    with pytest.raises(InvalidInputError, match="is a folder"):
        saving.atomic_write(tmp_path, lambda f: None)


def test_unserializable_config_is_refused_before_writing(tmp_path):
    model = models.Sequential([layers.Dense(2, input_shape=(3,),
                                            kernel_initializer=lambda shape: np.ones(shape))])
    with pytest.raises(InvalidInputError, match="not JSON-serializable"):
        model.save(tmp_path / "x")
    assert os.listdir(tmp_path) == []


@pytest.mark.gpu
def test_saved_on_cuda_loads_on_cpu_and_back(tmp_path):
    problem = cuda_problem(0)
    if problem is not None:
        if os.environ.get("GPUDNN_REQUIRE_GPU"):
            pytest.fail(f"GPUDNN_REQUIRE_GPU is set but no CUDA device is usable: {problem}")
        pytest.skip(f"no usable CUDA device: {problem}")
    x, y = data()
    on_gpu = every_layer_model(optimizers.Adam(), device="cuda")
    on_gpu.fit(x, y, epochs=1, verbose=0)
    on_gpu.save(tmp_path / "g")
    with gpudnn.device("cpu"):
        on_cpu = models.load_model(tmp_path / "g")
    assert not on_cpu.backend.is_gpu
    assert_same_weights(on_gpu, on_cpu)
    on_cpu.save(tmp_path / "c")
    with gpudnn.device("cuda"):
        back = models.load_model(tmp_path / "c")
    assert back.backend.is_gpu and back.optimizer.iterations == on_gpu.optimizer.iterations
    assert_same_weights(on_gpu, back)
    np.testing.assert_allclose(back.predict(x), on_cpu.predict(x), rtol=1e-5, atol=1e-6)


def _continue_both(model, loaded, x, y):
    """Two more epochs on the original and on the loaded copy: the same weights, bit for bit."""
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    loaded.fit(x, y, epochs=2, batch_size=64, verbose=0)
    assert_same_weights(model, loaded)


def test_flatten_dropout_regularizer_and_logits_model_round_trips(tmp_path):
    """The issue-9 building blocks in one file: a sample shape of rank 2, Dropout (its seed and
    the model's device step counter), a kernel regularizer and a logits loss with smoothing."""
    x, y = data()
    x = x.reshape(-1, 2, 3)
    model = models.Sequential([
        layers.Flatten(input_shape=(2, 3)),
        layers.Dense(8, activation="relu", kernel_regularizer=gpudnn.regularizers.l2(1e-3)),
        layers.Dropout(0.25), layers.Dense(3)])
    model.compile(optimizer=optimizers.Nadam(learning_rate=optimizers.schedules.ExponentialDecay(
        0.01, 5, 0.9), clipnorm=1.0),
        loss=gpudnn.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
        metrics=["accuracy"])
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    model.save(tmp_path / "m.gpudnn")
    loaded = models.load_model(tmp_path / "m.gpudnn")
    assert loaded.input_shape == (None, 2, 3)
    assert loaded.layers[1].kernel_regularizer == model.layers[1].kernel_regularizer
    assert loaded.loss.get_config() == model.loss.get_config()
    assert np.array_equal(loaded.state_arrays()["dropout_step"],
                          model.state_arrays()["dropout_step"])
    _continue_both(model, loaded, x, y)


def test_a_nested_model_round_trips(tmp_path):
    x, y = data()
    inner = models.Sequential([layers.Dense(8, activation="tanh", input_shape=(6,)),
                               layers.Dense(3)], name="logits")
    outer = models.Sequential([inner, layers.Softmax()], name="probabilities")
    outer.compile(optimizer="adam", loss="categorical_crossentropy")
    outer.fit(x, y, epochs=1, batch_size=64, verbose=0)
    outer.save(tmp_path / "n.gpudnn")
    loaded = models.load_model(tmp_path / "n.gpudnn")
    assert isinstance(loaded.layers[0], models.Sequential) and loaded.layers[0].name == "logits"
    np.testing.assert_array_equal(loaded.predict(x), outer.predict(x))
    _continue_both(outer, loaded, x, y)


def test_backup_restore_brings_back_the_dropout_seeds(tmp_path):
    """restore_state (BackupAndRestore's path) restores each Dropout's seed from the file: a
    model rebuilt under another global seed draws the saved run's masks, not fresh ones."""
    x, y = data()

    def model_with_dropout(seed):
        gpudnn.set_seed(seed)
        model = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                                   layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        return model

    original = model_with_dropout(1)
    original.fit(x, y, epochs=1, batch_size=64, verbose=0)
    original.save(tmp_path / "b.gpudnn")
    rebuilt = model_with_dropout(2)
    assert rebuilt.layers[1].seed != original.layers[1].seed
    gpudnn.saving.restore_state(rebuilt, tmp_path / "b.gpudnn")
    assert rebuilt.layers[1].seed == original.layers[1].seed
    _continue_both(original, rebuilt, x, y)


def test_weights_of_a_positional_npz_load_in_numeric_order(tmp_path):
    """np.savez(path, *weights) names them arr_0 ... arr_11: arr_10 comes after arr_9."""
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(3,))] +
                              [layers.Dense(4, activation="tanh") for _ in range(5)])
    weights = [np.full(w.shape, i, np.float32) for i, w in enumerate(model.get_weights())]
    np.savez(tmp_path / "w.npz", *weights)
    model.load_weights(tmp_path / "w.npz")
    for want, got in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


def test_saving_into_an_unwritable_folder_is_a_gpudnn_error(tmp_path):
    if os.geteuid() == 0:
        folder = "/proc/self"  # root may write anywhere else
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o500)
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    with pytest.raises(InvalidInputError, match="cannot write"):
        model.save_weights(os.path.join(folder, "w.npz"))


def test_restore_refuses_before_changing_anything(tmp_path):
    """A file whose optimizer rate is a number, restored into a model whose rate is a schedule
    (or a plain model file given to BackupAndRestore), is refused with the model unchanged."""
    x, y = data()
    saved = every_layer_model(optimizers.Adam(0.01))
    saved.fit(x, y, epochs=1, batch_size=64, verbose=0)
    saved.save(tmp_path / "plain.gpudnn")
    target = every_layer_model(optimizers.Adam(
        optimizers.schedules.ExponentialDecay(0.01, 10, 0.5)))
    before = target.get_weights()
    with pytest.raises(gpudnn.errors.FileFormatError, match="schedule"):
        gpudnn.saving.restore_state(target, tmp_path / "plain.gpudnn")
    assert_same_weight_arrays(target.get_weights(), before)
    backup = tmp_path / "backup"
    backup.mkdir()
    os.replace(tmp_path / "plain.gpudnn", backup / "latest.gpudnn")
    plain = every_layer_model(optimizers.Adam(0.01))
    before = plain.get_weights()
    with pytest.raises(InvalidInputError, match="not a BackupAndRestore backup"):
        plain.fit(x, y, epochs=1, verbose=0,
                  callbacks=[gpudnn.callbacks.BackupAndRestore(backup)])
    assert_same_weight_arrays(plain.get_weights(), before)




def test_a_model_saved_by_the_previous_layout_loads_and_resumes_exactly():
    """tests/data/nested-adam.gpudnn was written by main before the architecture change
    (commit f81d1a7): a nested model with Dropout, trained 2 epochs with Adam. It must load
    with the same predictions, and one more epoch must match that main's own resume to the bit."""
    data = Path(__file__).parent / "data"
    expected = np.load(data / "nested-adam-expected.npz")
    with gpudnn.device("cpu"):  # bit-exact: the CPU that wrote it
        model = models.load_model(data / "nested-adam.gpudnn")
    np.testing.assert_array_equal(model.predict(expected["x"]), expected["pred"])
    saved = [expected[f"arr_{i}"] for i in range(len(model.get_weights()))]
    for got, want in zip(model.get_weights(), saved):
        np.testing.assert_array_equal(got, want)
    model.fit(expected["x"], expected["y"], epochs=1, batch_size=16, verbose=0)
    np.testing.assert_array_equal(model.predict(expected["x"]),
                                  np.load(data / "after-resume-pred.npy"))
