"""Exact resume: train 2 epochs, save, load in a NEW process with another global seed, fit
epochs=5 initial_epoch=2 -> bit for bit the weights of 5 uninterrupted epochs (CPU)."""

import subprocess
import sys

import numpy as np

from gpudnn import layers, models
from gpudnn.utils import to_categorical

from conftest import blobs, subprocess_env

SCRIPT = """
import sys
import numpy as np
import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.utils import to_categorical

def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (3, 6))
    labels = rng.integers(0, 3, 500)
    x = (centers[labels] + rng.normal(0, 0.8, (500, 6))).astype(np.float32)
    return x, to_categorical(labels, 3)

OPTIMIZERS = {"adam": lambda: optimizers.Adam(learning_rate=0.01),
              "rmsprop-momentum": lambda: optimizers.RMSprop(learning_rate=0.01, momentum=0.9),
              "nadam-schedule-dropout": lambda: optimizers.Nadam(
                  learning_rate=optimizers.schedules.ExponentialDecay(0.01, 20, 0.9),
                  clipnorm=1.0, weight_decay=1e-3)}

def model_with(name):
    dropout = [layers.Dropout(0.25)] if "dropout" in name else []
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)), *dropout,
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=OPTIMIZERS[name](), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model

x, y = data()
mode, folder = sys.argv[1], sys.argv[2]
for name in OPTIMIZERS:
    fit = dict(batch_size=32, verbose=0, validation_split=0.1)
    if mode == "first":
        gpudnn.set_seed(1)
        full = model_with(name)
        full.fit(x, y, epochs=5, **fit)
        np.savez(f"{folder}/{name}-full.npz", *full.get_weights())
        gpudnn.set_seed(1)
        part = model_with(name)
        part.fit(x, y, epochs=2, **fit)
        part.save(f"{folder}/{name}.gpudnn")
    else:
        gpudnn.set_seed(999)
        x_unused = gpudnn.config.rng().random(100)   # the global stream moves on: no effect
        model = models.load_model(f"{folder}/{name}.gpudnn")
        history = model.fit(x, y, epochs=5, initial_epoch=2, **fit)
        assert history.epoch == [2, 3, 4], history.epoch
        np.savez(f"{folder}/{name}-resumed.npz", *model.get_weights())
"""


def run(mode, folder):
    env = subprocess_env()
    subprocess.run([sys.executable, "-c", SCRIPT, mode, str(folder)], check=True, env=env,
                   timeout=120)


def test_resume_in_a_new_process_is_bit_for_bit(tmp_path):
    run("first", tmp_path)
    run("resume", tmp_path)
    for name in ("adam", "rmsprop-momentum", "nadam-schedule-dropout"):
        with np.load(tmp_path / f"{name}-full.npz") as full, \
                np.load(tmp_path / f"{name}-resumed.npz") as resumed:
            assert full.files == resumed.files
            for key in full.files:
                assert np.array_equal(full[key], resumed[key]), (name, key)
        with np.load(tmp_path / f"{name}-full.npz") as full:
            assert not np.array_equal(full["arr_0"], models.load_model(
                tmp_path / f"{name}.gpudnn").get_weights()[0])   # epochs 3-5 changed them


def test_initial_epoch_counts_epochs_as_keras(capsys):
    x, labels = blobs(n=64)
    model = models.Sequential([layers.Dense(3, activation="softmax", input_shape=(6,))])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    history = model.fit(x, to_categorical(labels, 3), epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 3/5" not in out
    assert model.fit(x, to_categorical(labels, 3), epochs=2, initial_epoch=2,
                     verbose=0).epoch == []
    for bad in (-1, 1.5, True, "2"):
        try:
            model.fit(x, to_categorical(labels, 3), initial_epoch=bad, verbose=0)
        except ValueError as exc:
            assert "initial_epoch must be an integer >= 0" in str(exc)
        else:
            raise AssertionError(f"initial_epoch={bad!r} accepted")
