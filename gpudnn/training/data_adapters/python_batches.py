"""Batches that Python code makes: iterators and generators, and PyDatasets (Keras 3's
contracts), through the streamed pipeline of streams.py."""

import warnings

import numpy as np

from ...errors import InvalidInputError
from . import sources
from .base import Passes
from .streams import StreamedAdapter


def warn_ran_out(steps, ends=True, stacklevel=6):
    """Keras's warning when a source ends before the steps asked of an epoch; ``ends``: the
    training stops (a generator cannot start over), else the epoch ends early and the next
    starts a new pass. ``stacklevel`` 6 names the line that called ``fit`` (warn_ran_out <-
    train_epoch <- _fit_epochs <- fit.fit <- Sequential.fit)."""
    before = "" if steps is None else f" before {steps} steps"
    if ends:
        what = ("training stops here. Make sure your generator yields at least "
                "steps_per_epoch * epochs batches (a generator restarts only if it is a "
                "re-iterable: an object whose __iter__ starts over)")
    else:
        what = ("this epoch ends early and the next starts a new pass over the data, as in "
                "Keras. Give steps_per_epoch at most the batches in the data (or None: one "
                "pass per epoch)")
    warnings.warn(f"gpudnn: your input ran out of data{before}; {what}", UserWarning,
                  stacklevel=stacklevel)


class IteratorAdapter(StreamedAdapter):
    """An iterable or iterator of ``(x, y)`` / ``(x, y, sample_weight)`` batches (``x`` alone
    for predict). With ``steps`` each epoch takes that many batches, continuing the same
    iterator across epochs (an unbounded generator needs it); without, each epoch runs until
    the source ends, starting over when it is a re-iterable (``iter(source)`` is a new
    iterator, e.g. a DataLoader; a list is array data, as in Keras), as Keras does."""

    what = "generator batch"
    ends_training = True  # a generator that ran out cannot start over

    def __init__(self, model, caller, source, class_weight, steps):
        self.source = source
        self._iterator = iter(source)
        self._restartable = self._iterator is not source  # iter() of a re-iterable is new
        try:
            first = sources.unpack(next(self._iterator), "the first batch")
        except StopIteration:
            raise InvalidInputError(
                f"the data given to {caller}() yields no batch; a generator must yield "
                f"(x, y) or (x, y, sample_weight) tuples") from None
        self._peeked = first
        self._exhaustion = sources.Exhaustion()
        super().__init__(model, caller, class_weight, steps, first)

    def _raw_batches(self, model, shuffle):
        first, self._peeked = self._peeked, None
        if first is None and self.steps is None and self._restartable:
            self._iterator = iter(self.source)
        self._exhaustion = sources.Exhaustion()
        raw = sources.iterator_batches(self._iterator, self.steps, self._exhaustion,
                                       first=first)
        return (sources.unpack(batch, "a batch") for batch in raw)

    @property
    def ran_out(self):
        return self._exhaustion.ran_out


class DatasetAdapter(StreamedAdapter):
    """A PyDataset (``__len__``, ``__getitem__``, ``on_epoch_begin``/``on_epoch_end``,
    ``workers``, ``use_multiprocessing``, ``max_queue_size``): each epoch reads batches 0..len-1
    (in a shuffled order drawn from model.rng when ``shuffle``, as Keras), ``workers`` at a time,
    at most ``max_queue_size`` ahead. With ``steps`` an epoch takes that many batches,
    continuing from where the last one stopped and starting a new pass when the data set ends,
    as Keras's epoch iterator does (see Passes); an unbounded data set (``num_batches`` None)
    needs ``steps`` and reads indices 0, 1, 2, ... on from epoch to epoch."""

    what = "PyDataset batch"

    def __init__(self, model, caller, dataset, class_weight, steps):
        self.dataset = dataset
        self.length = _num_batches(dataset)
        if self.length is None and steps is None:
            raise InvalidInputError(
                f"{type(dataset).__name__} has no length (num_batches is None); pass "
                f"steps_per_epoch (fit) or steps (evaluate, predict)")
        if self.length == 0:
            raise InvalidInputError(f"{type(dataset).__name__} has no batches (len is 0)")
        self.depth = max(1, int(getattr(dataset, "max_queue_size", 10)))
        self._passes = Passes(self.length, steps)
        first = sources.unpack(dataset[0], "batch 0 of the PyDataset")
        super().__init__(model, caller, class_weight, self._passes.per_epoch, first)

    def _raw_batches(self, model, shuffle):
        begin = getattr(self.dataset, "on_epoch_begin", None)
        if begin is not None:
            begin()
        length = self.length
        plan = self._passes.epoch(lambda: None if length is None else (
            model.rng.permutation(length) if shuffle else np.arange(length)))
        indices = [b if order is None else int(order[b]) for order, b in plan]
        pool = sources.dataset_pool(self.dataset)
        raw = sources.dataset_batches(self.dataset, indices, pool, self.depth)
        return _closing_pool((sources.unpack(b, "a PyDataset batch") for b in raw), pool)

    @property
    def ran_out(self):
        return self._passes.ran_out

    def end_epoch(self):
        was_running = self._prefetch is not None
        super().end_epoch()
        end = getattr(self.dataset, "on_epoch_end", None)
        if was_running and end is not None:
            end()


def _closing_pool(batches, pool):
    """``batches``, then the pool's workers shut down (also when the loop stops early or a
    batch raised: pending reads are cancelled, no worker outlives the epoch)."""
    try:
        yield from batches
    finally:
        if pool is not None:
            pool[0].shutdown(wait=True, cancel_futures=True)


def _num_batches(dataset):
    length = getattr(dataset, "num_batches", None) if hasattr(type(dataset), "num_batches") \
        else len(dataset)
    if length is None:
        return None
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise InvalidInputError(f"{type(dataset).__name__}'s length must be an integer >= 0, "
                                f"not {length!r}")
    return length
