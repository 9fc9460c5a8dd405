"""The figures of issue 8 from one run on one card, written as ``docs/gpu-results.json``.

    python -m bench.gpu_results --out docs/gpu-results.json [--device cuda|cpu] [--quick]
                                [--markdown] [--torch-python PY] [--data fashion-mnist|sample]
                                [--worker-timeout SECONDS] [--section all|main|scaling]
    python -m bench.gpu_results --from-json docs/gpu-results.json [--markdown] [--readme]
                                [--update-readme README.md]

What is measured, each against what (gpudnn in this process, PyTorch in a process of its own,
``--worker torch``, on the same card, one after the other):

- ``course_step_ms``: ms per training step of the course model (Dense(512, relu, input 784) ->
  Dense(10, softmax), categorical cross-entropy, accuracy, Adam, batch 128, data already in the
  step's device buffers). ``gpudnn_graph``: ``model._train_batch(ws, totals, record=True)`` with
  ``GPUDNN_CUDA_GRAPHS=1`` after two warm-up steps (the first records, the second captures the
  CUDA graph), replayed on the backend's training stream; on the CPU the recorded call list
  replayed. ``gpudnn_eager``: ``model._train_batch(ws, totals)``, recording off.
  ``gemms_eager``: the step's five GEMMs alone through ``backend.matmul`` (the floor of the eager
  step). ``torch_eager``: nn.Linear x2, CrossEntropyLoss, Adam(fused=True), zero_grad / backward /
  step. ``torch_graph``: the same step captured whole with ``torch.cuda.graph`` (static input
  tensors, ``capturable=True`` fused Adam) and replayed; CUDA only.
- ``fashion_epoch_s`` / ``fashion_test_acc``: the steady epoch (median of epochs 2..N, N = 4,
  or 2 on the first 512 samples with ``--quick``; seconds of wall time from epoch start to end,
  the epoch's last step finished) and the test accuracy after N epochs of the course model on
  Fashion-MNIST (60,000 samples, batch 128, shuffled, Adam(1e-3), ``fit(verbose=0)`` with the
  accuracy metric for gpudnn; PyTorch's loops gather each batch from the data on the device, the
  captured loop through an index buffer, and compute no training metric); every epoch's
  seconds, the first too, under ``fashion_every_epoch_s``.
- ``update_vs_copy_100M``: the bandwidth of ``optimizer.apply`` over flat float32 buffers of
  100 M parameters (1 M with ``--quick`` or on the CPU) as a ratio to a device copy of the same
  bytes (bench/test_update.py counts them: SGD 12 bytes per parameter, momentum / RMSprop /
  Adagrad 20, Adam / AdamW 28; the copy moves them as a copy of half the bytes into another
  buffer): copy seconds / update seconds, so 1.0 is the copy's speed and issue 8 asks >= 0.90.
  ``torch_update_vs_copy_100M``: the same ratio for ``torch.optim``'s fused and foreach variants
  (keys ``adam_fused``, ``adam_foreach``...) against a torch copy in the worker.
- ``scaling``: the step of 784 -> Dense(H, relu) -> Dense(10, softmax) for H 512 / 2048 / 8192 x
  B 128 / 1024 / 8192 x TF32 off / on, gpudnn eager and graph, PyTorch eager and graph, with its
  GEMM FLOPs, TFLOP/s, gpudnn / PyTorch and whether it is launch- or compute-bound
  (bench/gpu_scaling.py, each side within a time budget). ``--section main`` measures all but
  it, ``--section scaling`` only it, adding it to ``--out`` when that holds a run on the same
  device (bench/gpu_check.sh runs the two as stages of their own).

Every figure is the median of 5 repetitions (3 with ``--quick``), min and max under ``spread``;
a repetition of a step or an update is a round of k calls (k calibrated to ``round_s``) between
two device synchronizations. A figure that could not be measured is null with the reason under
``missing``; ``paths`` says which code path gpudnn actually ran (a refused capture falls back).
The tables (``--markdown``, ``--readme``, ``--update-readme``): bench/gpu_results_tables.py.
"""

import argparse
import contextlib
import copy
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np

from bench import gpu_scaling
from bench.gpu_timing import gpudnn_mode, gpudnn_step_times, per_call_seconds, spread, steady_epochs, step_path  # noqa: F401
from bench.gpu_torch import torch_course_steps, torch_fashion, torch_step_times, torch_updates  # noqa: F401
from bench.worker import ROOT, tagged_result, torch_problem, worker_env
from bench.gpu_results_tables import (EPOCH_KEYS, OPTIMIZER_KEYS, STEP_KEYS, TORCH_VARIANTS,
                                      markdown, readme_table, splice_readme)

RESULT_TAG = "GPU_RESULTS_WORKER "
BATCH = 128
#: per device: (round seconds, repetitions, epochs, training-sample limit, update parameters)
FULL = {"cuda": (0.05, 5, 4, None, 100_000_000), "cpu": (0.05, 5, 4, None, 1_000_000)}
QUICK = (0.002, 3, 2, 512, 1_000_000)
#: seconds the PyTorch worker may run by --section (bench/gpu_check.sh gives the gpu-results
#: stage, --section main, 200 s and the gpu-scaling stage 180 s)
WORKER_TIMEOUT_S = {"main": 120, "scaling": 120, "all": 210}
UNFINISHED = ("the PyTorch worker had not returned when this file was written (the run was "
              "stopped, e.g. by the check's time limit)")


# ------------------------------------------------------------------ timing and summaries


class Results:
    """The JSON being built: figures by section and key, their spread, the reasons for nulls."""

    def __init__(self):
        self.doc = {"spread": {}, "missing": {}, "paths": {}}
        self.scaling_gpudnn = None  # gpu_scaling.gpudnn_scaling's answer, until PyTorch's comes

    def put(self, section, key, values, scale=1.0):
        """The median of ``values`` (a list of repetitions) times ``scale`` as the figure."""
        scaled = [v * scale for v in values]
        self.doc.setdefault(section, {})[key] = statistics.median(scaled)
        self.doc["spread"].setdefault(section, {})[key] = spread(scaled)

    def put_epochs(self, key, seconds):
        """fashion_epoch_s[key] from the steady epochs, and every epoch (the first too) under
        fashion_every_epoch_s: a claim about epochs can then be checked on each of them."""
        self.put("fashion_epoch_s", key, steady_epochs(seconds))
        self.doc.setdefault("fashion_every_epoch_s", {})[key] = list(seconds)

    def put_value(self, section, key, value):
        """A single figure (no repetitions, e.g. a test accuracy)."""
        self.doc.setdefault(section, {})[key] = value

    def miss(self, section, key, reason):
        self.doc.setdefault(section, {})[key] = None
        self.doc["missing"].setdefault(section, {})[key] = reason


# ------------------------------------------------------------------ environment and data
def device_problem(device):
    """Why ``device`` cannot be measured on, or None."""
    if device == "cpu":
        return None
    from gpudnn.backend import cuda_problem

    return cuda_problem(0)


def card_name(device):
    """The GPU's name, or the CPU's model name."""
    if device == "cuda":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else name
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"CPU: {line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    return f"CPU: {platform.processor() or platform.machine()}"


def versions(device):
    """Library versions and the checkout's commit."""
    found = {"python": platform.python_version(), "numpy": np.__version__}
    if device == "cuda":
        import cupy

        found.update(cupy=cupy.__version__,
                     cuda_runtime=cupy.cuda.runtime.runtimeGetVersion(),
                     cuda_driver=cupy.cuda.runtime.driverGetVersion())
    if os.environ.get("GPUDNN_COMMIT"):  # a copied working tree whose .git is not its own
        found["gpudnn_commit"] = os.environ["GPUDNN_COMMIT"]
        return found
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True)
        found["gpudnn_commit"] = done.stdout.strip() if done.returncode == 0 else None
    except OSError:  # no git on the machine
        found["gpudnn_commit"] = None
    return found


def data_problem(name):
    """Why data set ``name`` is not on this machine (no download is tried), or None."""
    if name != "fashion-mnist":
        return None
    from gpudnn.datasets import download, fashion_mnist, mnist

    dirs = download.candidate_dirs(fashion_mnist.SUBDIR, fashion_mnist.SYSTEM_DIRS)
    if mnist.find_idx_set(dirs) is None:
        return (f"the Fashion-MNIST files are in none of {dirs}; set GPUDNN_DATA to a folder "
                "holding fashion-mnist/ with its four IDX files")
    return None


# ------------------------------------------------------------------ gpudnn (this process)


def gpudnn_course_step(results, device, reps, round_s):
    """course_step_ms: gpudnn_graph, gpudnn_eager and gemms_eager on one batch of 128."""
    from bench.test_train_step import course_model, step_gemms

    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]
    times, path = gpudnn_step_times(lambda: course_model(device), x, y, device, reps, round_s,
                                    extra=lambda model, ws: {"gemms_eager":
                                                             step_gemms(model, ws)[0]})
    results.doc["paths"]["course_step_gpudnn_graph"] = path
    for key, values in times.items():
        results.put("course_step_ms", key, values, scale=1e3)


def gpudnn_fashion(results, device, data, epochs):
    """fashion_epoch_s / fashion_test_acc of gpudnn_graph and gpudnn_eager: fit as a user
    runs it."""
    from gpudnn.experiments import course_model, run

    for key, graphs in (("gpudnn_graph", True), ("gpudnn_eager", False)):
        with gpudnn_mode(graphs=graphs, record=graphs), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = course_model(optimizer="adam", lr=0.001, device=device, seed=0)
            result = run(key, model, data, epochs, batch_size=BATCH, verbose=0)
        results.put_epochs(key, result.epoch_seconds)
        results.put_value("fashion_test_acc", key, result.test_accuracy)
        if graphs:
            results.doc["paths"]["fashion_gpudnn_graph"] = step_path(model, device, caught)


def gpudnn_updates(results, device, n_params, reps, round_s):
    """update_vs_copy_100M: copy seconds / update seconds per optimizer, per repetition."""
    from bench.test_update import OPTIMIZERS, bytes_per_param
    from gpudnn.backend import backend_for

    be = backend_for(device)
    xp = np
    if be.is_gpu:
        import cupy as xp
    host = np.random.default_rng(0).standard_normal(n_params, dtype=np.float32)
    params, grads = be.from_host(host * 0.05), be.from_host(host * 0.01)
    del host
    for key, name in OPTIMIZER_KEYS.items():
        opt = OPTIMIZERS[name]()
        opt.build(be, n_params, params.dtype)
        count = bytes_per_param(opt) * n_params // 8  # float32s in each half of the copy
        src, dst = xp.ones(count, xp.float32), xp.zeros(count, xp.float32)
        times = per_call_seconds({"ours": lambda opt=opt: opt.apply(be, params, grads),
                                  "copy": lambda dst=dst, src=src: xp.copyto(dst, src)},
                                 be.synchronize, reps, round_s)
        results.put("update_vs_copy_100M", key,
                    [c / o for c, o in zip(times["copy"], times["ours"])])
        del opt, src, dst


def free_device_memory(device):
    """Hand CuPy's cached blocks back to the driver, leaving the card to the PyTorch worker."""
    if device == "cuda":
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()


# ------------------------------------------------------------------ PyTorch (--worker torch)


def torch_worker(args):
    """Every PyTorch figure, printed as one tagged JSON line."""
    import torch

    from gpudnn.experiments import load_data

    round_s, reps, epochs, limit, n_params = settings(args)
    device = args.device
    found = {"version": torch.__version__}
    if args.section in ("all", "scaling"):
        found["scaling"] = gpu_scaling.torch_scaling(torch, device, args.quick, reps, round_s)
    if args.section == "scaling":
        print(RESULT_TAG + json.dumps(found), flush=True)
        return
    found.update(course_step_s=torch_course_steps(torch, device, reps, round_s),
                 updates=torch_updates(torch, device, n_params, reps, round_s), fashion={})
    if args.data_problem is None:
        data = load_data(args.data, limit=limit)
        for key, graph in (("torch_eager", False), ("torch_graph", True)):
            if graph and device != "cuda":
                found["fashion"][key] = "torch.cuda.graph needs a CUDA device " \
                                        "(this run: --device cpu)"
                continue
            seconds, accuracy = torch_fashion(torch, device, data, epochs, graph)
            found["fashion"][key] = {"epoch_seconds": seconds, "test_accuracy": accuracy}
    print(RESULT_TAG + json.dumps(found), flush=True)


def run_torch_worker(args):
    """The worker's figures, or a string saying why there are none."""
    problem = torch_problem(args.torch_python)
    if problem:
        return problem
    command = [args.torch_python, "-m", "bench.gpu_results", "--worker", "torch",
               "--device", args.device, "--data", args.data, "--section", args.section]
    command += ["--quick"] if args.quick else []
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env=worker_env(), timeout=args.worker_timeout)
    except subprocess.TimeoutExpired:
        return f"the PyTorch worker ran past --worker-timeout {args.worker_timeout} s"
    result = tagged_result(done.stdout, RESULT_TAG)
    if result is not None:
        return result
    tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
    return f"the PyTorch worker failed (exit code {done.returncode}): {tail}"


def add_torch(results, found):
    """Put the worker's figures (or its failure, for every torch key) into ``results``."""
    doc = results.doc
    if "scaling" in doc:
        scaling = found if isinstance(found, str) else found.get("scaling", "not measured")
        if isinstance(scaling, str):
            scaling = f"PyTorch peer unavailable: {scaling}"
        found_gpudnn, paths = results.scaling_gpudnn
        doc["scaling"] = gpu_scaling.section(doc["quick"], found_gpudnn, paths, scaling)
    if isinstance(found, str) and "scaling" in doc and "course_step_ms" not in doc:
        return  # --section scaling: no other figure to null
    if not isinstance(found, str) and "course_step_s" not in found:  # --section scaling
        doc["versions"]["torch"] = found["version"]
        return
    if isinstance(found, str):
        for section, key in (("course_step_ms", "torch_eager"), ("course_step_ms", "torch_graph"),
                             ("fashion_epoch_s", "torch_eager"), ("fashion_epoch_s", "torch_graph"),
                             ("fashion_test_acc", "torch_eager"),
                             ("fashion_test_acc", "torch_graph")):
            if key not in doc.get(section, {}):  # a figure nulled already keeps its reason
                results.miss(section, key, f"PyTorch peer unavailable: {found}")
        for key in OPTIMIZER_KEYS:
            for variant in TORCH_VARIANTS:
                results.miss("torch_update_vs_copy_100M", f"{key}_{variant}",
                             f"PyTorch peer unavailable: {found}")
        return
    doc["versions"]["torch"] = found["version"]
    for key, values in found["course_step_s"].items():
        if isinstance(values, str):
            results.miss("course_step_ms", key, values)
        else:
            results.put("course_step_ms", key, values, scale=1e3)
    for key, variants in found["updates"].items():
        for variant, values in variants.items():
            if isinstance(values, str):
                results.miss("torch_update_vs_copy_100M", f"{key}_{variant}", values)
            else:
                results.put("torch_update_vs_copy_100M", f"{key}_{variant}", values)
    for key, run in found["fashion"].items():
        if isinstance(run, str):
            results.miss("fashion_epoch_s", key, run)
            results.miss("fashion_test_acc", key, run)
        else:
            results.put_epochs(key, run["epoch_seconds"])
            results.put_value("fashion_test_acc", key, run["test_accuracy"])


# ------------------------------------------------------------------ the whole run
def settings(args):
    """(round seconds, repetitions, epochs, sample limit, update parameters) of this run."""
    return QUICK if args.quick else FULL[args.device]


def measure(args, save):
    """Every figure of issue 8 on ``args.device`` (``args.section``: all, all but the scaling
    section, or only it), as the JSON document; ``save(doc)`` is also called before the PyTorch
    worker starts, so gpudnn's figures survive a run stopped in it."""
    round_s, reps, epochs, limit, n_params = settings(args)
    results = Results()
    doc = results.doc
    doc.update(card=card_name(args.device), device=args.device, quick=args.quick,
               date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               versions=versions(args.device),
               settings={"batch": BATCH, "reps": reps, "round_s": round_s, "epochs": epochs,
                         "data": args.data, "train_samples_limit": limit,
                         "update_params": n_params})
    if args.section in ("all", "main"):
        measure_main(args, results)
    if args.section in ("all", "scaling"):
        free_device_memory(args.device)
        results.scaling_gpudnn = gpu_scaling.gpudnn_scaling(args.device, args.quick, reps,
                                                            round_s)
        doc["scaling"] = {}  # filled by add_torch, with PyTorch's figures or the reason
    free_device_memory(args.device)
    pending = Results()
    pending.doc, pending.scaling_gpudnn = copy.deepcopy(doc), results.scaling_gpudnn
    add_torch(pending, UNFINISHED)
    save(order(pending.doc))
    add_torch(results, run_torch_worker(args))
    return order(doc)


def measure_main(args, results):
    """Every figure but the scaling section (gpudnn's side) into ``results``."""
    from gpudnn.experiments import load_data

    round_s, reps, epochs, limit, n_params = settings(args)
    doc = results.doc
    gpudnn_course_step(results, args.device, reps, round_s)
    if args.data_problem is None:
        data = load_data(args.data, limit=limit)
        doc["settings"]["train_samples"] = len(data.x_train)
        gpudnn_fashion(results, args.device, data, epochs)
        del data
    else:
        for section in ("fashion_epoch_s", "fashion_test_acc"):
            for key in EPOCH_KEYS:
                results.miss(section, key, args.data_problem)
    gpudnn_updates(results, args.device, n_params, reps, round_s)


def order(doc):
    """The document with the issue's keys first, each section's keys in the issue's order."""
    want = {"course_step_ms": STEP_KEYS, "fashion_epoch_s": EPOCH_KEYS,
            "fashion_test_acc": EPOCH_KEYS, "update_vs_copy_100M": tuple(OPTIMIZER_KEYS)}
    head = ("card", "device", "quick", "date", "versions", "settings")
    out = {k: doc[k] for k in head if k in doc}
    for section, keys in want.items():
        if section not in doc:  # --section scaling
            continue
        out[section] = {k: doc.get(section, {}).get(k) for k in keys}
    for k, v in doc.items():
        out.setdefault(k, v)
    return out


# ------------------------------------------------------------------ command line
def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_results",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the JSON")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true",
                        help="few repetitions, 512 training samples, 2 epochs, 1 M parameters")
    parser.add_argument("--markdown", action="store_true", help="print the Markdown tables")
    parser.add_argument("--readme", action="store_true", help="print the README's GPU table")
    parser.add_argument("--update-readme", metavar="README",
                        help="write the GPU table between the README's gpu-results markers")
    parser.add_argument("--from-json", metavar="PATH",
                        help="render an existing results file instead of measuring")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="the interpreter that has torch (default: this one)")
    parser.add_argument("--data", default="fashion-mnist", choices=["fashion-mnist", "sample"])
    parser.add_argument("--worker-timeout", type=float,
                        help="seconds the PyTorch worker may run (default by --section: "
                             + ", ".join(f"{k} {v}" for k, v in WORKER_TIMEOUT_S.items()) + ")")
    parser.add_argument("--section", default="all", choices=["all", "main", "scaling"],
                        help="main: every figure but the scaling section; scaling: only it, "
                             "merged into --out when that file holds a run on the same device")
    parser.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.from_json and args.out:
        parser.error("--from-json renders an existing file; it takes no --out")
    if args.worker_timeout is None:
        args.worker_timeout = WORKER_TIMEOUT_S[args.section]
    if args.worker_timeout <= 0:
        parser.error(f"--worker-timeout must be a positive number of seconds, not "
                     f"{args.worker_timeout:g}")
    if not (args.worker or args.from_json or args.out):
        parser.error("--out PATH is required (where the JSON goes), or --from-json PATH")
    if args.from_json and not (args.markdown or args.readme or args.update_readme):
        parser.error("--from-json needs --markdown, --readme or --update-readme (what to do)")
    if args.out and Path(args.out).is_dir():
        parser.error(f"--out {args.out} is a folder; give a file path, "
                     f"e.g. {args.out}/gpu-results.json")
    if not (args.from_json or args.worker):  # the worker's python may lack CuPy
        problem = device_problem(args.device)
        if problem:
            parser.error(f"--device {args.device} is not usable: {problem} (use --device cpu)")
    args.data_problem = None if args.from_json else data_problem(args.data)
    return args


def previous_run(out, args):
    """The results document already at ``out`` that a ``--section scaling`` run adds its section
    to (one of the same device and mode), else None (the file is written afresh)."""
    if args.section != "scaling" or not out.is_file():
        return None
    try:
        before = json.loads(out.read_text())
    except (OSError, ValueError):
        return None
    same = isinstance(before, dict) and before.get("device") == args.device \
        and before.get("quick") == args.quick
    return before if same else None


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        torch_worker(args)
        return 0
    if args.from_json:
        doc = json.loads(Path(args.from_json).read_text())
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)

        before = previous_run(out, args)

        def save(doc):
            if before is not None:
                doc = dict(before, scaling=doc["scaling"],
                           versions=dict(before.get("versions", {}), **doc["versions"]))
            out.write_text(json.dumps(doc, indent=1) + "\n")
            return doc

        doc = save(measure(args, save))
        print(f"wrote {args.out}", flush=True)
    if args.markdown:  # --section scaling: the run's header and its own table
        shown = {k: doc[k] for k in ("card", "device", "quick", "date", "versions", "scaling")
                 if k in doc} if args.section == "scaling" else doc
        print(markdown(shown))
    if args.readme:
        print(readme_table(doc))
    if args.update_readme:
        readme = Path(args.update_readme)
        try:
            readme.write_text(splice_readme(readme.read_text(), readme_table(doc)))
        except (OSError, ValueError) as exc:
            print(f"--update-readme {readme}: {exc}", file=sys.stderr)
            return 2
        print(f"updated the GPU table in {readme}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
