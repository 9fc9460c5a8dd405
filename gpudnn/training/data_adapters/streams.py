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
from .base import DataAdapter
from .prefetch import Prefetch

#: Batches read ahead by the prefetch thread (two: one being copied, one being read).
READ_AHEAD = 2


class StreamedAdapter(DataAdapter):
    """The pipeline; subclasses give ``_raw_batches(model, shuffle)``, one epoch's raw
    ``(x, y, sample_weight)`` host batches."""

    what = "batch"
    depth = READ_AHEAD

    def __init__(self, model, caller, class_weight, steps, first=None):
        """``first``: the first raw batch, read already (it builds the model and tells whether
        batches carry weights); ``caller``: "fit", "evaluate" or "predict"."""
        self.model, self.caller = model, caller
        self.class_weight = class_weight
        self.steps = steps
        self._epoch = 0
        self._prefetch = self._stager = None
        self._first = first
        if first is not None:
            x, y, w = first
            self._check(x, y, w, 0, build=True)
            self.weighted = w is not None or class_weight is not None

    # ---------------------------------------------------------------- checks, in the thread
    def _check(self, x, y, w, step, build=False):
        """Host (x, y, w) checked and converted for the model; errors name the batch."""
        model = self.model
        try:
            if build and not model.built:
                model._prepare("predict", x, None)  # builds the model from the first batch
            x_host, y_host = model._prepare(self.caller, x, None if self.caller == "predict"
                                             else y)
            if self.caller == "predict":
                return x_host, None, None
            if self.weighted and w is None and self.class_weight is None:
                raise InvalidInputError("it has no sample_weight, but the earlier batches had")
            if not self.weighted and w is not None and not build:
                raise InvalidInputError("it has a sample_weight, but the earlier batches had none")
            w_host = weights.sample_weights(w, self.class_weight, y_host, model.dtype)
            return x_host, y_host, w_host
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"{self.what} {step + 1} of epoch {self._epoch + 1} is not usable: {exc} "
                f"(nothing was trained on it; the model is as after the previous step)") from None

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
                self._stager.close()  # a reading thread waiting for a slot gives up
            self._prefetch.close()
            self._prefetch = None
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
    are read (the process stays small however large the file)."""

    def __init__(self, model, caller, x, y, sample_weight, class_weight, batch_size):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.batch_size = batch_size
        self.num_samples = len(x)
        if y is not None and len(y) != len(x):
            raise InvalidInputError(f"x has {len(x)} samples but y has {len(y)}; they must "
                                    f"pair up one to one")
        if sample_weight is not None and np.ndim(sample_weight) > 0 \
                and len(sample_weight) != len(x):
            raise InvalidInputError(f"sample_weight has {len(sample_weight)} values but x has "
                                    f"{len(x)} samples; pass one weight per sample")
        steps = -(-self.num_samples // batch_size)
        w0 = None if sample_weight is None or np.ndim(sample_weight) == 0 \
            else sample_weight[:1]
        first = (x[:1], None if y is None else y[:1], w0 if w0 is not None else sample_weight)
        super().__init__(model, caller, class_weight, steps, first)

    def _raw_batches(self, model, shuffle):
        n = self.num_samples
        order = model.rng.permutation(n) if shuffle else np.arange(n)
        w = self.sample_weight
        if w is not None and np.ndim(w) == 0:
            w = np.full(n, w)
        return sources.array_rows(self.x, self.y, w, order, self.batch_size)
