"""Sweeps on Ray Tune (the ``tune`` extra: ``pip install 'gpudnn[tune]'``), imported only when
used: a callback that reports each epoch to Ray Tune with the model file as a checkpoint and
resumes a restarted trial from it, the course's experiment as a trainable, and ``gpudnn sweep``.
Importing ``gpudnn`` never imports Ray."""

from .report import ReportCheckpointCallback, resume_from_checkpoint
from .space import SweepSpec, learning_rates, train_command
from .trainable import course_trainable

__all__ = ["ReportCheckpointCallback", "resume_from_checkpoint", "course_trainable", "SweepSpec",
           "learning_rates", "train_command"]
