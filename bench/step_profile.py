"""Where a training step's time goes: each device call of the step timed alone, and the host's
share of a ``fit`` epoch.

    python -m bench.step_profile [--device cuda|cpu] [--hidden 512] [--batch 128]
                                 [--round-s 0.02] [--host-epochs 2]
                                 [--model course|plain|batchnorm|frozen_first]

- **Per call**: the step of 784 -> Dense(H, relu) -> Dense(10, softmax) (categorical
  cross-entropy, accuracy, Adam) is recorded once (``gpudnn.backend.capture``), then each of its
  backend calls is replayed alone, k times between two device synchronizations (k calibrated to
  ``--round-s``): microseconds per call, eager (each call's host launch cost included, so on a
  GPU this is the larger of launch and kernel time). ``--model`` other than ``course`` profiles
  bench.layer_costs' models instead (784 -> 512 -> 512 -> 10, Adam; ``batchnorm`` with
  BatchNormalization after each hidden Dense). Replaying a call alone repeats its writes
  (an update runs k times): fine for timing, not for values. The whole recorded step and, on
  CUDA, the graph replay are timed the same way beside them.
- **Host share of fit** (``--host-epochs`` > 0): cProfile over ``fit`` on random data shaped
  like Fashion-MNIST (60,000 x 784, batch 128, verbose=0): the functions with the most own
  time, per training step. On CUDA the GPU runs behind the host, so host time per step above the
  graph's device time is what limits the epoch.
"""

import argparse
import cProfile
import io
import math
import pstats
import statistics
import time

import numpy as np

from bench.gpu_results import per_call_seconds
from bench import layer_costs
from bench.test_train_step import batch_in_workspace, course_model
from gpudnn.backend.capture import record_calls


def seconds_per_call(fn, sync, round_s, reps=5):
    """Median seconds per call of ``fn`` over ``reps`` rounds of k back-to-back calls
    (``bench.gpu_results.per_call_seconds``)."""
    return statistics.median(per_call_seconds({"fn": fn}, sync, reps, round_s)["fn"])


def describe(call):
    shapes = [str(tuple(a.shape)) if hasattr(a, "shape") else repr(a)
              for a in call.args if not isinstance(a, (list, tuple))]
    return f"{call.func.__name__}({', '.join(shapes[:4])})"


def per_call(device, hidden, batch, round_s, kind="course"):
    model = course_model(device, hidden) if kind == "course" else layer_costs.build(kind, device)
    be = model.backend
    rng = np.random.default_rng(0)
    ws, totals = batch_in_workspace(model, rng.random((batch, 784), dtype=np.float32),
                                    np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    model.optimizer.begin_step(be)
    recorder = record_calls(model, lambda: model._device_step(ws, totals))
    rows = [(describe(call), seconds_per_call(call, be.synchronize, round_s))
            for call in recorder.calls]
    whole = {"recorded step, call by call":
             seconds_per_call(lambda: [call() for call in recorder.calls], be.synchronize,
                              round_s)}
    with be.training_stream():
        for _ in range(3):  # record, capture (a CUDA graph where the backend has them), replay
            model._train_batch(ws, totals, record=True)
        whole[f"fit's step ({model._steps.path()})"] = seconds_per_call(
            lambda: model._train_batch(ws, totals, record=True), be.synchronize, round_s)
        (entry,) = model._steps._entries.values()
        whole["its replay alone (no host step values)"] = seconds_per_call(
            entry.step.replay, be.synchronize, round_s)
    return rows, whole


def host_profile(device, epochs, top=18):
    model = course_model(device)
    rng = np.random.default_rng(1)
    x = rng.random((60_000, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 60_000)]
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)  # builds, records, captures
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
    profile.disable()
    wall = time.perf_counter() - start
    steps = epochs * math.ceil(60_000 / 128)
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    return wall / steps, out.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--round-s", type=float, default=0.02)
    parser.add_argument("--host-epochs", type=int, default=2)
    parser.add_argument("--model", default="course",
                        choices=["course", "plain", "batchnorm", "frozen_first"])
    args = parser.parse_args(argv)
    rows, whole = per_call(args.device, args.hidden, args.batch, args.round_s, args.model)
    shape = f"784 -> {args.hidden} -> 10" if args.model == "course" else f"the {args.model} model"
    print(f"### Step of {shape}, batch {args.batch}, on {args.device}: "
          f"each call alone\n")
    print("| call | us |\n|---|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds * 1e6:.1f} |")
    print(f"| **sum of the calls alone** | {sum(s for _, s in rows) * 1e6:.1f} |")
    for name, seconds in whole.items():
        print(f"| **{name}** | {seconds * 1e6:.1f} |")
    if args.host_epochs > 0:
        per_step, table = host_profile(args.device, args.host_epochs)
        print(f"\n### fit on 60,000 x 784, batch 128, under cProfile: {per_step * 1e6:.1f} us "
              f"per step (profiler overhead included)\n")
        print(table)


if __name__ == "__main__":
    main()
