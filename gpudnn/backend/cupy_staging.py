"""The GPU's stager of streamed batches (see staging.py): pinned host buffers and device
staging buffers in a ring of slots; a batch is copied into a slot's pinned memory and sent to
the slot's device buffers on a copy stream of its own in the reading thread, overlapping the
step that runs meanwhile; ``load`` makes the step's stream wait for that transfer (an event, no
host sync) and copies device to device into the workspace's fixed buffers, so a step captured
as a CUDA graph reads its batch where it always does."""

import threading

import cupy
import cupyx
import numpy as np

from .staging import Staged

#: Slots beyond the batches read ahead: the one being loaded and the one being staged, and one
#: spare, so a slot is never refilled before its previous batch was loaded (checked anyway).
EXTRA_SLOTS = 3
_POLL_SECONDS = 0.05


class _Slot:
    def __init__(self):
        self.host = []      # pinned buffers, one per array, grown as needed (bytes)
        self.device = []    # device staging buffers, likewise
        self.copied = cupy.cuda.Event(block=False, disable_timing=True)
        self.consumed = None  # recorded by load on the step's stream
        self.loaded = threading.Event()
        self.loaded.set()


def _view(buffers, index, array, make):
    """A C-contiguous view of the shape and dtype of ``array`` on buffer ``index`` (grown)."""
    nbytes = array.nbytes
    while len(buffers) <= index:
        buffers.append(None)
    if buffers[index] is None or buffers[index].nbytes < nbytes:
        buffers[index] = make(max(nbytes, 1))
    return buffers[index][:nbytes].view(array.dtype).reshape(array.shape)


class PinnedStager:
    """Pinned and device staging slots of one backend, used in turn."""

    def __init__(self, backend, depth):
        self.backend = backend
        self._next = 0
        self._closed = threading.Event()
        with backend._device:  # the events and the stream belong to the model's device
            self._slots = [_Slot() for _ in range(depth + EXTRA_SLOTS)]
            self._stream = cupy.cuda.Stream(non_blocking=True)

    def stage(self, arrays):
        """In the reading thread: the batch into the next slot's pinned memory, then its
        transfer to the slot's device buffers on the copy stream (asynchronous)."""
        slot = self._slots[self._next]
        self._next = (self._next + 1) % len(self._slots)
        while not slot.loaded.wait(_POLL_SECONDS):  # its previous batch not loaded yet
            if self._closed.is_set():
                break
        if self._closed.is_set():  # stopping: start no transfer into buffers being released
            raise RuntimeError("the batch stager was stopped")
        slot.loaded.clear()
        with self.backend._device:
            if slot.consumed is not None:
                slot.consumed.synchronize()  # the step's copy out of this slot is done
            views = []
            for i, array in enumerate(arrays):
                if array is None:
                    views.append(None)
                    continue
                host = _view(slot.host, i, array, lambda b: cupyx.empty_pinned((b,), np.uint8))
                np.copyto(host, array)
                device = _view(slot.device, i, array, lambda b: cupy.empty((b,), np.uint8))
                device.set(host, stream=self._stream)
                views.append(device)
            slot.copied.record(self._stream)
        return Staged(arrays[0].shape[0], views, slot)

    def load(self, staged, buffers):
        """In the loop's thread, before the step: the step's stream waits for the transfer and
        copies the batch into ``buffers`` (device to device)."""
        slot = staged.slot
        with self.backend._device:
            stream = cupy.cuda.get_current_stream()
            stream.wait_event(slot.copied)
            for dst, src in zip(buffers, staged.arrays):
                if src is not None:
                    cupy.copyto(dst, src)
            if slot.consumed is None:
                slot.consumed = cupy.cuda.Event(block=False, disable_timing=True)
            slot.consumed.record(stream)
        slot.loaded.set()

    def stop(self):
        """Start no more transfers; a reading thread waiting for a slot gives up."""
        self._closed.set()
        for slot in self._slots:
            slot.loaded.set()

    def close(self):
        """After the reading thread has ended: wait for the transfers in flight (a batch staged
        but never loaded may still be copying), so the buffers may return to the pools."""
        self.stop()
        with self.backend._device:
            self._stream.synchronize()


class CupyBatchStaging:
    """Mixin of CupyBackend (before BatchStaging in its bases)."""

    def batch_stager(self, depth):
        return PinnedStager(self, depth)
