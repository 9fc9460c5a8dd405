"""Checkpointing the course model: ``model.save`` (what ModelCheckpoint and BackupAndRestore do
at an epoch end) against one epoch of training.

ours: one ``model.save`` of the course model (Dense(512, relu, input 784) -> Dense(10, softmax),
Adam: 407,050 params, their two Adam slots, the architecture, the SHA-256 manifest; written to a
temporary file, fsynced, renamed). limit: one epoch of MNIST at batch 128 (469 steps) estimated
as 469 x the median ``_train_batch`` time, measured in the same run. The target is a ratio
(``epoch_share``) under 5 %.
"""

import numpy as np

from bench.figures import record
from bench.test_train_step import BATCH, batch_in_workspace, course_model
from gpudnn.training.recorded_steps import capture_enabled

STEPS_PER_EPOCH = -(-60_000 // BATCH)


def test_checkpoint(benchmark, backend, timer, rng, device, tmp_path):
    model = course_model(device)
    x = rng.random((BATCH, 784), dtype=np.float32)
    ws, totals = batch_in_workspace(model, x,
                                    np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)])
    model._train_batch(ws, totals)   # the optimizer slots hold real values
    path = tmp_path / "course.gpudnn"
    benchmark.group = "checkpoint"
    save_s = timer.bench(benchmark, lambda: model.save(path))
    record_steps = capture_enabled()  # as fit decides it
    with backend.training_stream():  # the step as fit runs it: recorded (a CUDA graph on CUDA)
        epoch_s = timer.median(lambda: model._train_batch(ws, totals, record=record_steps)) \
            * STEPS_PER_EPOCH
    record(benchmark, figure="checkpoint: model.save of the course model (Adam)",
           device=backend.name.split(":")[0], unit="ms", amount=None, ours_s=save_s,
           limit_s=epoch_s, limit_name=f"one epoch ({STEPS_PER_EPOCH} steps of B={BATCH})",
           epoch_share=save_s / epoch_s, file_bytes=path.stat().st_size)
