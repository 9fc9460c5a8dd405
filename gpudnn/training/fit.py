"""``fit``'s epochs: shuffled mini-batch steps, validation, callbacks, the progress bar.

The model owns its buffers and its step (``Sequential._train_batch``); this module only walks
data through them. Data reaches the device once per call; batches are gathered there. The
running loss and metrics are read from the device (a host sync) only at progress updates, at
each epoch's last batch, and after every batch when a callback asks for batch logs (see
gpudnn/callbacks/callback.py). A non-finite loss is reported when read (``NonFiniteWatch``);
Ctrl-C stops after the current step (``deferred_interrupt``).
"""

import contextlib
import math
import signal
import threading
import warnings

import numpy as np

from ..callbacks import CallbackList, TerminateOnNaN
from ..errors import InvalidInputError
from .progbar import ProgressBar
from .inference import evaluate_on_device
from .recorded_steps import capture_enabled


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


class RunningLogs:
    """The epoch's running mean loss and metrics, read from the device at most once per step
    (each read is a host sync) and only when asked."""

    def __init__(self, model):
        self.model = model
        self.totals = model._epoch_totals()
        self.seen = 0
        self._logs = None

    def step_done(self, n):
        self.seen += n
        self._logs = None

    def read(self):
        if self._logs is None:
            self._logs = self.model._logs(self.totals, self.seen)
        return self._logs

    def read_this_step(self):
        """The logs if something read them since the last step, else None."""
        return self._logs


class NonFiniteWatch:
    """Reports the first non-finite training loss among the losses ``fit`` reads anyway.

    The running mean stays non-finite once one batch's loss is, so the first non-finite batch
    lies after the last batch seen finite in that epoch and at or before the batch that showed
    it. Without a TerminateOnNaN callback, one RuntimeWarning says so.
    """

    def __init__(self, steps, warn):
        self.steps = steps
        self.warn = warn
        self.reported = False
        self.last_finite = None  # (epoch, batch) of the last read finite loss

    def check(self, logs, epoch, batch):
        if self.reported or not logs or "loss" not in logs:
            return
        loss = logs["loss"]
        if math.isfinite(loss):
            self.last_finite = (epoch, batch)
            return
        self.reported = True
        if not self.warn:
            return
        first = self.last_finite[1] + 2 if self.last_finite and self.last_finite[0] == epoch else 1
        where = (f"batch {batch + 1}" if first == batch + 1
                 else f"one of batches {first}..{batch + 1}")
        warnings.warn(
            f"the training loss became {loss} in epoch {epoch + 1}: the first non-finite batch "
            f"loss is in {where} of {self.steps} (fit reads the loss from the device only at "
            f"progress updates and epoch ends, so it cannot be more precise without a sync per "
            f"batch). Training goes on; pass callbacks=[gpudnn.callbacks.TerminateOnNaN()] to "
            f"stop, or lower the learning rate.", RuntimeWarning, stacklevel=5)


@contextlib.contextmanager
def deferred_interrupt():
    """Within ``fit``, Ctrl-C (SIGINT) only sets a flag: the loop stops after the current step
    (weights and optimizer state consistent) and raises KeyboardInterrupt there, as Keras
    re-raises it. A second Ctrl-C interrupts at once. Only in the main thread, and only when
    SIGINT has Python's default handler (a handler of yours is left alone)."""
    hit = []
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield hit
        return

    def handler(signum, frame):
        if hit:
            raise KeyboardInterrupt
        hit.append(True)

    signal.signal(signal.SIGINT, handler)
    try:
        yield hit
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def fit(model, x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data,
        shuffle, initial_epoch=0):
    """``Sequential.fit`` (arguments checked there): returns the History."""
    if not 0 <= validation_split < 1:
        raise InvalidInputError(f"validation_split must be in [0, 1), not {validation_split!r}")
    x_host, y_host = model._prepare("fit", x, y)
    x_host, y_host, val = split_validation(model, x_host, y_host, validation_split,
                                           validation_data)
    steps = -(-len(x_host) // batch_size)
    cbs = CallbackList(callbacks, model, {"epochs": epochs, "steps": steps, "verbose": verbose})

    be = model.backend
    with be.training_stream():  # the device's step stream (CUDA graphs), else nothing
        data = BatchFeed(be, be.from_host(x_host), be.from_host(y_host))
        val_dev = (be.from_host(val[0]), be.from_host(val[1])) if val is not None else None
        try:
            _fit_epochs(model, data, batch_size, epochs, verbose, cbs, steps, shuffle,
                        initial_epoch, val_dev, record=capture_enabled())
        finally:
            # the recordings (CUDA graphs) bound to this fit's data go with it: nothing holds
            # the training set on the device after fit (the next fit records again)
            model._steps.forget(data.arrays())
    return cbs.history


def _fit_epochs(model, data, batch_size, epochs, verbose, cbs, steps, shuffle, initial_epoch,
                val_dev, record):
    """fit's epochs, their callbacks and the Ctrl-C handling, on data already on the device;
    ``record``: the steps are recorded and replayed (``GPUDNN_RECORD_STEPS``, read once)."""
    be = model.backend
    model.stop_training = False
    model._initial_epoch = None   # BackupAndRestore sets it in on_train_begin, as in Keras
    watch = NonFiniteWatch(steps, warn=not cbs.any(TerminateOnNaN))
    with deferred_interrupt() as interrupted:
        cbs.on_train_begin({})
        if model._initial_epoch is not None:
            initial_epoch = model._initial_epoch
        first_epoch = initial_epoch
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            logs = train_epoch(model, data, batch_size, epoch, verbose, shuffle, cbs, watch,
                               interrupted, val_dev, record)
            if verbose and be.is_gpu and epoch == first_epoch:  # which path the GPU ran
                print(f"gpudnn: the {be.name} training step was {model._steps.path()}",
                      flush=True)
            if interrupted:
                raise KeyboardInterrupt(f"fit interrupted at the end of epoch {epoch + 1}")
            if model.stop_training:
                break
        cbs.on_train_end(logs)


class BatchFeed:
    """fit's training data on the device and the epoch's batch order, read by the step itself.

    Each training step gathers its ``n`` rows at ``position`` of ``order`` into its workspace
    (``x`` (N, ...) -> ws.x (n, ...), ``y`` likewise) and advances ``position`` by ``n``, all on
    the device: a recorded or captured step (a CUDA graph) gathers the next batch at every
    replay, with no host work per batch. ``start_epoch`` writes the epoch's order (N,) and
    resets ``position`` to 0.
    """

    def __init__(self, backend, x_dev, y_dev):
        self.x, self.y = x_dev, y_dev
        self.order = backend.empty((x_dev.shape[0],), np.int64)
        self.position = backend.zeros((1,), np.int64)

    def start_epoch(self, backend, order):
        backend.copy_into(self.order, order)
        backend.fill(self.position, 0)

    def gather(self, backend, ws):
        backend.take_rows_at(self.x, self.order, self.position, ws.x)
        backend.take_rows_at(self.y, self.order, self.position, ws.y)
        backend.increment(self.position, ws.n)

    def arrays(self):
        """The device arrays a recorded step that gathers from this feed is bound to."""
        return self.x, self.y, self.order, self.position


def train_epoch(model, data, batch_size, epoch, verbose, shuffle, cbs, watch, interrupted,
                val_dev, record):
    """One pass of shuffled mini-batch steps (``model.rng`` orders them), then the validation
    pass and the epoch's callbacks; returns the epoch's logs."""
    be = model.backend
    n = data.x.shape[0]
    steps = -(-n // batch_size)
    data.start_epoch(be, model.rng.permutation(n) if shuffle else np.arange(n))
    running = RunningLogs(model)
    bar = ProgressBar(steps, verbose)
    for step in range(steps):
        cbs.on_train_batch_begin(step, {})
        ws = model._workspace(min(batch_size, n - step * batch_size), with_grads=True)
        model._train_batch(ws, running.totals, record=record, feed=data)
        running.step_done(ws.n)
        if cbs.wants_batch_logs or step == steps - 1:
            running.read()
        bar.update(step + 1, running.read)
        batch_logs = running.read_this_step()
        watch.check(batch_logs, epoch, step)
        cbs.on_train_batch_end(step, dict(batch_logs) if batch_logs else {})
        if interrupted:
            raise KeyboardInterrupt(f"fit interrupted after batch {step + 1} of epoch {epoch + 1}")
        if model.stop_training:
            break
    logs = dict(running.read())
    watch.check(logs, epoch, step)
    if val_dev is not None:
        cbs.on_test_begin({})
        val_logs = evaluate_on_device(model, *val_dev, batch_size)
        cbs.on_test_end(dict(val_logs))
        logs.update({"val_" + key: value for key, value in val_logs.items()})
    bar.update(step + 1, lambda: logs, finalize=True)
    cbs.on_epoch_end(epoch, logs)
    return logs
