"""``PyDataset``: a data set that hands out whole batches by index, with Keras 3's contract, so a
Keras ``PyDataset`` subclass runs on gpudnn with only its import changed.

A subclass implements ``__len__`` (batches per epoch) and ``__getitem__(index)`` returning
``(x, y)`` or ``(x, y, sample_weight)`` for batch ``index`` (0 <= index < len), and may implement
``on_epoch_begin`` / ``on_epoch_end``. ``fit`` reads the batches in a background pipeline:
``workers`` threads (or processes with ``use_multiprocessing=True``) with at most
``max_queue_size`` batches waiting, so loading overlaps training. See
``gpudnn/training/data_adapters/``.
"""

from .inputs import positive_int


class PyDataset:
    """Base class of batch-by-index data sets (Keras 3's ``keras.utils.PyDataset``).

    workers: how many threads (or processes) call ``__getitem__`` at once (1: one background
    thread). use_multiprocessing: processes instead of threads (for ``__getitem__`` code that
    holds the GIL; the data set is inherited by forked workers, never pickled to a file).
    max_queue_size: batches read ahead at most.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = positive_int(workers, "PyDataset workers")
        self._use_multiprocessing = bool(use_multiprocessing)
        self._max_queue_size = positive_int(max_queue_size, "PyDataset max_queue_size")

    # Keras reads these as properties; a subclass that skipped super().__init__() still works
    @property
    def workers(self):
        return self.__dict__.get("_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = positive_int(value, "PyDataset workers")

    @property
    def use_multiprocessing(self):
        return self.__dict__.get("_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = bool(value)

    @property
    def max_queue_size(self):
        return self.__dict__.get("_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = positive_int(value, "PyDataset max_queue_size")

    @property
    def num_batches(self):
        """Batches per epoch: ``len(self)``, or None for an unbounded data set (then ``fit``
        needs ``steps_per_epoch``)."""
        if type(self).__len__ is PyDataset.__len__:
            return None
        return len(self)

    def __getitem__(self, index):
        raise NotImplementedError(
            f"{type(self).__name__} must implement __getitem__(index) returning the batch "
            f"(x, y) or (x, y, sample_weight) at that index")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__ (batches per epoch)")

    def on_epoch_begin(self):
        """Called before each epoch's first batch is read."""

    def on_epoch_end(self):
        """Called after each epoch's last batch was read (e.g. to reshuffle the samples)."""
