"""Arrays that fit: copied to the model's device once (or used in place when they already are
there), batches gathered on the device by the step itself."""

import numpy as np

from .base import DataAdapter, Passes


class BatchFeed:
    """fit's training data on the device and the epoch's batch order, read by the step itself.

    Each training step gathers its ``n`` rows at ``position`` of ``order`` into its workspace
    (``x`` (N, ...) -> ws.x (n, ...), ``y`` likewise, the weights ``w`` (N, 1) -> ws.w when
    there are any) and advances ``position`` by ``n``, all on the device: a recorded or
    captured step (a CUDA graph) gathers the next batch at every replay, with no host work per
    batch. ``start_epoch`` writes the epoch's order (N,) and resets ``position`` to 0.
    """

    def __init__(self, backend, x_dev, y_dev, w_dev=None):
        self.x, self.y, self.w = x_dev, y_dev, w_dev
        self.order = backend.empty((x_dev.shape[0],), np.int64)
        self.position = backend.zeros((1,), np.int64)

    def start_epoch(self, backend, order):
        backend.copy_into(self.order, order)
        backend.fill(self.position, 0)

    def gather(self, backend, ws):
        backend.take_rows_at(self.x, self.order, self.position, ws.x)
        backend.take_rows_at(self.y, self.order, self.position, ws.y)
        if self.w is not None:
            backend.take_rows_at(self.w, self.order, self.position, ws.w)
        backend.increment(self.position, ws.n)

    def arrays(self):
        """The device arrays a recorded step that gathers from this feed is bound to."""
        return tuple(a for a in (self.x, self.y, self.w, self.order, self.position)
                     if a is not None)


class ArrayAdapter(DataAdapter):
    """Device arrays x (N, features), y (N, outputs) or None, w (N, 1) or None. ``steps``:
    batches per epoch (None: one pass), continuing across epochs as Keras does (see Passes)."""

    def __init__(self, backend, x_dev, y_dev, w_dev, batch_size, steps=None):
        self.backend = backend
        self.x, self.y, self.w = x_dev, y_dev, w_dev
        self.batch_size = batch_size
        self.num_samples = x_dev.shape[0]
        self._passes = Passes(-(-self.num_samples // batch_size), steps)
        self._inference = Passes(-(-self.num_samples // batch_size), steps)  # its own position
        self.steps = self._passes.per_epoch
        self.weighted = w_dev is not None
        self._feed = None
        self._plan, self._loaded = iter(()), None

    def begin_epoch(self, model, epoch, shuffle):
        n = self.num_samples
        if self._feed is None:
            self._feed = BatchFeed(self.backend, self.x, self.y, self.w)
        self._plan = iter(self._passes.epoch(
            lambda: model.rng.permutation(n) if shuffle else np.arange(n)))

    def next_training_batch(self, model):
        order, b = next(self._plan, (None, None))
        if order is None:
            return None
        if order is not self._loaded:  # a new pass: its order, the feed's position at 0
            self._feed.start_epoch(self.backend, order)
            self._loaded = order
        n = min(self.batch_size, self.num_samples - b * self.batch_size)
        return model._workspace(n, with_grads=True), self._feed

    @property
    def ran_out(self):
        return self._passes.ran_out

    def inference_batches(self, model):
        """In order; with ``steps``, each call continues where the last stopped (validation
        with ``validation_steps`` walks the whole set over the epochs, as Keras's)."""
        for _, b in self._inference.epoch(lambda: None):
            start = b * self.batch_size
            rows = slice(start, min(self.num_samples, start + self.batch_size))
            yield (self.x[rows], None if self.y is None else self.y[rows],
                   None if self.w is None else self.w[rows])

    def bound_arrays(self):
        return self._feed.arrays() if self._feed is not None else (self.x, self.y)
