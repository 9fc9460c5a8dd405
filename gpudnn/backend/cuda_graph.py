"""The GPU form of a recorded step: one CUDA graph per batch size, replayed with one launch.

A step that records cleanly (see :mod:`gpudnn.backend.capture`) runs once more for real with
the graphs' memory pool (``warm``), and is then captured on the backend's training stream: every kernel of the forward pass, the loss and metric accumulation, the
backward pass and the optimizer update, with the GEMMs on gpudnn's own cuBLAS handle
(:mod:`gpudnn.backend.cublas_ctypes`). Values that change between steps are read from device
memory when the graph runs (the optimizer's per-step array, the dropout step counter), written
on the same stream before each launch.

Temporaries that CuPy allocates inside the captured ops (reduction outputs, comparisons) come
from a memory pool private to the graphs, held for the life of the backend, and the backend's
cached work arrays that the captured ops use are kept by the graph, so no address baked into a
graph is ever handed to another array. TF32 follows ``enable_tf32`` at each capture; the cuBLAS
handle is warmed up before the first one. The whole ``fit`` runs on the
training stream (a non-blocking stream), so the gathers, the per-step writes and the graphs
are ordered on it; ``fit`` synchronizes it before returning.

On by default on CUDA; ``GPUDNN_CUDA_GRAPHS=0`` turns it off (every step then replays the
recorded calls, or runs eagerly with ``GPUDNN_RECORD_STEPS=0``). ``bench/gpu_check.sh``
compares the graph with the eager step on a GPU.
"""

import contextlib
import os
import traceback

import cupy

from ..config import env_flag
from .cublas_ctypes import CublasHandle
from .capture import RecordedStep
from .tf32 import tf32_enabled


def graphs_requested():
    """False when ``GPUDNN_CUDA_GRAPHS`` is ``0``/``false``/``no``/``off``; on by default."""
    return env_flag("GPUDNN_CUDA_GRAPHS", True)


class CaptureFailed(RuntimeError):
    """The step could not be captured; the message says why."""


def _where(error):
    """Where ``error`` was raised: " at FILE:LINE (FUNCTION)" of the innermost gpudnn frame that raised ``error``."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if f"{os.sep}gpudnn{os.sep}" in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    name = frame.filename.split(f"{os.sep}gpudnn{os.sep}", 1)[-1]
    return f" at gpudnn/{name}:{frame.lineno} ({frame.name})"


class GraphStep(RecordedStep):
    """A captured CUDA graph, launched on the training stream by :meth:`replay`."""

    def __init__(self, graph, stream, calls, buffers):
        super().__init__(calls)
        self.graph, self.stream = graph, stream
        self.buffers = buffers  # the backend's work arrays the graph writes: kept alive

    def replay(self):
        self.graph.launch(self.stream)


class CudaGraphs:
    """The training stream, the private memory pool and the cuBLAS handle of one device."""

    def __init__(self, device):
        self._device = device
        with device:
            self.stream = cupy.cuda.Stream(non_blocking=True)
            self.pool = cupy.cuda.MemoryPool()
        self._blas = None

    def blas(self, tf32, halves=()):
        """The cuBLAS handle on the training stream, warmed up, with TF32 as ``tf32`` says;
        ``halves``: the 16-bit dtypes its GemmEx must also be warmed up for."""
        with self._device, self.stream:
            if self._blas is None:
                self._blas = CublasHandle(self.stream, tf32)
                self._blas.warm_up()
            if set(halves) - set(self._blas.half_dtypes):
                self._blas.half_dtypes = tuple(set(self._blas.half_dtypes) | set(halves))
                self._blas.warm_up()
            self._blas.set_tf32(tf32)
        return self._blas

    @contextlib.contextmanager
    def training(self):
        """Run the block on the training stream, after the work queued before it on the current
        stream (the data copies); wait for it at the end."""
        with self._device:
            self.stream.wait_event(cupy.cuda.get_current_stream().record())
        with self._device, self.stream:
            try:
                yield
            finally:
                self.stream.synchronize()

    def warm(self, run_step):
        """Run ``run_step()`` for real on the training stream with the graphs' private memory
        pool, so that it holds every block the step allocates: a capture right after finds them
        there and allocates nothing (no cudaMalloc while capturing)."""
        with self._device, self.stream, cupy.cuda.using_allocator(self.pool.malloc):
            run_step()

    def capture(self, backend, run_step, calls):
        """Capture ``run_step()`` (which must make only stream-ordered, allocation-stable
        device calls) into a :class:`GraphStep`; raises CaptureFailed naming the cause. The
        captured work is not executed: launch the result to run it."""
        try:
            blas = self.blas(tf32_enabled(), tuple(getattr(backend, "_halves_seen", ())))
        except Exception as exc:  # no libcublas, a failing cuBLAS call
            raise CaptureFailed(f"no cuBLAS handle for the capture ({exc})") from None
        backend._capture_blas = blas
        backend._capture_keep = buffers = []  # every work array the captured ops use
        graph, error = None, None
        with self._device, self.stream, cupy.cuda.using_allocator(self.pool.malloc):
            self.stream.begin_capture()
            try:
                run_step()
            except Exception as exc:  # an op that cannot be captured
                error = exc
            finally:
                backend._capture_blas = backend._capture_keep = None
                try:
                    graph = self.stream.end_capture()  # always: else the stream stays capturing
                except Exception as exc:
                    error = error or exc
        if error is not None:
            raise CaptureFailed(f"{type(error).__name__}: {error}{_where(error)}") from None
        return GraphStep(graph, self.stream, calls, buffers)
