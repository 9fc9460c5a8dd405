"""Seconds per epoch and test accuracy of the course model on Fashion-MNIST: gpudnn vs PyTorch.

    python -m bench.fashion_epoch [--epochs 10] [--runs 3] [--optimizers adam rmsprop]
                                  [--device cpu] [--torch] [--torch-python PY] [--data NAME]
                                  [--limit N]

Both train 784 -> Dense(512, relu) -> Dense(10, softmax) with categorical cross-entropy, batch
128, shuffled, learning rate 0.001, the same data (pixels / 255); PyTorch uses ``nn.Linear`` and
``torch.optim.Adam(fused=True)`` / ``RMSprop`` with Keras's epsilon (1e-7) and ``alpha`` = rho
(0.9), on its default threads.

Fair by construction: every training run is a fresh process of its own (``--worker``), so
neither library inherits the other's threads, allocator or floating-point mode; the runs
alternate (gpudnn first in even runs, PyTorch first in odd ones) so drift in the machine's load
hits both. Each run reports its epoch times (wall time inside the training loop, data already in
memory, evaluation excluded) and test accuracy; the table gives the **first epoch** (kernel
builds, warm-up) and the **steady epoch** (median of epochs 2..N) separately, each the median
over runs with the range in brackets, the slowest of all epochs 2..N of all runs, and
steady / first (flat epochs: about 1); the last lines compare the medians with PyTorch's, and
gpudnn's slowest later epoch with PyTorch's fastest (a ratio that holds for every epoch).
``--torch-python``: the interpreter that has PyTorch (default: this one); where it cannot import
torch the peer is skipped with the reason.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

from bench.worker import ROOT, tagged_result, worker_env
from bench.worker import torch_problem as torch_import_problem

LIBRARIES = ("gpudnn", "pytorch")
RESULT_TAG = "FASHION_EPOCH_RESULT "
TORCH_HINT = ("install the CPU build, e.g. `pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu`, or pass --torch-python PY")


# ------------------------------------------------------------------ the workers (one process each)
def run_gpudnn(data, optimizer, epochs, device, seed):
    """Epoch seconds and test accuracy of gpudnn's course model."""
    from gpudnn.experiments import course_model, run

    model = course_model(optimizer=optimizer, lr=0.001, device=device, seed=seed)
    result = run(optimizer, model, data, epochs, batch_size=128, verbose=0)
    return list(result.epoch_seconds), result.test_accuracy


def run_torch(data, optimizer, epochs, seed):
    """Epoch seconds and test accuracy of the same model and loop in PyTorch (CPU)."""
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    if optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7, fused=True)
    else:
        opt = torch.optim.RMSprop(net.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train.argmax(axis=1))
    generator = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = net(torch.from_numpy(data.x_test)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == data.y_test.argmax(axis=1)))
    return times, accuracy


def worker(args):
    """Train once in this process and print the result as one tagged JSON line."""
    from gpudnn.experiments import load_data

    data = load_data(args.data, limit=args.limit)
    if args.worker == "gpudnn":
        seconds, accuracy = run_gpudnn(data, args.optimizer, args.epochs, args.device, args.seed)
    else:
        seconds, accuracy = run_torch(data, args.optimizer, args.epochs, args.seed)
    print(RESULT_TAG + json.dumps({"library": args.worker, "optimizer": args.optimizer,
                                   "seed": args.seed, "epoch_seconds": seconds,
                                   "test_accuracy": accuracy}), flush=True)


# ------------------------------------------------------------------ the parent: runs and summary
def worker_command(python, library, optimizer, args, seed):
    """The command line of one training run in a process of its own."""
    command = [python, "-m", "bench.fashion_epoch", "--worker", library, "--optimizer", optimizer,
               "--epochs", str(args.epochs), "--seed", str(seed), "--data", args.data,
               "--device", args.device]
    if args.limit is not None:
        command += ["--limit", str(args.limit)]
    return command


def parse_result(stdout, stderr="", returncode=0):
    """The result dict a worker printed; RuntimeError with its error output when there is none."""
    result = tagged_result(stdout, RESULT_TAG)
    if result is not None:
        return result
    tail = "\n".join((stderr or stdout).strip().splitlines()[-8:])
    raise RuntimeError(f"the training process failed (exit code {returncode}):\n{tail}")


def torch_problem(python):
    """Why ``python`` cannot import torch (with how to install it), or None when it can."""
    problem = torch_import_problem(python)
    return problem and f"{problem}; {TORCH_HINT}"


def run_order(run_index, libraries):
    """The libraries in the order of run ``run_index``: alternating which goes first."""
    return list(libraries) if run_index % 2 == 0 else list(reversed(libraries))


def summarize_epochs(seconds):
    """``{"first": s, "steady": median of epochs 2..N or None, "epochs": N}``."""
    if not seconds:
        raise ValueError("no epoch times")
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else None
    return {"first": seconds[0], "steady": steady, "epochs": len(seconds)}


def combine_runs(results):
    """One row per (library, optimizer), in first-seen order: the median over runs of the first
    epoch, the steady epoch and the test accuracy, with each one's (min, max)."""
    groups = {}
    for r in results:
        groups.setdefault((r["library"], r["optimizer"]), []).append(r)
    rows = []
    for (library, optimizer), runs in groups.items():
        summaries = [summarize_epochs(r["epoch_seconds"]) for r in runs]
        row = {"library": library, "optimizer": optimizer, "runs": len(runs),
               "epochs": summaries[0]["epochs"]}
        values = {"first": [s["first"] for s in summaries],
                  "steady": [s["steady"] for s in summaries if s["steady"] is not None],
                  "accuracy": [r["test_accuracy"] for r in runs if r["test_accuracy"] is not None]}
        for key, vals in values.items():
            row[key] = statistics.median(vals) if vals else None
            row[key + "_range"] = (min(vals), max(vals)) if vals else None
        later = [t for r in runs for t in r["epoch_seconds"][1:]]  # every epoch 2..N
        row["slowest_steady"] = max(later) if later else None
        row["fastest_steady"] = min(later) if later else None
        row["steady_over_first"] = (row["steady"] / row["first"]
                                    if row["steady"] is not None else None)
        rows.append(row)
    return rows


def _seconds(value, spread):
    if value is None:
        return "n/a"
    text = f"{value:.2f}"
    return text if spread is None or spread[0] == spread[1] else \
        f"{text} ({spread[0]:.2f}-{spread[1]:.2f})"


def table(rows):
    """A Markdown table of combined rows, then a line per optimizer comparing the steady epochs:
    the medians, and every epoch (gpudnn's slowest epoch 2..N against PyTorch's fastest)."""
    lines = ["| library | optimizer | runs | first epoch, s | steady epoch (2..N), s | "
             "slowest epoch 2..N, s | steady / first | test accuracy |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = "n/a" if r["steady_over_first"] is None else f"{r['steady_over_first']:.2f}"
        accuracy = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f} %"
        lines.append(f"| {r['library']} | {r['optimizer']} | {r['runs']} | "
                     f"{_seconds(r['first'], r['first_range'])} | "
                     f"{_seconds(r['steady'], r['steady_range'])} | "
                     f"{_seconds(r['slowest_steady'], None)} | {ratio} | {accuracy} |")
    by = {(r["library"].split()[0], r["optimizer"]): r for r in rows}
    for (library, optimizer), r in by.items():
        peer = by.get(("pytorch", optimizer))
        if library == "gpudnn" and peer and r["steady"] and peer["steady"]:
            lines.append(f"\n{optimizer}: gpudnn's steady epoch is "
                         f"{r['steady'] / peer['steady']:.2f}x PyTorch's; first epoch "
                         f"{r['first'] / peer['first']:.2f}x; every epoch 2..N: gpudnn's "
                         f"slowest is {r['slowest_steady'] / peer['fastest_steady']:.2f}x "
                         f"PyTorch's fastest.")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.fashion_epoch",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs per run (>= 2 for a steady epoch)")
    parser.add_argument("--runs", type=int, default=3, help="runs per library, alternating")
    parser.add_argument("--optimizers", nargs="+", default=["adam", "rmsprop"],
                        choices=["adam", "rmsprop"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0, help="run i uses seed + i")
    parser.add_argument("--data", default="fashion-mnist", help="data set name (sample: offline)")
    parser.add_argument("--limit", type=int, default=None, help="first N training samples only")
    parser.add_argument("--torch", action="store_true", help="also train the PyTorch peer (CPU)")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="the Python interpreter that has torch (default: this one)")
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--optimizer", choices=["adam", "rmsprop"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("epochs", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be a positive number of samples, not {args.limit}")
    if args.worker and not args.optimizer:
        parser.error("--worker needs --optimizer")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    pythons = {"gpudnn": sys.executable}
    if args.torch:
        problem = torch_problem(args.torch_python)
        if problem:
            print(f"PyTorch peer skipped: {problem}", flush=True)
        else:
            pythons["pytorch"] = args.torch_python
    env = worker_env()
    results = []
    for run_index in range(args.runs):
        for optimizer in args.optimizers:
            for library in run_order(run_index, list(pythons)):
                command = worker_command(pythons[library], library, optimizer, args,
                                         args.seed + run_index)
                done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
                result = parse_result(done.stdout, done.stderr, done.returncode)
                summary = summarize_epochs(result["epoch_seconds"])
                steady = "n/a" if summary["steady"] is None else f"{summary['steady']:.2f} s"
                every = " ".join(f"{t:.2f}" for t in result["epoch_seconds"])
                print(f"run {run_index + 1}/{args.runs} {library} {optimizer}: first epoch "
                      f"{summary['first']:.2f} s, steady {steady}, test accuracy "
                      f"{100 * result['test_accuracy']:.2f} %; every epoch, s: {every}",
                      flush=True)
                results.append(result)
    print(f"\n{args.data}{'' if args.limit is None else f' (first {args.limit})'}, "
          f"{args.epochs} epochs per run, {args.runs} run(s), each in its own process; "
          "medians over runs, (min-max):\n")
    print(table(combine_runs(results)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
