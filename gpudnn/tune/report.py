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

import math
import os
import tempfile

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

        metrics = {key: float(value) for key, value in (logs or {}).items()}
        diverged = not all(math.isfinite(v) for v in metrics.values())
        if self.extra is not None:
            metrics.update(self.extra(epoch, logs))
        metrics.update(epoch=epoch + 1, diverged=diverged)
        if diverged or not self.checkpoint:
            tune.report(metrics)
        else:
            with tempfile.TemporaryDirectory() as folder:
                saving.save_model(self.model, os.path.join(folder, MODEL_FILE),
                                  extra_state={"epoch": epoch + 1})
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        if diverged:
            self.model.stop_training = True


def resume_from_checkpoint(model):
    """Restore ``model`` from the trial's Ray checkpoint, if it has one; returns the epoch to
    start at (0 on a first run). A checkpoint that is not this model's raises FileFormatError."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return 0
    with checkpoint.as_directory() as folder:
        path = os.path.join(folder, MODEL_FILE)
        if not os.path.exists(path):
            raise FileFormatError(f"the trial's checkpoint {folder} holds no {MODEL_FILE}; it was "
                                  f"not written by gpudnn.tune.ReportCheckpointCallback")
        extra = saving.restore_state(model, path)
    return int(extra.get("epoch", 0))
