"""The one interface between the loops and a source of batches.

The loops never ask where a batch came from: ``fit`` calls ``begin_epoch``, then
``next_training_batch`` until it returns None, then ``end_epoch``; ``evaluate`` and ``predict``
walk ``inference_batches``. Every adapter fills the same fixed workspace buffers the step reads
(``ws.x``, ``ws.y``, ``ws.w``), so a recorded or captured step stays captured whatever the
source.
"""


class DataAdapter:
    """Batches of one source for one call of ``fit``, ``evaluate`` or ``predict``.

    Attributes: ``steps`` (steps per epoch; None while a source of unknown length has not
    ended), ``num_samples`` (None when unknown), ``weighted`` (its batches carry sample weights,
    which the step then reads from ``ws.w``), ``ran_out`` (the source ended before the steps it
    was asked for: fit warns and stops, as Keras does).
    """

    steps = None
    num_samples = None
    weighted = False
    ran_out = False

    def begin_epoch(self, model, epoch, shuffle):
        """Start an epoch (the batch order is drawn from ``model.rng`` when ``shuffle``)."""

    def next_training_batch(self, model):
        """``(ws, feed)`` for the next step, or None at the epoch's end: ``ws`` the workspace of
        the batch's size; ``feed`` a ``BatchFeed`` the step gathers from, or None when the batch
        is already in ``ws``."""
        raise NotImplementedError

    def end_epoch(self):
        """The epoch is over (or stopped early): stop reading ahead."""

    def inference_batches(self, model):
        """``(x, y, w)`` device batches in order (y, w None when absent), for evaluate and
        predict."""
        raise NotImplementedError

    def bound_arrays(self):
        """Device arrays that recorded steps gathering from this source hold (fit forgets those
        recordings when it returns)."""
        return ()

    def close(self):
        """Release threads and workers (always called when the loop ends)."""
