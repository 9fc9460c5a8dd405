"""Record a training step's backend calls once and replay them: the CPU form of a captured step.

A step is recordable when every backend call it makes writes into buffers it was given (the
model's workspaces, parameters, gradients, optimizer slots, accumulators) and every value that
changes from one step to the next is *read from device memory* when the op runs (the
optimizer's ``hyper`` array of per-step values), never passed as a host scalar. Then the list of
calls, each bound to its arguments, replayed in order, is the step: replay k does exactly what
eager step k does, without the Python walk over layers, losses and optimizer.

:class:`RecordingBackend` stands in for the backend while one step runs eagerly: it forwards
every call and keeps it. A call that returns a value (a host read, a new array) cannot be
replayed -- its result would be the recorded one -- so the recording is marked unusable, with the
op's name as the reason, and the step keeps running eagerly.

This is the same contract a CUDA graph needs (stream capture records kernel launches with their
pointers); the GPU form is :mod:`gpudnn.backend.cuda_graph`.
"""

import functools


class RecordingBackend:
    """Forwards every attribute of ``backend``; method calls are executed and recorded."""

    def __init__(self, backend):
        self._backend = backend
        self.calls = []
        self.unusable = None  # the reason, once a call cannot be replayed

    def unrecorded(self):
        """The backend itself: for a buffer a layer allocates once and keeps (not a call of
        the step)."""
        return self._backend

    def __getattr__(self, name):
        attr = getattr(self._backend, name)
        if not callable(attr):
            return attr

        def record(*args, **kwargs):
            result = attr(*args, **kwargs)
            if result is not None and self.unusable is None:
                self.unusable = f"backend.{name} returns a value"
            self.calls.append(functools.partial(attr, *args, **kwargs))
            return result

        return record


def record_calls(model, step):
    """Run ``step()`` (a device step of ``model``) with ``model.backend`` wrapped in a
    :class:`RecordingBackend`; returns the recorder (its ``calls``, and ``unusable``)."""
    recorder = RecordingBackend(model.backend)
    model.backend = recorder
    try:
        step()
    finally:
        model.backend = recorder._backend
    return recorder


class RecordedStep:
    """The calls of one step, replayed in order by :meth:`replay`."""

    def __init__(self, calls):
        self.calls = tuple(calls)

    def replay(self):
        for call in self.calls:
            call()

    def __len__(self):
        return len(self.calls)
