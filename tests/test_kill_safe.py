"""Kill-safe writes: a process saving in a loop is SIGKILLed at random instants; the model file
and the weights file are always the old complete version or the new complete one."""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import gpudnn
from conftest import subprocess_env
from gpudnn import layers, models

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

KILLS = 20
TIME_LIMIT_S = 60

SAVER = """
import sys
import gpudnn
from gpudnn import layers, models
gpudnn.set_seed(0)
model = models.Sequential([layers.Dense(256, input_shape=(256,)), layers.Dense(64)])
model.compile(optimizer="adam", loss="mse")
base = model.get_weights()
model.save(sys.argv[1])
model.save_weights(sys.argv[2])
print("saving", flush=True)
version = 0
while True:
    version = 1 - version
    model.set_weights([w + version for w in base])
    model.save(sys.argv[1])
    model.save_weights(sys.argv[2])
"""


def base_weights():
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(256, input_shape=(256,)), layers.Dense(64)])
    return model, model.get_weights()


def version_of(weights, base):
    """0 or 1: which complete version ``weights`` are (anything else fails the test)."""
    offsets = {float(np.unique(w - b)[0]) for w, b in zip(weights, base, strict=True)
               if np.unique(w - b).size == 1}
    assert len(offsets) == 1 and len(weights) == len(base), "a torn mix of versions"
    return offsets.pop()


def test_killed_saver_leaves_a_complete_file(tmp_path):
    model_path, weights_path = tmp_path / "model.gpudnn", tmp_path / "weights.npz"
    probe, base = base_weights()
    rng = random.Random(0)
    env = subprocess_env(cpu=False)
    seen = set()
    start = time.monotonic()
    kills = 0
    while kills < KILLS and time.monotonic() - start < TIME_LIMIT_S:
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(model_path), str(weights_path)],
                                 stdout=subprocess.PIPE, env=env)
        try:
            assert child.stdout.readline() == b"saving\n"
            time.sleep(rng.uniform(0, 0.05))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        kills += 1
        loaded = models.load_model(model_path)
        seen.add(version_of(loaded.get_weights(), base))
        probe.load_weights(weights_path)
        seen.add(version_of(probe.get_weights(), base))
        leftovers = [name for name in os.listdir(tmp_path)
                     if name not in ("model.gpudnn", "weights.npz")]
        assert all(name.startswith((".model.gpudnn.", ".weights.npz.")) and name.endswith(".tmp")
                   for name in leftovers)   # only a killed write's temporary file, never a torn target
    assert kills >= 10
    assert seen == {0.0, 1.0}   # the kills landed while both versions were being written
