"""Streamed batches on their way to the step's buffers.

A streamed source (a memory-mapped file, a generator, a PyDataset) hands over host batches
from a background thread. ``backend.batch_stager(depth)`` gives the object that moves them:
``stage(arrays)`` runs in that thread as soon as a batch is read, ``load(staged, buffers)`` in
the loop's thread right before the step that reads ``buffers`` (the workspace's fixed ``ws.x``,
``ws.y``, ``ws.w``). On the CPU staging is nothing and loading is a copy; on a GPU
(cupy_staging.py) staging copies the batch into pinned host memory and starts its transfer to
the device on a stream of its own, so the copy overlaps the step before it, and loading only
orders the step after that transfer and moves the batch device to device.
"""


class Staged:
    """A batch in transit: ``n`` rows, ``arrays`` (x, y, w; None where absent) as staged."""

    __slots__ = ("n", "arrays", "slot")

    def __init__(self, n, arrays, slot=None):
        self.n, self.arrays, self.slot = n, arrays, slot


class HostStager:
    """The CPU's: batches stay where they are until ``load`` copies them."""

    def __init__(self, backend):
        self.backend = backend

    def stage(self, arrays):
        return Staged(arrays[0].shape[0], arrays)

    def load(self, staged, buffers):
        for dst, src in zip(buffers, staged.arrays):
            if src is not None:
                self.backend.copy_into(dst, src)

    def stop(self):
        """Nothing to stop on the CPU."""

    def close(self):
        """Nothing to release on the CPU."""


class BatchStaging:
    """Mixin of Backend: the stager of streamed batches (see the module docstring)."""

    def batch_stager(self, depth):
        """A stager for at most ``depth`` batches read ahead of the step."""
        return HostStager(self)
