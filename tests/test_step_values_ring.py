"""CupyBackend.write_step_values: per-step values reach the device by an asynchronous copy from
a ring of pinned host slots, a slot reused only once its previous copy has passed.

No GPU here: the pinned allocation, the event and the copy are replaced by host fakes that keep
CuPy's call signatures, so the ring's logic (rotation, waiting, the bytes copied) is what runs.
"""

import ctypes
import importlib.util
import warnings

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("cupy") is None,
                                reason="CuPy is not installed")


class FakeEvent:
    def __init__(self, block=False, disable_timing=False):
        self.recorded = self.waited = 0

    def record(self, stream=None):
        self.recorded += 1

    def synchronize(self):
        self.waited += 1


class FakeDeviceArray:
    """A host array with CuPy's ``.data.copy_from_host_async(ptr, nbytes, stream)``."""

    def __init__(self, n, dtype):
        self.host = np.zeros(n, dtype)
        self.dtype = self.host.dtype
        self.data = self

    def copy_from_host_async(self, ptr, nbytes, stream=None):
        assert nbytes <= self.host.nbytes
        ctypes.memmove(self.host.ctypes.data, ptr, nbytes)


@pytest.fixture
def backend(monkeypatch):
    from gpudnn.backend import cupy_backend
    from kernel_harness.backend import host_routed_backend

    monkeypatch.setattr(cupy_backend.cupyx, "empty_pinned",
                        lambda shape, dtype: np.zeros(shape, dtype))
    monkeypatch.setattr(cupy_backend.cupy.cuda, "Event", FakeEvent)
    monkeypatch.setattr(cupy_backend.cupy.cuda, "get_current_stream", lambda: "stream")
    monkeypatch.setattr(cupy_backend, "STEP_SLOTS", 4)
    return host_routed_backend()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_values_arrive_cast_to_the_arrays_dtype(backend, dtype):
    dst = FakeDeviceArray(5, dtype)
    backend.write_step_values(dst, (1e-3 * 0.7, 4e-6, 1.3, 0.06, 1.0005))
    np.testing.assert_array_equal(dst.host, np.array([1e-3 * 0.7, 4e-6, 1.3, 0.06, 1.0005], dtype))


def test_slots_rotate_and_a_reused_slot_waits_for_its_last_copy(backend):
    dst = FakeDeviceArray(2, np.float32)
    for step in range(10):
        backend.write_step_values(dst, (float(step), 0.0))
        assert dst.host[0] == step
    ring = backend._step_ring
    assert [e.recorded for e in ring._events] == [3, 3, 2, 2]
    # slot k waited before each reuse: (uses - 1) times
    assert [e.waited for e in ring._events] == [2, 2, 1, 1]


def test_too_many_values_for_a_slot_are_refused(backend):
    dst = FakeDeviceArray(64, np.float64)
    with pytest.raises(ValueError, match="do not fit"):
        backend.write_step_values(dst, tuple(range(64)))


def test_without_pinned_memory_the_values_are_copied_synchronously(backend, monkeypatch):
    from gpudnn.backend import cupy_backend

    def refuse(shape, dtype):
        raise MemoryError("locked-memory limit")

    monkeypatch.setattr(cupy_backend.cupyx, "empty_pinned", refuse)
    written = []
    monkeypatch.setattr(type(backend), "copy_into", lambda self, dst, src: written.append(src))
    dst = FakeDeviceArray(2, np.float32)
    with pytest.warns(RuntimeWarning, match="no pinned host memory"):
        backend.write_step_values(dst, (0.5, 0.25))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning, same fallback
        backend.write_step_values(dst, (0.125, 0.0))
    np.testing.assert_array_equal(written[0], np.array([0.5, 0.25], np.float32))
    np.testing.assert_array_equal(written[1], np.array([0.125, 0.0], np.float32))
