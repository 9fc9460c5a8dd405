"""Timing helpers of the GPU results (bench/gpu_results.py) and the scaling rows
(bench/gpu_scaling.py): seconds per call of alternating callables, their spread, the steady
epochs, gpudnn's graph/eager modes, and one training step of a gpudnn model timed both ways."""

import contextlib
import math
import os
import time
import warnings


def per_call_seconds(fns, sync, reps, round_s):
    """Seconds per call of each callable in ``fns`` ({name: fn}), ``reps`` values each.

    Each fn is called twice to warm up (kernel builds, recordings), then k is chosen so that k
    back-to-back calls last about ``round_s``; a repetition times k calls and a ``sync()`` after
    them (after a ``sync()`` before). The repetitions of the fns alternate, so drift in the
    machine's load hits them alike."""
    rounds = {}
    for name, fn in fns.items():
        fn()
        fn()
        sync()
        start = time.perf_counter()
        fn()
        sync()
        once = max(time.perf_counter() - start, 1e-7)
        rounds[name] = (fn, max(1, min(100_000, math.ceil(round_s / once))))
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, (fn, k) in rounds.items():
            sync()
            start = time.perf_counter()
            for _ in range(k):
                fn()
            sync()
            times[name].append((time.perf_counter() - start) / k)
    return times


def spread(values):
    """``{"min", "max", "n"}`` of repetition values."""
    return {"min": min(values), "max": max(values), "n": len(values)}


def steady_epochs(seconds):
    """Epochs 2..N: the epochs after the first (kernel builds, recordings, capture)."""
    if len(seconds) < 2:
        raise ValueError(f"a steady epoch needs at least 2 epochs, got {len(seconds)}")
    return seconds[1:]


@contextlib.contextmanager
def gpudnn_mode(graphs, record):
    """``GPUDNN_CUDA_GRAPHS`` and ``GPUDNN_RECORD_STEPS`` set for the block, restored after."""
    saved = {k: os.environ.get(k) for k in ("GPUDNN_CUDA_GRAPHS", "GPUDNN_RECORD_STEPS")}
    os.environ["GPUDNN_CUDA_GRAPHS"] = "1" if graphs else "0"
    os.environ["GPUDNN_RECORD_STEPS"] = "1" if record else "0"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def step_path(model, device, caught):
    """Which path the recorded step ran: a CUDA graph, or the recorded calls (and why)."""
    steps = model._steps
    if steps.graphs:
        return f"cuda graph ({steps.graphs} captured, {steps.replays} replays)"
    why = "; ".join(str(w.message) for w in caught) or (
        "no CUDA graphs on this device" if device == "cpu" else "the step was not captured")
    return f"recorded calls replayed ({steps.replays} replays): {why}"


def gpudnn_step_times(make_model, x, y, device, reps, round_s, extra=None):
    """``(times, path)`` of one training step of a fresh ``make_model()`` on the batch (x, y):
    ``times["gpudnn_graph"]`` replayed as fit runs it (a CUDA graph on a GPU, the recorded calls
    on the CPU; ``path`` says which), ``times["gpudnn_eager"]`` with recording off (a second
    fresh model, so a graph is captured in the current TF32 mode), plus ``extra(model, ws)``'s
    calls timed beside the eager step; each a list of seconds per call."""

    from bench.test_train_step import batch_in_workspace

    def prepared():
        model = make_model()
        return (model, *batch_in_workspace(model, x, y))

    with gpudnn_mode(graphs=True, record=True), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, ws, totals = prepared()
        with model.backend.training_stream():  # as fit runs: writes and replays on one stream
            times = per_call_seconds(
                {"gpudnn_graph": lambda: model._train_batch(ws, totals, record=True)},
                model.backend.synchronize, reps, round_s)
        path = step_path(model, device, caught)
    del model, ws, totals
    with gpudnn_mode(graphs=False, record=False):
        model, ws, totals = prepared()
        calls = {"gpudnn_eager": lambda: model._train_batch(ws, totals)}
        calls.update(extra(model, ws) if extra is not None else {})
        times.update(per_call_seconds(calls, model.backend.synchronize, reps, round_s))
    return times, path
