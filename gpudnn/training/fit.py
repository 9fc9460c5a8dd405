"""``fit``'s epochs: shuffled mini-batch steps, validation, callbacks, the progress bar.

The model owns its buffers and its step (``Sequential._train_batch``); this module only walks
data through them, batch by batch, from a data adapter (``data_adapters``: arrays on the
device, memory-mapped files, generators, PyDatasets) that never says where a batch came from. The
running loss and metrics are read from the device (a host sync) only at progress updates, at
each epoch's last batch, and after every batch when a callback asks for batch logs (see
gpudnn/callbacks/callback.py). A non-finite loss is reported when read (``NonFiniteWatch``);
Ctrl-C stops after the current step (``deferred_interrupt``).
"""

import contextlib
import math
import numbers
import signal
import threading
import warnings

import numpy as np

from ..callbacks import CallbackList, TerminateOnNaN
from ..errors import InvalidInputError
from .data_adapters import adapt, is_python_source, split_arrays, warn_ran_out
from .data_adapters.arrays import BatchFeed  # noqa: F401 (gpudnn.training.fit.BatchFeed)
from .inference import evaluate_source
from .progbar import ProgressBar
from .recorded_steps import capture_enabled


def validation_source(validation_data):
    """``validation_data`` as ``(x, y, sample_weight)``: a pair or triple of arrays, or a
    generator / PyDataset (x alone, its batches carry their targets)."""
    if is_python_source(validation_data):
        return validation_data, None, None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise InvalidInputError("validation_data must be a pair (x_val, y_val), a triple "
                                "(x_val, y_val, val_sample_weight), a generator or a PyDataset")
    x, y, *w = validation_data
    return x, y, (w[0] if w else None)


def _sliceable(data, backend, what):
    """Array data in a form that slices by rows (lists become arrays; other libraries' arrays
    are read through the backend: no copy where it can be avoided)."""
    data = backend.foreign_input(data, what)
    if isinstance(data, (list, tuple)):
        try:
            data = np.asarray(data)
        except ValueError as exc:
            raise InvalidInputError(f"{what} cannot be read as an array of numbers: {exc}") \
                from None
    return data


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
        of_steps = "" if self.steps is None else f" of {self.steps}"
        warnings.warn(
            f"the training loss became {loss} in epoch {epoch + 1}: the first non-finite batch "
            f"loss is in {where}{of_steps} (fit reads the loss from the device only at "
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
        shuffle, initial_epoch=0, sample_weight=None, class_weight=None, steps_per_epoch=None,
        validation_steps=None, validation_batch_size=None, validation_freq=1):
    """``Sequential.fit`` (arguments checked there): returns the History, also kept as
    ``model.history`` (as Keras). ``validation_freq``: validate after every n-th epoch, or
    after the epochs (from 1) of a list."""
    validates = _validation_epochs(validation_freq)
    if not 0 <= validation_split < 1:
        raise InvalidInputError(f"validation_split must be in [0, 1), not {validation_split!r}")
    be = model.backend
    val_source = None
    if validation_data is not None:
        val_source = validation_source(validation_data)
    elif validation_split:
        if is_python_source(x):
            raise InvalidInputError(
                "validation_split needs arrays it can split; with a generator or a PyDataset "
                "pass validation_data instead")
        x, y = _sliceable(x, be, "x"), _sliceable(y, be, "y")
        if y is None:
            raise InvalidInputError("fit() needs targets y")
        (x, y, sample_weight), val_source = split_arrays(x, y, sample_weight, validation_split)
    train = adapt(model, "fit", x, y, sample_weight, class_weight, batch_size, steps_per_epoch)
    val = None
    try:
        if val_source is not None:
            val = adapt(model, "evaluate", *val_source, batch_size=validation_batch_size or
                        batch_size, steps=validation_steps, what="_val")
        cbs = CallbackList(callbacks, model, {"epochs": epochs, "steps": train.steps,
                                              "verbose": verbose})
        model.history = cbs.history
        model._sample_weighted = train.weighted
        with be.training_stream():  # the device's step stream (CUDA graphs), else nothing
            _fit_epochs(model, train, epochs, verbose, cbs, shuffle, initial_epoch, val,
                        record=capture_enabled(), validates=validates)
    finally:
        model._sample_weighted = False
        # the recordings (CUDA graphs) bound to this fit's data go with it: nothing holds
        # the training set on the device after fit (the next fit records again)
        model._steps.forget(train.bound_arrays())
        train.close()
        if val is not None:
            val.close()
    return cbs.history


def _validation_epochs(validation_freq):
    """Keras 3's ``validation_freq`` as a test of the epoch (from 0): an int n validates after
    every n-th epoch, a list or tuple after the epochs it lists (counted from 1)."""
    def positive(n):
        return isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1

    if positive(validation_freq):
        return lambda epoch: (epoch + 1) % validation_freq == 0
    if isinstance(validation_freq, (list, tuple)) and all(map(positive, validation_freq)):
        listed = set(validation_freq)
        return lambda epoch: epoch + 1 in listed
    raise InvalidInputError(f"validation_freq must be a positive integer or a list of epochs "
                            f"(from 1), not {validation_freq!r}")


def _fit_epochs(model, data, epochs, verbose, cbs, shuffle, initial_epoch, val, record,
                validates=lambda epoch: True):
    """fit's epochs, their callbacks and the Ctrl-C handling over a data adapter; ``record``:
    the steps are recorded and replayed (``GPUDNN_RECORD_STEPS``, read once); ``validates(epoch)``:
    whether the epoch ends with the validation pass."""
    be = model.backend
    model.stop_training = False
    model._initial_epoch = None   # BackupAndRestore sets it in on_train_begin, as in Keras
    watch = NonFiniteWatch(data.steps, warn=not cbs.any(TerminateOnNaN))
    with deferred_interrupt() as interrupted:
        cbs.on_train_begin({})
        if model._initial_epoch is not None:
            initial_epoch = model._initial_epoch
        first_epoch = initial_epoch
        logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch, {})
            if verbose and epochs > 1:  # Keras prints no "Epoch 1/1"
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            logs = train_epoch(model, data, epoch, verbose, shuffle, cbs, watch, interrupted,
                               val if validates(epoch) else None, record)
            if verbose and be.is_gpu and epoch == first_epoch:  # which path the GPU ran
                print(f"gpudnn: the {be.name} training step was {model._steps.path()}",
                      flush=True)
            if interrupted:
                raise KeyboardInterrupt(f"fit interrupted at the end of epoch {epoch + 1}")
            if model.stop_training:
                break
        if epochs > 0:  # as Keras: with use_ema the weights take their moving average
            model.optimizer.finalize_variable_values(model.trainable_weights)
        cbs.on_train_end(logs)


def train_epoch(model, data, epoch, verbose, shuffle, cbs, watch, interrupted, val, record):
    """One epoch of mini-batch steps over the adapter ``data`` (shuffled with ``model.rng``),
    then the validation pass and the epoch's callbacks; returns the epoch's logs. A source that
    runs out of data before its steps ends the epoch with Keras's warning; a generator, which
    cannot start over, also ends the training."""
    data.begin_epoch(model, epoch, shuffle)
    running = RunningLogs(model)
    bar = ProgressBar(data.steps, verbose)
    step = -1
    try:
        while (batch := data.next_training_batch(model)) is not None:
            step += 1
            ws, feed = batch
            cbs.on_train_batch_begin(step, {})
            model._train_batch(ws, running.totals, record=record, feed=feed)
            running.step_done(ws.n)
            if cbs.wants_batch_logs or step == (data.steps or 0) - 1:
                running.read()
            bar.update(step + 1, running.read)
            batch_logs = running.read_this_step()
            watch.check(batch_logs, epoch, step)
            cbs.on_train_batch_end(step, dict(batch_logs) if batch_logs else {})
            if interrupted:
                raise KeyboardInterrupt(
                    f"fit interrupted after batch {step + 1} of epoch {epoch + 1}")
            if model.stop_training:
                break
    finally:
        data.end_epoch()
    if data.ran_out:  # Keras: a warning, the epoch ends; a generator cannot start over
        warn_ran_out(data.steps, ends=data.ends_training)
        if data.ends_training:
            model.stop_training = True
    if step < 0:  # no batch at all: nothing to report for this epoch
        return {}
    logs = dict(running.read())
    watch.check(logs, epoch, step)
    if val is not None:  # the callbacks' test hooks around it, as Keras's
        val_logs = evaluate_source(model, val, cbs=cbs)
        if val_logs is None:  # an exhausted validation generator: no validation this epoch
            warnings.warn(f"gpudnn: the validation data yielded no batch in epoch {epoch + 1}; "
                          f"a generator is used up after one pass: pass validation_steps, a "
                          f"re-iterable or a PyDataset", UserWarning, stacklevel=5)
            val_logs = {}
        logs.update({"val_" + key: value for key, value in val_logs.items()})
    bar.update(step + 1, lambda: logs, finalize=True)
    cbs.on_epoch_end(epoch, logs)
    return logs
