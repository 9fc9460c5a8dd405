"""The recorded training steps of one model: record the device part of ``fit``'s step on its
first run for a batch size, replay it after (see :mod:`gpudnn.backend.capture`).

A recording is tied to the exact objects it was made with -- the batch's workspace, the
accumulators, the optimizer with its per-step array and slots, the parameters -- and to the
settings its calls were bound with: hyperparameters other than the learning rate (betas,
epsilon, momentum, clipping norms, dropout rates, penalties, activation slopes) are baked into
the recorded calls, as they would be into a CUDA graph, so any assignment to a setting of the
step's layers, loss, optimizer, regularizers or constraints (counted per object by
:mod:`gpudnn.watched`)
makes the step record again. The learning rate and everything derived from the step count are
read from the optimizer's device array at every replay. Rebuilding or recompiling the model
drops its recordings.

``GPUDNN_RECORD_STEPS=0`` turns recording off (every step then runs eagerly).
"""

import warnings

from ..utils import watched
from ..config import env_flag
from ..backend.capture import RecordedStep, record_calls

#: Recordings a model keeps (fit uses two batch sizes: the full and the last partial batch).
MAX_RECORDINGS = 4


def capture_enabled():
    """False when ``GPUDNN_RECORD_STEPS`` is ``0``/``false``/``no``/``off``."""
    return env_flag("GPUDNN_RECORD_STEPS", True)


class RecordedSteps:
    """Recordings by batch size; :meth:`run` records, replays, or runs eagerly."""

    def __init__(self):
        self._entries = {}
        self.replays = 0  # steps served by a replay (tests and benchmarks read it)
        self.graphs = 0  # recordings captured as CUDA graphs

    def forget(self, arrays):
        """Drop the recordings bound to any of ``arrays`` (a finished fit's data), so that they
        and the graphs made of them no longer hold those arrays."""
        self._entries = {key: entry for key, entry in self._entries.items()
                         if not any(a is b for a in arrays for b in entry.state)}

    def path(self):
        """Which form of the step ran: a CUDA graph, recorded calls replayed, or eager."""
        if self.graphs:
            return "captured as a CUDA graph and replayed"
        if self.replays:
            return "recorded once and replayed call by call"
        return "run eagerly"

    def run(self, model, ws, totals, feed=None):
        """Run ``model._device_step(ws, totals, feed)``: replayed when a recording of exactly
        these buffers exists (captured as a CUDA graph on its second run when the backend has
        graphs on), else run eagerly while recording it."""
        # an entry keeps its ws and totals alive, so their ids in the key are theirs alone;
        # an optimizer that accumulates gradients has two forms of step (step_form)
        key = (id(ws), tuple(map(id, totals)), model.optimizer.step_form)
        entry = self._entries.get(key)
        state = self._state_of(model, feed)
        if entry is not None and _same(entry.state, state):
            if entry.step is None:
                model._device_step(ws, totals, feed)
                return
            if not entry.graph_tried:
                entry.graph_tried = True
                if self._capture(model, ws, totals, feed, entry):
                    return  # this step ran while warming the capture
            entry.step.replay()
            self.replays += 1
            return
        recorder = record_calls(model, lambda: model._device_step(ws, totals, feed))
        step = None
        if recorder.unusable is not None:
            warnings.warn(f"gpudnn: this model's training step cannot be recorded "
                          f"({recorder.unusable}); it runs eagerly", RuntimeWarning,
                          stacklevel=4)
        else:
            step = RecordedStep(recorder.calls)
        while len(self._entries) >= MAX_RECORDINGS:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = _Entry(ws, list(totals), state, step)

    def _capture(self, model, ws, totals, feed, entry):
        """When the backend has graphs on: run this step with the graphs' memory pool (so that
        the capture finds every block it allocates there), then capture it and replace the
        entry's call list by the graph; on failure, say why once and keep replaying the calls.
        True when the step has run."""
        graphs = model.backend.graphs()
        if graphs is None:
            return False
        from ..backend.cuda_graph import CaptureFailed

        graphs.warm(lambda: model._device_step(ws, totals, feed))
        try:
            entry.step = graphs.capture(model.backend,
                                        lambda: model._device_step(ws, totals, feed),
                                        entry.step.calls)
            self.graphs += 1
        except CaptureFailed as exc:
            warnings.warn(f"gpudnn: the training step could not be captured as a CUDA graph "
                          f"({exc}); it is replayed call by call", RuntimeWarning, stacklevel=5)
        return True

    @staticmethod
    def _state_of(model, feed):
        """What a recording is made of besides the batch's workspace: the data it gathers
        (``feed``'s arrays) and these objects must not change, nor the values its calls were
        bound with (hyperparameters, rates, slopes, penalties: any
        assignment to a setting of the step's layers, loss, optimizer, regularizers or
        constraints, counted
        by gpudnn.watched, makes the step record again), nor the backend's capture settings."""
        opt, loss = model.optimizer, model.loss
        versions = [watched.version(opt), watched.version(loss)]
        for layer, attributes in model._weight_setting_attributes:
            versions.append(watched.version(layer))
            for attribute in attributes:  # kernel_regularizer, bias_constraint, ...
                setting = layer.__dict__.get(attribute)
                if setting is not None:
                    versions.append(watched.version(setting))
        metrics = [m for name in model.metric_names
                   if (m := model._metric_object(name)) is not None]
        versions.extend(watched.version(m) for m in metrics)  # thresholds, k, ... are baked in
        feed_arrays = feed.arrays() if feed is not None else ()
        return (*feed_arrays, model.params, model.grads, opt, opt.hyper, loss, *metrics,
                tuple(model.metric_names), (model._sample_weighted,),
                *opt.slots.values(), *model.backend.capture_key(), tuple(versions))


class _Entry:
    """One recording: the objects it was made with, and its step (None: run eagerly)."""

    def __init__(self, ws, totals, state, step):
        self.ws, self.totals, self.state, self.step = ws, totals, state, step
        self.graph_tried = False


def _same(a, b):
    """Element-wise identity of two sequences (arrays compared by identity, not by value)."""
    return len(a) == len(b) and all(x is y or (isinstance(x, tuple) and x == y)
                                    for x, y in zip(a, b))
