"""One core for the reading thread: while a streamed source's prefetch thread runs on the CPU,
the BLAS (OpenBLAS, MKL...) that NumPy's GEMMs use gets one thread fewer than the cores.

Measured on a 2-core machine (Fashion-MNIST, the course model, epochs 2-3 of 4 alternating
runs): a generator's epoch took 1.12x the in-memory array's with OpenBLAS on both cores, where
its reading thread and OpenBLAS's second thread fought over them, and 0.91x with OpenBLAS on
one (the array's epoch keeps both: at this size the second GEMM thread bought it ~3 %).

The limit goes through ``threadpoolctl`` (the library scikit-learn uses for the same job: it
finds the BLAS libraries loaded in the process, whatever their build) when it is installed,
and is a no-op otherwise. Nested epochs (validation data streamed inside a streamed training
epoch) share one limit: the first begin sets it, the last end restores the user's setting.
"""

import os

_state = {"depth": 0, "limiter": None}


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def begin(backend):
    """A streamed epoch starts on ``backend``: limit BLAS to the cores but one (CPU only)."""
    if backend.is_gpu:
        return False
    _state["depth"] += 1
    if _state["depth"] == 1:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            return True
        _state["limiter"] = threadpool_limits(limits=max(1, _cores() - 1), user_api="blas")
    return True


def end():
    """The matching end of a ``begin`` that returned True."""
    _state["depth"] -= 1
    if _state["depth"] == 0 and _state["limiter"] is not None:
        _state["limiter"].restore_original_limits()
        _state["limiter"] = None
