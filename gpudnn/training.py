"""The loops of a model: ``fit`` (epochs of shuffled mini-batch steps, validation, callbacks,
progress bar) and the batched forward pass behind ``evaluate`` and ``predict``.

The model owns its buffers and its step (``Sequential._train_batch``); this module only walks
data through them. Data reaches the device once per call; batches are gathered there.
"""

import numpy as np

from . import inputs
from .callbacks import Callback, History
from .errors import InvalidInputError
from .progbar import ProgressBar


def split_validation(model, x_host, y_host, validation_split, validation_data):
    """``(x_train, y_train, val)`` where ``val`` is ``(x_val, y_val)`` or None.

    ``validation_split`` holds out the last fraction of the samples (before shuffling), as
    Keras does: the first ``ceil(n (1 - split))`` samples train.
    """
    if validation_data is not None:
        if len(validation_data) != 2:
            raise InvalidInputError("validation_data must be a pair (x_val, y_val)")
        return x_host, y_host, model._prepare("fit", *validation_data, what="_val")
    if not validation_split:
        return x_host, y_host, None
    n_val = len(x_host) - int(np.ceil(len(x_host) * (1 - validation_split)))
    if n_val == 0 or n_val == len(x_host):
        raise InvalidInputError(
            f"validation_split={validation_split} leaves {n_val} of {len(x_host)} samples "
            f"for validation; use a split that keeps samples on both sides")
    return x_host[:-n_val], y_host[:-n_val], (x_host[-n_val:], y_host[-n_val:])


def checked_callbacks(callbacks):
    """``[History(), *callbacks]``, each checked to be a Callback before any hook runs."""
    all_callbacks = [History()] + list(callbacks or [])
    for cb in all_callbacks:
        if not isinstance(cb, Callback):
            raise InvalidInputError(
                f"callbacks must be gpudnn.callbacks.Callback objects, not {cb!r}")
    return all_callbacks


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, initial_epoch=0):
    """``Sequential.fit`` (arguments checked there): returns the History."""
    if not 0 <= validation_split < 1:
        raise InvalidInputError(f"validation_split must be in [0, 1), not {validation_split!r}")
    x_host, y_host = model._prepare("fit", x, y)
    x_host, y_host, val = split_validation(model, x_host, y_host, validation_split,
                                           validation_data)
    all_callbacks = checked_callbacks(callbacks)
    history = all_callbacks[0]

    be = model.backend
    x_dev, y_dev = be.from_host(x_host), be.from_host(y_host)
    val_dev = (be.from_host(val[0]), be.from_host(val[1])) if val is not None else None
    n = x_dev.shape[0]
    steps = -(-n // batch_size)
    history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
    for cb in all_callbacks:
        cb.set_model(model)
        cb.on_train_begin({})
    model.stop_training = False
    logs = {}
    for epoch in range(initial_epoch, epochs):
        for cb in all_callbacks:
            cb.on_epoch_begin(epoch, {})
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        order = be.from_host(model.rng.permutation(n) if shuffle else np.arange(n))
        totals = model._new_totals()
        bar = ProgressBar(steps, verbose)
        seen = 0
        read_logs = lambda: model._logs(totals, seen)  # noqa: E731 (reads seen when drawn)
        for step in range(steps):
            index = order[step * batch_size:(step + 1) * batch_size]
            ws = model._workspace(index.shape[0], with_grads=True)
            be.take_rows(x_dev, index, ws.x)
            be.take_rows(y_dev, index, ws.y)
            model._train_batch(ws, totals)
            seen += ws.n
            bar.update(step + 1, read_logs)
            for cb in all_callbacks:
                cb.on_train_batch_end(step, {})
            if model.stop_training:
                break
        logs = read_logs()
        if val_dev is not None:
            logs.update(evaluate_on_device(model, *val_dev, batch_size, prefix="val_"))
        bar.update(step + 1, lambda: logs, finalize=True)
        for cb in all_callbacks:
            cb.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    for cb in all_callbacks:
        cb.on_train_end(logs)
    return history


def inference_batches(model, x_dev, batch_size, verbose, read_logs):
    """Forward x_dev batch by batch; yields ``(rows, outputs)`` for each and draws the
    progress bar with ``read_logs(samples_done)``. The batches are row slices of x_dev."""
    n = x_dev.shape[0]
    steps = -(-n // batch_size)
    bar = ProgressBar(steps, verbose)
    for step in range(steps):
        rows = slice(step * batch_size, min(n, (step + 1) * batch_size))
        ws = model._workspace(rows.stop - rows.start, with_grads=False)
        yield rows, model._forward(x_dev[rows], ws)
        bar.update(step + 1, lambda: read_logs(rows.stop))
    bar.update(steps, lambda: read_logs(n), finalize=True)


def evaluate_on_device(model, x_dev, y_dev, batch_size, prefix="", verbose=0):
    """Mean loss and metrics of device data as Keras logs (one host sync at the end)."""
    totals = model._new_totals()
    read_logs = lambda done: model._logs(totals, done, prefix)  # noqa: E731
    for rows, prediction in inference_batches(model, x_dev, batch_size, verbose, read_logs):
        model._accumulate(prediction, y_dev[rows], totals)
    return read_logs(x_dev.shape[0])
