"""Where streamed batches come from: rows of a memory-mapped array, a Python iterator, a
PyDataset (read by threads or processes). Each source is a generator of raw host batches
``(x, y, sample_weight)`` for one epoch; checking and conversion happen after it, in the same
background thread (see streams.py).
"""

import concurrent.futures
import mmap
import multiprocessing

import numpy as np

from ...errors import InvalidInputError

#: Bytes of a memory-mapped file read between two releases of its pages from this process
#: (they stay in the page cache; the process's resident memory stays small).
RELEASE_EVERY_BYTES = 64 << 20

#: Files up to this size stay mapped: releasing their pages would only make every later read
#: fault them back in (about 5 us a row), and the process holds at most this much of them.
RELEASE_ABOVE_BYTES = 256 << 20

#: Bytes a page fault on a file mapping can make resident around the faulting page (Linux's
#: "fault-around", 64 KiB by default): a row read at random costs up to this much resident
#: memory beyond its own bytes until the pages are released.
FAULT_AROUND_BYTES = 64 << 10


def unpack(batch, where):
    """``(x, y, sample_weight)`` from a batch given as ``(x, y)``, ``(x, y, w)`` or ``x``."""
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return tuple(batch)
        if len(batch) == 1:
            return batch[0], None, None
        raise InvalidInputError(
            f"{where} is a sequence of {len(batch)} items; a batch is (x, y) or "
            f"(x, y, sample_weight)")
    if isinstance(batch, dict):
        raise InvalidInputError(f"{where} is a dict; a batch is (x, y) or (x, y, sample_weight)")
    return batch, None, None


def mapped_file(array):
    """The ``mmap.mmap`` behind a NumPy memory-mapped array (or a view of one), else None."""
    return _mapping(array)[0]


def _mapping(array):
    """``(mmap, mode)``: the mapping behind ``array`` (a view of one included) and the mode of
    the ``np.memmap`` that owns it ('r', 'r+', 'w+', 'c'), or None where it is not known."""
    while array is not None:
        mm = getattr(array, "_mmap", None)
        if isinstance(mm, mmap.mmap):
            return mm, getattr(array, "mode", None)
        if isinstance(array, mmap.mmap):
            return array, None
        array = getattr(array, "base", None)
    return None, None


def _releasable(array):
    """The mapping whose pages may be dropped from the process as they are read: a file larger
    than RELEASE_ABOVE_BYTES mapped shared ('r', 'r+', 'w+'); never a copy-on-write one ('c',
    whose pages may hold the user's changes) or one whose mode is unknown."""
    mm, mode = _mapping(array)
    if mm is None or mode not in ("r", "r+", "w+") or len(mm) <= RELEASE_ABOVE_BYTES:
        return None
    return mm


def array_rows(x, y, w, batches):
    """The batches of host arrays whose rows ``batches`` lists (index arrays), x memory-mapped
    and read row by row; a file larger than RELEASE_ABOVE_BYTES has its pages released from the
    process every RELEASE_EVERY_BYTES that the rows read may have made resident (each row's
    bytes plus FAULT_AROUND_BYTES). A copy-on-write mapping (``mmap_mode="c"``) is never
    released: its pages may hold the user's own changes, which releasing would discard."""
    mm = _releasable(x)
    row_cost = x.itemsize * int(np.prod(x.shape[1:], dtype=np.int64)) + FAULT_AROUND_BYTES
    read = 0
    for rows in batches:
        yield (np.take(x, rows, axis=0), None if y is None else np.take(y, rows, axis=0),
               None if w is None else np.take(w, rows, axis=0))
        read += len(rows) * row_cost
        if mm is not None and read >= RELEASE_EVERY_BYTES:
            mm.madvise(mmap.MADV_DONTNEED)
            read = 0
    if mm is not None:
        mm.madvise(mmap.MADV_DONTNEED)


class Exhaustion:
    """Set by a source whose data ran out before the steps it was asked for."""

    def __init__(self):
        self.ran_out = False


def iterator_batches(iterator, steps, exhaustion, first=None):
    """At most ``steps`` (None: all) batches of ``iterator``, ``first`` (a peeked batch) before
    them; sets ``exhaustion.ran_out`` when the iterator ends before ``steps``."""
    step = 0
    if first is not None:
        yield first
        step = 1
    while steps is None or step < steps:
        try:
            batch = next(iterator)
        except StopIteration:
            if steps is not None or step == 0:
                exhaustion.ran_out = True
            return
        yield batch
        step += 1


def dataset_batches(dataset, indices, pool, depth):
    """``dataset[i]`` for i in ``indices`` in that order: read in this thread (``pool`` None)
    or by the workers of ``pool`` (``(executor, reader)`` from :func:`dataset_pool`) with at
    most ``depth`` reads in flight."""
    if pool is None:
        for i in indices:
            yield dataset[i]
        return
    executor, reader = pool
    pending = []
    try:
        for i in indices:
            pending.append(executor.submit(reader, i))
            if len(pending) >= depth:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
    finally:
        for future in pending:
            future.cancel()


# the data set a worker process reads: inherited from the parent at the fork (never pickled)
_FORKED_DATASET = [None]


def _forked_item(index):
    return _FORKED_DATASET[0][index]


def dataset_pool(dataset):
    """``(executor, reader)`` for ``dataset.workers`` readers, or None for one reader (the
    prefetch thread itself). Made once per epoch, in the thread that runs the loop."""
    workers = dataset.workers
    if dataset.use_multiprocessing:
        # forked workers inherit the data set as it is now (after on_epoch_begin); a pool per
        # epoch, as Keras's enqueuer, so on_epoch_end's changes reach the next epoch's workers
        _FORKED_DATASET[0] = dataset
        executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        return executor, _forked_item
    if workers <= 1:
        return None
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers,
                                                     thread_name_prefix="gpudnn-pydataset")
    return executor, dataset.__getitem__
