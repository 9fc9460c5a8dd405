"""The ``scaling`` section of ``docs/gpu-results.json`` (issue 8, item 6): how the training
step's cost grows with work, and where it turns from launch-bound to compute-bound.

Model 784 -> Dense(H, relu) -> Dense(10, softmax), categorical cross-entropy, Adam, one batch of B
already in the step's buffers, for H in 512 / 2048 / 8192 and B in 128 / 1024 / 8192 (``--quick``:
H in 16 / 32, B in 8 / 16), TF32 off and on. Per configuration, ms per step (median of the
repetitions, min and max under ``spread``) of ``gpudnn_eager``, ``gpudnn_graph`` (captured per
TF32 mode: a recording is keyed on the backend's ``capture_key``, which holds the TF32 mode),
``torch_eager`` and ``torch_graph`` (``torch.backends.cuda.matmul.allow_tf32``, the graph captured
after the flag is set), the step's GEMM FLOPs, each path's achieved TFLOP/s, and gpudnn / PyTorch
(eager / eager, graph / graph).

A configuration is *compute-bound* when replaying the step as a graph saves under
``LAUNCH_SAVING`` of the eager step (the launches no longer matter), else *launch-bound*.

GPU time is bounded: configurations run smallest first, and each side (gpudnn here, PyTorch in
its worker) stops at its time budget: a configuration whose predicted cost (the last one's cost
scaled by the FLOPs) would pass it is null with the reason. On the CPU (the fake mode) TF32 does
not exist: those rows are null with the reason.
"""

import contextlib
import gc
import time

import numpy as np

INPUTS, CLASSES = 784, 10
FULL_SIZES = ((512, 2048, 8192), (128, 1024, 8192))
QUICK_SIZES = ((16, 32), (8, 16))
IMPLS = ("gpudnn_eager", "gpudnn_graph", "torch_eager", "torch_graph")
GPUDNN_IMPLS, TORCH_IMPLS = IMPLS[:2], IMPLS[2:]
#: seconds each side may spend; expected on an H100/H200 ~15 s each (18 configurations of
#: 2 paths x (3 warm-up steps + 5 rounds of 0.05 s) + model builds and captures)
BUDGET_S = {"gpudnn": 60.0, "torch": 60.0}
QUICK_BUDGET_S = {"gpudnn": 20.0, "torch": 20.0}
#: compute-bound when the graph's step is at least this fraction of the eager step
LAUNCH_SAVING = 0.10
TARGET_RATIO = 1.05
NO_TF32_ON_CPU = "TF32 is a mode of NVIDIA tensor cores; this run is on the CPU"


def step_flops(hidden, batch):
    """FLOPs of the step's five GEMMs: forward x W1 (B x 784 x H) and h W2 (B x H x 10);
    backward dW2 = h^T dz2, dh = dz2 W2^T, dW1 = x^T dz1 (no gradient w.r.t. the input);
    2 FLOPs per multiply-add: 2 B H (2 * 784 + 3 * 10)."""
    return 2 * batch * hidden * (2 * INPUTS + 3 * CLASSES)


def configs(quick):
    """[(hidden, batch, tf32)], cheapest first (TF32 off before on at the same size)."""
    widths, batches = QUICK_SIZES if quick else FULL_SIZES
    sizes = sorted(((h, b) for h in widths for b in batches), key=lambda hb: (step_flops(*hb), hb))
    return [(h, b, tf32) for h, b in sizes for tf32 in (False, True)]


def key_of(hidden, batch, tf32):
    return f"h{hidden}_b{batch}_tf32_{'on' if tf32 else 'off'}"


def batch_data(hidden, batch):
    """(x (B, 784) float32, labels (B,) int) of a configuration, the same on both sides."""
    rng = np.random.default_rng(hidden * 100_003 + batch)
    return rng.random((batch, INPUTS), dtype=np.float32), rng.integers(0, CLASSES, batch)


class Budget:
    """Skips what would pass ``seconds`` from now: ``why_skip(flops)`` is None (go) or a reason;
    ``spent(flops, seconds)`` records a configuration's cost to predict the next one's."""

    def __init__(self, side, seconds):
        self.side, self.seconds = side, seconds
        self.start = time.perf_counter()
        self.last = None  # (flops, seconds) of the last configuration measured

    def why_skip(self, flops):
        elapsed = time.perf_counter() - self.start
        predicted = 0.0 if self.last is None else self.last[1] * max(1.0, flops / self.last[0])
        if elapsed + predicted > self.seconds:
            return (f"skipped: {self.side}'s scaling budget of {self.seconds:g} s "
                    f"({elapsed:.1f} s spent, this one predicted at {predicted:.1f} s)")
        return None

    def spent(self, flops, seconds):
        self.last = (flops, max(seconds, 1e-6))


# ------------------------------------------------------------------ gpudnn (this process)
@contextlib.contextmanager
def gpudnn_tf32(device, on):
    """The CuPy backend's TF32 mode set for the block, restored after (CUDA only)."""
    if device != "cuda":
        yield
        return
    from gpudnn.backend import cupy_backend

    was = cupy_backend.tf32_enabled()
    cupy_backend.enable_tf32(on)
    try:
        yield
    finally:
        cupy_backend.enable_tf32(was)


def gpudnn_model(device, hidden):
    from bench.test_train_step import course_model

    return course_model(device, hidden)


def gpudnn_times(device, hidden, batch, reps, round_s):
    """({"gpudnn_eager": [s...], "gpudnn_graph": [s...]}, the graph's path) of one
    configuration in the current TF32 mode: a fresh model for each path, so the graph is
    captured in this mode."""
    from bench.gpu_timing import gpudnn_step_times

    x, labels = batch_data(hidden, batch)
    y = np.eye(CLASSES, dtype=np.float32)[labels]
    return gpudnn_step_times(lambda: gpudnn_model(device, hidden), x, y, device, reps, round_s)


def measure_side(side, impls, measure_one, device, quick, budget_s):
    """{key: {impl: [s...] or a reason}} over every configuration, within the side's budget;
    ``measure_one(hidden, batch, tf32)`` returns ({impl: [s...] or reason}, note or None)."""
    budget = Budget(side, budget_s)
    out, notes = {}, {}
    for hidden, batch, tf32 in configs(quick):
        key, flops = key_of(hidden, batch, tf32), step_flops(hidden, batch)
        if tf32 and device != "cuda":
            out[key] = dict.fromkeys(impls, NO_TF32_ON_CPU)
            continue
        why = budget.why_skip(flops)
        if why:
            out[key] = dict.fromkeys(impls, why)
            continue
        start = time.perf_counter()
        try:
            out[key], note = measure_one(hidden, batch, tf32)
        except Exception as exc:  # e.g. out of memory at the largest size: the others still count
            out[key], note = dict.fromkeys(impls, f"failed: {type(exc).__name__}: {exc}"), None
        budget.spent(flops, time.perf_counter() - start)
        if note:
            notes[key] = note
    return out, notes


def gpudnn_scaling(device, quick, reps, round_s):
    """({key: {impl: [s...] or reason}}, {key: the graph's path}) for gpudnn."""

    def one(hidden, batch, tf32):
        with gpudnn_tf32(device, tf32):
            times, path = gpudnn_times(device, hidden, batch, reps, round_s)
        _free(device)
        return times, path

    budget = (QUICK_BUDGET_S if quick else BUDGET_S)["gpudnn"]
    return measure_side("gpudnn", GPUDNN_IMPLS, one, device, quick, budget)


def _free(device):
    """Hand back the blocks of the configuration just measured (its models and graphs are gone
    once collected): CuPy's pool and the private pool the captures allocate from."""
    if device == "cuda":
        import cupy

        from gpudnn.backend import backend_for

        gc.collect()
        graphs = backend_for(device)._graphs
        if graphs is not None:
            graphs.pool.free_all_blocks()
        cupy.get_default_memory_pool().free_all_blocks()


# ------------------------------------------------------------------ PyTorch (the worker)
def torch_scaling(torch, device, quick, reps, round_s):
    """{key: {impl: [s...] or reason}} for PyTorch eager and CUDA graph, fused Adam."""
    from bench.gpu_torch import torch_step_times

    gpu = device == "cuda"
    flags = torch.backends.cuda.matmul
    was = flags.allow_tf32 if gpu else None

    def one(hidden, batch, tf32):
        if gpu:
            flags.allow_tf32 = tf32
        x, labels = batch_data(hidden, batch)
        return torch_step_times(torch, device, x, labels, hidden, reps, round_s), None

    budget = (QUICK_BUDGET_S if quick else BUDGET_S)["torch"]
    try:
        return measure_side("torch", TORCH_IMPLS, one, device, quick, budget)[0]
    finally:
        if gpu:
            flags.allow_tf32 = was


# ------------------------------------------------------------------ the section
def section(quick, gpudnn_found, paths, torch_found):
    """The ``scaling`` section from both sides' {key: {impl: [s...] or reason}} (a side that
    did not run at all: one reason string for every figure of it)."""
    widths, batches = QUICK_SIZES if quick else FULL_SIZES
    rows = []
    for hidden, batch, tf32 in configs(quick):
        key, flops = key_of(hidden, batch, tf32), step_flops(hidden, batch)
        row = {"key": key, "hidden": hidden, "batch": batch, "tf32": tf32, "gemm_flops": flops,
               "step_ms": {}, "spread": {}, "tflops": {}, "missing": {}}
        for found, impls in ((gpudnn_found, GPUDNN_IMPLS), (torch_found, TORCH_IMPLS)):
            for impl in impls:
                values = found if isinstance(found, str) else found.get(key, {}).get(
                    impl, "not measured")
                add_figures(row, impl, values, flops)
        step = row["step_ms"]
        row["gpudnn_over_torch"] = {
            mode: _ratio(step[f"gpudnn_{mode}"], step[f"torch_{mode}"]) for mode in ("eager",
                                                                                  "graph")}
        row["bound"] = bound(step)
        if key in paths:
            row["path_gpudnn_graph"] = paths[key]
        rows.append(row)
    return {"settings": {"widths": list(widths), "batches": list(batches), "inputs": INPUTS,
                         "classes": CLASSES, "budget_s": QUICK_BUDGET_S if quick else BUDGET_S,
                         "launch_saving": LAUNCH_SAVING, "target_ratio": TARGET_RATIO},
            "rows": rows}


def add_figures(row, impl, values, flops):
    """Into ``row``: ``impl``'s median ms per step, its spread and TFLOP/s from ``values`` (its
    seconds per step), or None and the reason when ``values`` is a reason string."""
    if isinstance(values, str):
        row["step_ms"][impl] = row["tflops"][impl] = None
        row["missing"][impl] = values
        return
    ms = sorted(v * 1e3 for v in values)
    median = float(np.median(ms))
    row["step_ms"][impl] = median
    row["spread"][impl] = {"min": ms[0], "max": ms[-1], "n": len(ms)}
    row["tflops"][impl] = flops / (median * 1e-3) / 1e12


def _ratio(a, b):
    return None if a is None or b is None else a / b


def bound(step_ms):
    """"compute" when the graph saves under LAUNCH_SAVING of the eager step (gpudnn's pair, else
    PyTorch's), "launch" when it saves more, None when neither pair was measured."""
    for side in ("gpudnn", "torch"):
        eager, graph = step_ms.get(f"{side}_eager"), step_ms.get(f"{side}_graph")
        if eager is not None and graph is not None:
            return "compute" if graph >= (1 - LAUNCH_SAVING) * eager else "launch"
    return None

