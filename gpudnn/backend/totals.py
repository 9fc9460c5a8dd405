"""Device accumulators beyond the loss and the correct counts: the total weight of the samples
seen (the denominator of Keras's ``weighted_metrics``). A mixin of Backend; the CuPy backend
adds a sum in one launch (cupy_losses.py)."""

import numpy as np


class DeviceTotals:
    """Mixin of Backend: ``total`` is a 0-d float64 device array, read at progress updates."""

    def accumulate_sum(self, a, total):
        """``total += sum(a)`` in place (a of any shape, summed in float64)."""
        total += np.sum(a, dtype=np.float64)

    def add_to_total(self, total, value):
        """``total += value`` in place; ``value`` a host number fixed for the life of a recorded
        step (a batch's size)."""
        total += value

    def add_into(self, dst, src):
        """``dst += src`` in place (same shapes; e.g. a partial squared norm into a total)."""
        dst += src
