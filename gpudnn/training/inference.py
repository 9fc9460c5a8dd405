"""The batched forward passes behind ``evaluate``, ``predict`` and fit's validation, over a data
adapter (data_adapters): arrays on the device, memory-mapped files, generators, PyDatasets."""

import numpy as np

from ..callbacks import CallbackList
from .progbar import ProgressBar


def _no_callbacks(model):
    """The hooks of a pass that was given no callbacks: each does nothing."""
    return CallbackList([], model, {}, add_history=False)


def evaluate_source(model, data, prefix="", verbose=0, cbs=None, running=None):
    """Mean loss and metrics of the adapter's batches as Keras logs (one host sync at the end,
    and one per drawn progress line); a batch's sample weights weigh its losses. None when the
    source gave no batch (an exhausted generator). ``cbs`` (a CallbackList): its test hooks
    around the pass and each batch (the running logs read each batch only when a callback
    wants them). ``running``: ``[totals, samples]`` to add into and go on from (test_on_batch's
    running metrics), updated in place."""
    cbs = _no_callbacks(model) if cbs is None else cbs
    totals, seen = running if running is not None else (model._new_totals(), 0)
    model._refresh_half_weights()  # the weights do not change during the pass: once
    bar = ProgressBar(data.steps, verbose)
    step = 0
    cbs.on_test_begin({})
    for step, (x, y, w) in enumerate(data.inference_batches(model), start=1):
        cbs.on_test_batch_begin(step - 1, {})
        ws = model._workspace(x.shape[0], with_grads=False)
        model._accumulate(model._forward(x, ws), y, totals, weights=w)
        seen += x.shape[0]
        bar.update(step, lambda done=seen: model._logs(totals, done, prefix))
        cbs.on_test_batch_end(step - 1, model._logs(totals, seen, prefix)
                              if cbs.wants_test_batch_logs else {})
    logs = model._logs(totals, seen, prefix) if seen else None
    if running is not None:
        running[1] = seen
    cbs.on_test_end(dict(logs or {}))
    if logs is not None:
        bar.update(step, lambda: logs, finalize=True)
    return logs


def predict_source(model, data, verbose=0, cbs=None):
    """The model's outputs for the adapter's batches, in order, as one host NumPy array;
    ``cbs`` (a CallbackList): its predict hooks, each batch's end with ``{"outputs": ...}``."""
    cbs = _no_callbacks(model) if cbs is None else cbs
    bar = ProgressBar(data.steps, verbose)
    no_logs = lambda: {}  # noqa: E731
    known = data.num_samples
    result = np.empty((known, model.output_dim), dtype=model.dtype) if known else None
    model._refresh_half_weights()  # the weights do not change during the pass: once
    pieces, done, step = [], 0, 0
    cbs.on_predict_begin({})
    for step, (x, _, _) in enumerate(data.inference_batches(model), start=1):
        cbs.on_predict_batch_begin(step - 1, {})
        ws = model._workspace(x.shape[0], with_grads=False)
        out = model.backend.to_host(model._forward(x, ws))
        cbs.on_predict_batch_end(step - 1, {"outputs": out})
        if result is not None:
            result[done:done + len(out)] = out
        else:
            pieces.append(out)
        done += len(out)
        bar.update(step, no_logs)
    bar.update(step, no_logs, finalize=True)
    cbs.on_predict_end({})
    if result is None:
        return np.concatenate(pieces) if pieces else np.empty((0, model.output_dim), model.dtype)
    return result[:done]
