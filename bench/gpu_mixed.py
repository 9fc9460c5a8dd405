"""Issue 17's GPU rows: the training step under mixed precision, gpudnn against PyTorch's
``torch.autocast``, at the sizes where the GEMMs dominate.

    python -m bench.gpu_mixed [--device cuda] [--quick] [--json PATH] [--markdown]
                              [--torch-python PY] [--peak-tflops F] [--reps 5]

Model 784 -> Dense(H, relu) -> Dense(10, softmax), categorical cross-entropy, Adam (lr 0.001,
eps 1e-7), one batch of B already on the device, H in 2048 / 8192 and B in 1024 / 8192
(``--quick``: H 16 / 32, B 8 / 16, for a run on the CPU). Per configuration and precision, ms
per step (median of ``--reps`` rounds; min and max under ``spread``) of:

- gpudnn under ``mixed_bfloat16`` and ``mixed_float16`` (its LossScaleOptimizer, on the
  device), ``gpudnn_eager`` (recording off) and ``gpudnn_graph`` (the step as fit replays it:
  a CUDA graph);
- PyTorch in a process of its own, ``torch.autocast(dtype=bfloat16 / float16)`` around the
  forward pass and the loss, fused Adam, ``torch_eager`` and ``torch_graph`` (the whole step
  captured, PyTorch's recipe). float16 eager uses ``torch.amp.GradScaler`` as PyTorch's users
  do; a captured step cannot (its inf check reads the host), so float16's graph runs unscaled
  and gets no gpudnn / PyTorch ratio. Capturable Adam is for the graph only; eager is the default.
  The two sides run one after the other, each in its own process: a ratio compares medians
  taken minutes apart (the JSON keeps each side's spread beside them).

Each figure gives its achieved TFLOP/s (the step's five GEMMs) and, on a GPU, the fraction of
the card's dense bfloat16 peak (``--peak-tflops``, else by the card's name: H100 / H200 SXM
989.4). The targets (issue 17): gpudnn bf16 <= 1.0x PyTorch's bf16 autocast at every size.
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np

from bench.gpu_scaling import INPUTS, CLASSES, add_figures, batch_data, step_flops
from bench.gpu_timing import per_call_seconds
from bench.gpu_torch import capture_step
from bench.worker import ROOT, tagged_result, torch_problem, worker_env

FULL_SIZES = ((2048, 8192), (1024, 8192))
QUICK_SIZES = ((16, 32), (8, 16))
PRECISIONS = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}
IMPLS = ("gpudnn_eager", "gpudnn_graph", "torch_eager", "torch_graph")
RESULT_TAG = "GPU_MIXED_RESULT "
#: dense bfloat16 tensor-core TFLOP/s by the card's name (NVIDIA's data sheets, without
#: sparsity), the first match wins: the PCIe and NVL cards before the SXM ones
PEAKS = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H200 NVL", 835.0), ("H100", 989.4),
         ("H200", 989.4), ("A100", 312.0))
TARGET_RATIO = 1.0
FP16_GRAPH = ("no float16 graph ratio: PyTorch's captured step cannot use GradScaler, so it runs "
              "unscaled while gpudnn's scales, checks and may skip")


def configs(quick):
    widths, batches = QUICK_SIZES if quick else FULL_SIZES
    sizes = sorted(((h, b) for h in widths for b in batches), key=lambda hb: step_flops(*hb))
    return [(h, b, p) for h, b in sizes for p in PRECISIONS]


def key_of(hidden, batch, precision):
    return f"h{hidden}_b{batch}_{precision}"


# ------------------------------------------------------------------ gpudnn (this process)
def gpudnn_side(device, quick, reps, round_s):
    """{key: {"gpudnn_eager": [s...], "gpudnn_graph": [s...]} or a reason}."""
    from bench.gpu_timing import gpudnn_step_times
    from bench.test_train_step import course_model
    from gpudnn import mixed_precision

    out = {}
    for hidden, batch, precision in configs(quick):
        x, labels = batch_data(hidden, batch)
        y = np.eye(CLASSES, dtype=np.float32)[labels]
        mixed_precision.set_global_policy(PRECISIONS[precision])
        try:
            times, path = gpudnn_step_times(lambda h=hidden: course_model(device, h), x, y,
                                            device, reps, round_s)
            out[key_of(hidden, batch, precision)] = {**times, "path": path}
        except Exception as exc:  # out of memory at the largest size: the others still count
            out[key_of(hidden, batch, precision)] = f"failed: {type(exc).__name__}: {exc}"
        finally:
            mixed_precision.set_global_policy(None)
    return out


# ------------------------------------------------------------------ PyTorch (the worker)
def torch_side(device, quick, reps, round_s):
    """{key: {"torch_eager": [s...], "torch_graph": [s...] or a reason} or a reason}."""
    import torch

    out = {}
    for hidden, batch, precision in configs(quick):
        x, labels = batch_data(hidden, batch)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        try:
            out[key_of(hidden, batch, precision)] = torch_times(torch, device, x, labels, hidden,
                                                                dtype, reps, round_s)
        except Exception as exc:
            out[key_of(hidden, batch, precision)] = f"failed: {type(exc).__name__}: {exc}"
    return out


def torch_times(torch, device, x, labels, hidden, dtype, reps, round_s):
    nn = torch.nn
    gpu = device == "cuda"
    place = "cuda" if gpu else "cpu"

    def make(capturable):
        """Capturable Adam only for the graph (its step count on the device): eager users
        run the default."""
        net = nn.Sequential(nn.Linear(INPUTS, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))
        net = net.to(place)
        opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7, fused=gpu,
                               capturable=capturable)
        return net, opt

    tx, ty = torch.as_tensor(x, device=place), torch.as_tensor(labels, device=place)
    loss_fn = nn.CrossEntropyLoss()
    net, opt = make(False)
    scaler = torch.amp.GradScaler(place) if dtype == torch.float16 and gpu else None

    def eager():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(place, dtype=dtype):
            loss = loss_fn(net(tx), ty)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    sync = torch.cuda.synchronize if gpu else (lambda: None)
    result = {"torch_eager": per_call_seconds({"s": eager}, sync, reps, round_s)["s"]}
    if not gpu:
        result["torch_graph"] = "torch.cuda.graph needs a CUDA device (this run: --device cpu)"
        return result
    net, opt = make(True)

    def loss_of():
        with torch.autocast("cuda", dtype=dtype, cache_enabled=False):
            return loss_fn(net(tx), ty)

    graph = capture_step(torch, loss_of, opt)  # PyTorch's whole-network capture recipe
    result["torch_graph"] = per_call_seconds({"s": graph.replay}, sync, reps, round_s)["s"]
    return result


def run_torch_worker(python, device, quick, reps, round_s, timeout):
    problem = torch_problem(python)
    if problem is not None:
        return problem
    command = [python, "-m", "bench.gpu_mixed", "--worker", "--device", device, "--reps",
               str(reps), "--round-s", str(round_s)] + (["--quick"] if quick else [])
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env=worker_env(), timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"the PyTorch worker passed its {timeout} s"
    found = tagged_result(done.stdout, RESULT_TAG)
    if found is None:
        return f"the PyTorch worker failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return found


# ------------------------------------------------------------------ the document
def card_peak(device, given):
    if given:
        return float(given)
    if device != "cuda":
        return None
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    return next((peak for card, peak in PEAKS if card in name), None)


def rows(quick, ours, theirs, peak):
    out = []
    for hidden, batch, precision in configs(quick):
        key, flops = key_of(hidden, batch, precision), step_flops(hidden, batch)
        row = {"key": key, "hidden": hidden, "batch": batch, "precision": precision,
               "gemm_flops": flops, "step_ms": {}, "spread": {}, "tflops": {},
               "of_peak": {}, "missing": {}}
        for found, impls in ((ours, IMPLS[:2]), (theirs, IMPLS[2:])):
            entry = found if isinstance(found, str) else found.get(key, "not measured")
            for impl in impls:
                values = entry if isinstance(entry, str) else entry.get(impl, "not measured")
                add_figures(row, impl, values, flops)
                tflops = row["tflops"][impl]
                row["of_peak"][impl] = None if not peak or tflops is None else tflops / peak
            if not isinstance(entry, str) and "path" in entry:
                row["path_gpudnn_graph"] = entry["path"]
        step = row["step_ms"]
        row["gpudnn_over_torch"] = {
            mode: None if step[f"gpudnn_{mode}"] is None or step[f"torch_{mode}"] is None
            else step[f"gpudnn_{mode}"] / step[f"torch_{mode}"] for mode in ("eager", "graph")}
        if precision == "fp16":  # not the same work: gpudnn's graph scales the loss
            row["gpudnn_over_torch"]["graph"] = None
            row["ratio_missing"] = FP16_GRAPH
        out.append(row)
    return out


def markdown(doc):
    lines = [f"### Mixed precision, {doc['device']} ({doc['card'] or 'CPU'}), ms per step "
             f"(TFLOP/s{', % of the dense bf16 peak' if doc['peak_tflops'] else ''})", "",
             "| H | B | precision | " + " | ".join(IMPLS) + " | gpudnn / PyTorch (eager, graph) |",
             "|---:|---:|---|" + "---:|" * len(IMPLS) + "---|"]
    for row in doc["rows"]:
        cells = []
        for impl in IMPLS:
            ms = row["step_ms"][impl]
            if ms is None:
                cells.append("n/a")
                continue
            peak = row["of_peak"][impl]
            cells.append(f"{ms:.3f} ({row['tflops'][impl]:.1f}"
                         f"{'' if peak is None else f', {100 * peak:.0f} %'})")
        ratio = ", ".join("n/a" if r is None else f"{r:.2f}x"
                          for r in row["gpudnn_over_torch"].values())
        lines.append(f"| {row['hidden']} | {row['batch']} | {row['precision']} | "
                     + " | ".join(cells) + f" | {ratio} |")
    missing = sorted({why for row in doc["rows"] for why in row["missing"].values()}
                     | {row["ratio_missing"] for row in doc["rows"] if "ratio_missing" in row})
    return "\n".join(lines + ([""] + [f"- n/a: {why}" for why in missing] if missing else []))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--round-s", type=float, default=0.05)
    parser.add_argument("--json", default=None)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--worker-timeout", type=int, default=80)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        found = torch_side(args.device, args.quick, args.reps, args.round_s)
        print(RESULT_TAG + json.dumps(found), flush=True)
        return
    start = time.perf_counter()
    peak = card_peak(args.device, args.peak_tflops)
    card = None
    if args.device == "cuda":
        import cupy

        card = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    ours = gpudnn_side(args.device, args.quick, args.reps, args.round_s)

    def document(theirs):
        doc = {"device": args.device, "card": card, "quick": args.quick, "peak_tflops": peak,
               "target_ratio": TARGET_RATIO, "seconds": time.perf_counter() - start,
               "rows": rows(args.quick, ours, theirs, peak)}
        if args.json:  # written before the worker runs too: a cut there keeps gpudnn's rows
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)
        return doc

    document("the PyTorch worker has not finished")
    doc = document(run_torch_worker(args.torch_python, args.device, args.quick, args.reps,
                                    args.round_s, args.worker_timeout))
    print(markdown(doc) if args.markdown else json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
