"""What Ray Tune costs and what packing trials buys: trials per hour of the course model run as
a sweep (``gpudnn.tune.sweep.run_sweep``) against the same trials run one after another in one
process, in the same run.

    python bench/sweep_overhead.py [--device cpu|cuda] [--trials 8] [--packed 1,2,4,8]
                                   [--epochs 2] [--limit N] [--out FILE.json]

``sequential``: the trials' runs (course model, fit, test evaluation) back to back in this
process: the limit a sweep of one trial at a time approaches. ``packed K``: the sweep with K
trials at once: on a GPU ``--gpus-per-trial 1/K`` (K trials share the GPU), on the CPU
``--cpus-per-trial`` = cores / K. Each sweep's wall time includes starting Ray, scheduling,
the per-epoch reports and checkpoints. Printed: seconds, trials per hour, the ratio to
sequential, and on the CPU the overhead per trial (sweep seconds minus sequential seconds, per
trial) against a trial's own training time.
"""

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gpudnn import experiments  # noqa: E402
from gpudnn.tune import SweepSpec  # noqa: E402
from gpudnn.tune.sweep import run_sweep  # noqa: E402
from gpudnn.tune.trainable import course_model_for, test_metrics  # noqa: E402


def spec_for(trials, epochs, limit):
    """A grid of ``trials`` trials: Adam at ``trials`` learning rates (distinct trials, one seed)."""
    rates = [float(f"{1e-3 * (1 + i):.3g}") for i in range(trials)]
    return SweepSpec(optimizers=["adam"], learning_rates=rates, epochs=epochs, limit=limit)


def sequential_seconds(spec, device):
    """Seconds to run every trial of ``spec`` one after another in this process."""
    data = experiments.load_data(spec.dataset, spec.limit)
    start = time.perf_counter()
    for lr in spec.learning_rates:
        config = {**spec.fixed(), "optimizer": "adam", "lr": lr, "activation": "relu", "seed": 0}
        model = course_model_for(config, device)
        model.fit(data.x_train, data.y_train, epochs=spec.epochs, batch_size=spec.batch_size,
                  verbose=0)
        test_metrics(model, data, spec.batch_size)
    return time.perf_counter() - start


def sweep_seconds(spec, packed, device):
    cores = os.cpu_count() or 1
    if device == "cuda":
        spec.gpus_per_trial, spec.cpus_per_trial = 1 / packed, 1
    else:
        spec.cpus_per_trial = max(cores / packed, 0.01)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        grid = run_sweep(spec, os.path.join(out, "sweep"), progress=lambda line: None)
        seconds = time.perf_counter() - start
    errors = [r.error for r in grid if r.error is not None]
    if errors:
        raise RuntimeError(f"trials failed: {errors[0]}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--packed", default=None, help="default: 1,2,4,8 on cuda, 1,2 on cpu")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    packs = [int(k) for k in (args.packed or ("1,2,4,8" if args.device == "cuda" else "1,2"))
             .split(",")]
    spec = spec_for(args.trials, args.epochs, args.limit)
    sequential = sequential_seconds(spec, args.device)
    rows = {"sequential": sequential}
    for k in packs:
        rows[f"packed {k}"] = sweep_seconds(spec_for(args.trials, args.epochs, args.limit), k,
                                            args.device)
    per_trial = sequential / args.trials
    print(f"{args.trials} trials of the course model, {args.epochs} epochs, on {args.device} "
          f"({os.cpu_count()} cores); one trial alone trains in {per_trial:.2f} s")
    print(f"{'run':<12} {'seconds':>8} {'trials/h':>9} {'vs sequential':>14}"
          + ("  overhead/trial" if args.device == "cpu" else ""))
    result = {"device": args.device, "trials": args.trials, "epochs": args.epochs,
              "trial_train_s": per_trial, "runs": {}}
    for name, seconds in rows.items():
        line = (f"{name:<12} {seconds:8.2f} {3600 * args.trials / seconds:9.0f} "
                f"{sequential / seconds:13.2f}x")
        entry = {"seconds": seconds, "trials_per_hour": 3600 * args.trials / seconds,
                 "speedup": sequential / seconds}
        if args.device == "cpu" and name != "sequential":
            overhead = (seconds - sequential) / args.trials
            line += f"  {overhead:+.2f} s ({100 * overhead / per_trial:+.0f} %)"
            entry["overhead_per_trial_s"] = overhead
        print(line)
        result["runs"][name] = entry
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
