"""Sources read batch by batch, never whole: memory-mapped arrays (data larger than memory),
Python iterators and generators, PyDatasets.

One pipeline serves them all: a background thread (prefetch.py) reads the next batches from the
source, checks and converts each one there (shapes, dtype, finite values, labels, weights) and
queues it; the loop copies a ready batch into the fixed workspace buffers the step reads. A bad
batch raises a gpudnn error naming its epoch and batch before it reaches the step, so the
weights are exactly as after the previous step.
"""

import numpy as np

from ...errors import InvalidInputError
from . import sources, weights
from .base import DataAdapter, Passes
from .prefetch import Prefetch

#: Batches read ahead by the prefetch thread (two: one being copied, one being read).
READ_AHEAD = 2


class StreamedAdapter(DataAdapter):
    """The pipeline; subclasses give ``_raw_batches(model, shuffle)``, one epoch's raw
    ``(x, y, sample_weight)`` host batches."""

    what = "batch"
    depth = READ_AHEAD
    #: the source may hand out its own buffers again (a generator refilling one array): keep
    #: a copy of each batch read ahead, never a reference
    copy_batches = True

    def __init__(self, model, caller, class_weight, steps, first=None):
        """``first``: the first raw batch, read already (it builds the model and tells whether
        batches carry weights); ``caller``: "fit", "evaluate" or "predict". ``class_weight`` is
        checked here, against the built model's outputs."""
        self.model, self.caller = model, caller
        self.class_weight = None
        self.steps = steps
        self._epoch = 0
        self._prefetch = self._stager = None
        if first is not None:
            x, y, w = first
            if not model.built:
                self._check(x, None, None, 0, caller="predict")  # builds the model
            self.class_weight = weights.check_class_weight(class_weight, model.output_dim)
            self.weighted = w is not None or self.class_weight is not None
            self._check(x, y, w, 0)

    # ---------------------------------------------------------------- checks, in the thread
    def _check(self, x, y, w, step, caller=None):
        """Host (x, y, w) checked and converted for the model (as ``caller``, by default the
        adapter's); errors name the batch."""
        try:
            return self._convert(x, y, w, caller or self.caller)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"{self.what} {step + 1} of epoch {self._epoch + 1} is not usable: {exc} "
                f"(nothing was trained on it; the model is as after the previous step)") from None

    def _convert(self, x, y, w, caller):
        """One batch's (x, y, w) checked and converted on the host for the model."""
        model = self.model
        x_host, y_host = model._prepare(caller, x, None if caller == "predict" else y)
        if self.copy_batches and np.may_share_memory(x_host, x):
            x_host = x_host.copy()
        if caller == "predict":
            return x_host, None, None
        if self.copy_batches and np.may_share_memory(y_host, y):
            y_host = y_host.copy()
        if self.weighted and w is None and self.class_weight is None:
            raise InvalidInputError("it has no sample_weight, but the earlier batches had")
        if not self.weighted and w is not None:
            raise InvalidInputError("it has a sample_weight, but the earlier batches had none")
        return x_host, y_host, weights.sample_weights(w, self.class_weight, y_host, model.dtype)

    def _checked(self, raw):
        for step, (x, y, w) in enumerate(raw):
            yield self._check(x, y, w, step)

    # ---------------------------------------------------------------- the loop's side
    def begin_epoch(self, model, epoch, shuffle, staged=True):
        """Start reading the epoch's batches in the background; ``staged``: each batch is also
        staged for the device there (a GPU: pinned memory and its transfer started), for
        ``next_training_batch``."""
        self.end_epoch()
        self._epoch = epoch
        batches = self._checked(self._raw_batches(model, shuffle))
        if staged:
            self._stager = model.backend.batch_stager(self.depth)
            batches = (self._stager.stage(batch) for batch in batches)
        self._prefetch = Prefetch(batches, self.depth)

    def _next(self):
        if self._prefetch is None:
            return None
        try:
            return self._prefetch.get()
        except StopIteration:
            return None

    def next_training_batch(self, model):
        batch = self._next()
        if batch is None:
            return None
        ws = model._workspace(batch.n, with_grads=True)
        self._stager.load(batch, (ws.x, ws.y, ws.w))  # ws.w only when the batch has weights
        return ws, None

    def end_epoch(self):
        if self._prefetch is not None:
            if self._stager is not None:
                self._stager.stop()  # a reading thread waiting for a slot gives up
            self._prefetch.close()  # the reading thread has ended
            self._prefetch = None
        if self._stager is not None:
            self._stager.close()  # no transfer still in flight into its buffers
        self._stager = None

    def inference_batches(self, model):
        self.begin_epoch(model, 0, shuffle=False, staged=False)
        be = model.backend
        try:
            while (batch := self._next()) is not None:
                x, y, w = batch
                yield (be.from_host(x), None if y is None else be.from_host(y),
                       None if w is None else be.from_host(w))
        finally:
            self.end_epoch()

    def close(self):
        self.end_epoch()


class MappedArrayAdapter(StreamedAdapter):
    """A memory-mapped x (np.memmap, np.load(..., mmap_mode="r")): each epoch's batches are
    gathered row by row in the epoch's order (model.rng, as for arrays in memory, so training
    is bit-identical to the same data in memory), and the file's pages are released as they
    are read (the process stays small however large the file). The targets and weights are in
    memory: they are checked and converted once, as arrays are; only x's rows are checked per
    batch."""

    copy_batches = False  # np.take gathers into new arrays

    def __init__(self, model, caller, x, y, sample_weight, class_weight, batch_size,
                 steps=None):
        self.x, self.batch_size, self.num_samples = x, batch_size, len(x)
        self._passes = Passes(-(-self.num_samples // batch_size), steps)
        super().__init__(model, caller, None, self._passes.per_epoch, (x[:1], None, None))
        self.y = self.w = None
        if caller != "predict":
            self.y = model._prepare_targets(caller, y)
            if len(self.y) != len(x):
                raise InvalidInputError(f"x has {len(x)} samples but y has {len(self.y)}; "
                                        f"they must pair up one to one")
            self.class_weight = weights.check_class_weight(class_weight, model.output_dim)
            self.w = weights.sample_weights(sample_weight, self.class_weight, self.y,
                                            model.dtype)
            self.weighted = self.w is not None

    def _convert(self, x, y, w, caller):
        """x's rows checked; y and w are rows of the arrays checked once."""
        return self.model._prepare_features(x), y, w

    @property
    def ran_out(self):
        return self._passes.ran_out

    def _raw_batches(self, model, shuffle):
        """The epoch's batches (their rows drawn here, in the loop's thread, from model.rng)."""
        n, size = self.num_samples, self.batch_size
        plan = self._passes.epoch(lambda: model.rng.permutation(n) if shuffle else np.arange(n))
        return sources.array_rows(self.x, self.y, self.w, [order[b * size:(b + 1) * size]
                                                           for order, b in plan])
