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
    was asked for: fit warns, as Keras does), ``ends_training`` (it cannot start over: a
    generator that ran out stops the training).
    """

    steps = None
    num_samples = None
    weighted = False
    ran_out = False
    ends_training = False

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


class Passes:
    """Which batches each epoch takes from a source of ``num_batches`` batches (None:
    unbounded), as Keras 3's epoch iterator does. Without ``steps`` an epoch is one pass over
    the source. With ``steps`` an epoch takes that many batches, continuing from where the
    previous epoch stopped; an epoch never runs past the end of the data: when the pass ends
    first, the epoch ends there (``ran_out``: Keras's warning) and the next epoch starts a new
    pass (a new order when shuffled).

    ``epoch(new_pass)`` gives the epoch's batch numbers as ``(order, b)`` pairs: batch ``b`` of
    the pass whose order ``new_pass()`` drew (whatever a source needs: a permutation of its
    samples, of its batch indices, or None).
    """

    def __init__(self, num_batches, steps):
        if num_batches is None and steps is None:
            raise ValueError("an unbounded source needs steps")
        self.num_batches, self.steps = num_batches, steps
        self._order, self._next = None, None
        self.ran_out = False

    @property
    def per_epoch(self):
        return self.num_batches if self.steps is None else self.steps

    def epoch(self, new_pass):
        if self._next is None:
            self._order, self._next = new_pass(), 0
        plan = []
        for _ in range(self.per_epoch):
            if self.num_batches is not None and self._next >= self.num_batches:
                break
            plan.append((self._order, self._next))
            self._next += 1
        self.ran_out = self.steps is not None and len(plan) < self.steps
        if self.num_batches is not None and self._next >= self.num_batches:
            self._next = None  # the pass is over: the next epoch starts a new one
        return plan
