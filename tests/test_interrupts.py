"""Training processes interrupted for real: SIGKILL mid-epoch with BackupAndRestore (the rerun
in a new process ends bit for bit where an uninterrupted run ends), and Ctrl-C (SIGINT) from
outside (fit stops after a step, the except handler saves a consistent, loadable model)."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import subprocess_env
from gpudnn import models

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

DATA = """
import numpy as np
from gpudnn.utils import to_categorical

rng = np.random.default_rng(0)
centers = rng.normal(0, 3, (3, 6))
labels = rng.integers(0, 3, 400)
x = (centers[labels] + rng.normal(0, 0.8, (400, 6))).astype(np.float32)
y = to_categorical(labels, 3)
"""

COMMON = DATA + """
import json, os, signal, sys
import gpudnn
from gpudnn import callbacks, layers, models, optimizers

def model_with_seed(seed):
    gpudnn.set_seed(seed)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(6,)),
                               layers.Dense(3, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model
"""

BACKUP = COMMON + """
mode, folder = sys.argv[1], sys.argv[2]

class KillAt(callbacks.Callback):
    wants_batch_logs = False
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == (3, 4):
            os.kill(os.getpid(), signal.SIGKILL)

model = model_with_seed(7 if mode != "rerun" else 99)
extra = [KillAt()] if mode == "killed" else []
backup = [callbacks.BackupAndRestore(os.path.join(folder, "backup"))] if mode != "reference" else []
history = model.fit(x, y, epochs=6, batch_size=32, verbose=0, validation_split=0.1,
                    callbacks=backup + extra)
np.savez(os.path.join(folder, mode + ".npz"), *model.get_weights())
print(json.dumps(history.epoch))
"""

CTRL_C = COMMON + """
path = sys.argv[1]
model = model_with_seed(3)

class Started(callbacks.Callback):
    wants_batch_logs = False
    def on_train_begin(self, logs=None):
        print("training", flush=True)

try:
    model.fit(x, y, epochs=100000, batch_size=8, verbose=0, callbacks=[Started()])
except KeyboardInterrupt as exc:
    model.save(path)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    print(json.dumps({"iterations": model.optimizer.iterations, "loss": loss, "why": str(exc)}))
"""


def python(script, *args, **kwargs):
    env = subprocess_env()
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_backup_and_restore_after_sigkill_ends_bit_for_bit(tmp_path):
    killed = python(BACKUP, "killed", tmp_path)
    assert killed.returncode == -signal.SIGKILL
    assert os.listdir(tmp_path / "backup") == ["latest.gpudnn"]
    rerun = python(BACKUP, "rerun", tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout) == [3, 4, 5]   # epochs 0-2 finished before the kill
    assert not (tmp_path / "backup").exists()
    reference = python(BACKUP, "reference", tmp_path)
    assert reference.returncode == 0, reference.stderr
    with np.load(tmp_path / "rerun.npz") as a, np.load(tmp_path / "reference.npz") as b:
        for key in b.files:
            assert np.array_equal(a[key], b[key]), key


def test_ctrl_c_during_fit_leaves_a_consistent_model_that_saves(tmp_path):
    path = tmp_path / "interrupted.gpudnn"
    env = subprocess_env()
    child = subprocess.Popen([sys.executable, "-c", CTRL_C, str(path)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "training\n"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    report = json.loads(out)
    assert "fit interrupted" in report["why"]
    model = models.load_model(path)
    assert model.optimizer.iterations == report["iterations"] > 0
    assert all(np.isfinite(w).all() for w in model.get_weights())
    data = {}
    exec(DATA, data)   # the child's data
    loss, _ = model.evaluate(data["x"], data["y"], verbose=0)
    assert np.isfinite(loss) and loss == pytest.approx(report["loss"], rel=1e-6)
