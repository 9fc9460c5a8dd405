"""Training under Ray Tune: each epoch's logs go to ``ray.tune.report`` with a Ray
``Checkpoint`` holding the gpudnn model file, and a restarted trial resumes from it.

    model = experiments.course_model(...)
    initial_epoch = resume_from_checkpoint(model)          # 0 on a first run
    model.fit(x, y, epochs=5, initial_epoch=initial_epoch,
              callbacks=[ReportCheckpointCallback()])

The checkpoint is ``model.save``'s file (weights, optimizer state, random state) with the epoch
reached, so a trial restarted by Ray (its worker killed, its node lost, the sweep resumed)
continues bit-exact where it stopped: the resume guarantee of ``BackupAndRestore``, carried over
to Tune. A non-finite loss ends the trial: it is reported with ``diverged=True`` and training
stops (the sweep goes on with the other trials).
"""

import os
import tempfile

import numpy as np

from .. import saving
from ..callbacks import Callback
from ..errors import FileFormatError

MODEL_FILE = "model.gpudnn"


class ReportCheckpointCallback(Callback):
    """At each epoch end: ``ray.tune.report(logs | extra(), checkpoint=the model file)``.

    Args:
        extra: optional ``extra(epoch, logs) -> dict`` of more metrics for the report (the
            course trainable adds the test accuracy); called before the report.
        checkpoint: False to report without a checkpoint.
    """

    wants_batch_logs = False

    def __init__(self, extra=None, checkpoint=True):
        super().__init__()
        self.extra = extra
        self.checkpoint = checkpoint

    def on_epoch_end(self, epoch, logs=None):
        from ray import tune

        # a metric of several values (one per threshold) is reported as their list
        metrics = {key: float(value) if np.ndim(value) == 0 else np.asarray(value).tolist()
                   for key, value in (logs or {}).items()}
        diverged = not all(np.all(np.isfinite(v)) for v in metrics.values())
        if self.extra is not None:
            metrics.update(self.extra(epoch, logs))
        metrics.update(epoch=epoch + 1, diverged=diverged)
        if diverged or not self.checkpoint:
            tune.report(metrics)
        else:
            with tempfile.TemporaryDirectory() as folder:
                saving.save_model(self.model, os.path.join(folder, MODEL_FILE),
                                  extra_state={"epoch": epoch + 1, "metrics": metrics})
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        if diverged:
            self.model.stop_training = True


def resume_from_checkpoint(model):
    """Restore ``model`` from the trial's Ray checkpoint, if it has one; returns the epoch to
    start at (0 on a first run). A checkpoint that is not this model's raises FileFormatError."""
    return restore_latest(model)[0]


def restore_latest(model):
    """``(epoch, metrics)`` of the newest usable checkpoint of this trial, restored into
    ``model``; ``(0, None)`` when the trial has none.

    Ray hands a restarted trial the checkpoint its experiment state names. A driver killed just
    after a report may have left a state one checkpoint behind, so on local storage a newer
    checkpoint beside it (Ray numbers them) is used when its file is complete and checks out:
    no epoch is trained twice. ``metrics``: what that epoch reported.
    """
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0, None
    for path in _candidates(checkpoint):
        try:
            extra = saving.restore_state(model, path)
        except FileFormatError:
            continue  # a newer checkpoint cut short by the kill: the one before serves
        return int(extra.get("epoch", 0)), extra.get("metrics")
    raise FileFormatError(f"the trial's checkpoint {checkpoint.path} holds no usable "
                          f"{MODEL_FILE}; it was not written by "
                          f"gpudnn.tune.ReportCheckpointCallback")


def _candidates(checkpoint):
    """The model files to try, newest first: on local storage the given checkpoint's newer
    siblings, then the given one."""
    given = os.path.join(checkpoint.path, MODEL_FILE)
    if type(checkpoint.filesystem).__name__ != "LocalFileSystem":
        with checkpoint.as_directory() as folder:
            return [os.path.join(folder, MODEL_FILE)]
    trial = os.path.dirname(checkpoint.path)
    name = os.path.basename(checkpoint.path)
    newer = sorted((entry for entry in os.listdir(trial)
                    if entry.startswith("checkpoint_") and entry > name), reverse=True)
    return [os.path.join(trial, entry, MODEL_FILE) for entry in newer] + [given]
