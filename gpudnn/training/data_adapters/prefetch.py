"""A background thread that reads batches ahead of the step.

``Prefetch(batches, depth)`` runs the iterator ``batches`` (gathering rows of a memory-mapped
file, calling a generator or a PyDataset, checking and converting each batch) in a thread of
its own and hands its items over through a queue of at most ``depth`` items, so that reading
batch i + 1 overlaps the step on batch i. An exception in the thread is re-raised by the
consumer's ``get`` (the thread stops); ``close`` stops the thread and waits for it, so no
thread outlives the loop that started it.
"""

import queue
import threading

_END = object()
_POLL_SECONDS = 0.1


class _Raised:
    def __init__(self, exc):
        self.exc = exc


class Prefetch:
    """Items of ``batches`` read ahead in a daemon thread (``depth`` >= 1 queued at most)."""

    def __init__(self, batches, depth=2, name="gpudnn-prefetch"):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._iterator = batches
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for item in self._iterator:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(_Raised(exc))
        finally:
            close = getattr(self._iterator, "close", None)
            if close is not None:
                close()

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def get(self):
        """The next item; raises StopIteration at the end, or the thread's exception."""
        while True:
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    raise StopIteration from None
        if item is _END:
            self._stop.set()
            raise StopIteration
        if isinstance(item, _Raised):
            self._stop.set()
            raise item.exc
        return item

    def close(self):
        """Stop the thread (it finishes the batch it is reading) and wait for it."""
        self._stop.set()
        while True:  # unblock a put that is waiting for room
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join()
