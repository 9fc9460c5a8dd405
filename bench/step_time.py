"""Milliseconds per training step of the course model in a given checkout, for before/after
comparisons across commits (each call its own process; alternate the checkouts):

    python bench/step_time.py PATH [recorded|eager] [DTYPE_POLICY] [OPTION=VALUE ...]

PATH is a checkout's root (its ``gpudnn`` is imported). The step: Dense(512, relu, input 784)
-> Dense(10, softmax), Adam, categorical cross-entropy, accuracy, batch 128 on preallocated
data, ``model._train_batch`` (what ``fit`` runs per batch minus the row gather); ``recorded``
replays the recorded step (checkouts that have one), ``eager`` walks the layers. DTYPE_POLICY
(checkouts that have dtype policies): the layers' policy, e.g. ``mixed_bfloat16``. OPTION=VALUE:
Adam's keyword arguments as Python literals, e.g. ``use_ema=True``. Prints the median, min and
max of 9 rounds of 200 steps after 50 warm-up steps.
"""

import ast

import statistics
import sys
import time


def main():
    root, mode = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "eager")
    sys.path.insert(0, root)
    import numpy as np

    import gpudnn
    from gpudnn import layers, models, optimizers

    gpudnn.set_seed(0)
    rest = sys.argv[3:]
    options = dict(arg.split("=", 1) for arg in rest if "=" in arg)
    options = {key: ast.literal_eval(value) for key, value in options.items()}
    named = [arg for arg in rest if "=" not in arg]
    policy = {"dtype": named[0]} if named else {}
    model = models.Sequential([layers.Dense(512, activation="relu", input_shape=(784,), **policy),
                               layers.Dense(10, activation="softmax", **policy)])
    model.compile(optimizer=optimizers.Adam(**options), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    ws = model._workspace(128, with_grads=True)
    model.backend.copy_into(ws.x, rng.random((128, 784), dtype=np.float32))
    model.backend.copy_into(ws.y, np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)])
    totals = model._new_totals()
    if mode == "recorded":
        def step():
            model._train_batch(ws, totals, record=True)
    else:
        def step():
            model._train_batch(ws, totals)
    for _ in range(50):
        step()
    rounds = []
    for _ in range(9):
        start = time.perf_counter()
        for _ in range(200):
            step()
        rounds.append((time.perf_counter() - start) / 200 * 1e3)
    print(f"{mode}{'' if not policy else ', ' + policy['dtype']}"
          f"{''.join(f', {k}={v}' for k, v in options.items())}: "
          f"{statistics.median(rounds):.3f} ms per step "
          f"(min {min(rounds):.3f}, max {max(rounds):.3f})")


if __name__ == "__main__":
    main()
