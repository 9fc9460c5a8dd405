"""Median seconds per call of an operation, measured in rounds that end with a device sync.

A round runs the operation ``k`` times back to back and then waits for the device (a no-op on the
CPU), so GPU launches queue as they do in training and the round covers their completion. ``k``
is calibrated so that a round lasts about ``round_s``; the figure is the median round / ``k``.
Ours is timed through pytest-benchmark (``benchmark.pedantic``, one round = one call of the k-call
batch, so the JSON's stats are per round and ``extra_info["k"]`` gives the calls per round); the
limit and the peers are timed the same way, right after, in the same process.
"""

import math
import statistics
import time

FULL = {"rounds": 11, "round_s": 0.02, "settle_s": 0.05}
QUICK = {"rounds": 3, "round_s": 0.002, "settle_s": 0.005}


def _noop():
    pass


class Timer:
    """Times callables with the given ``sync`` (the backend's ``synchronize``)."""

    def __init__(self, sync=None, quick=False):
        self.sync = sync or _noop
        self.rounds = (QUICK if quick else FULL)["rounds"]
        self.round_s = (QUICK if quick else FULL)["round_s"]
        self.settle_s = (QUICK if quick else FULL)["settle_s"]

    def _batch(self, fn, sync):
        """Warm ``fn`` up, calibrate k, and return (the k-call round, k)."""
        time.sleep(self.settle_s)  # let the previous library's spinning worker threads sleep
        fn()
        sync()  # first call: compiles kernels, allocates scratch buffers
        start = time.perf_counter()
        fn()
        sync()
        once = max(time.perf_counter() - start, 1e-7)
        k = max(1, min(10_000, math.ceil(self.round_s / once)))

        def run():
            for _ in range(k):
                fn()
            sync()

        return run, k

    def median(self, fn, sync=None):
        """Median seconds per call of ``fn`` (``sync`` overrides the backend's, e.g. torch's)."""
        run, k = self._batch(fn, sync or self.sync)
        run()
        times = []
        for _ in range(self.rounds):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return statistics.median(times) / k

    def bench(self, benchmark, fn):
        """Median seconds per call of ``fn``, timed by pytest-benchmark; records ``k``."""
        run, k = self._batch(fn, self.sync)
        benchmark.extra_info["k"] = k
        benchmark.pedantic(run, rounds=self.rounds, warmup_rounds=1, iterations=1)
        stats = getattr(benchmark, "stats", None)
        if stats is None or getattr(stats, "stats", None) is None:  # --benchmark-disable
            return self.median(fn)
        return stats.stats.median / k
