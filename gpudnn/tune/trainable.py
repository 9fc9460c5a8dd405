"""The course's experiment as a Ray Tune trainable: one trial trains the course model of its
config and reports each epoch (``gpudnn.tune.report``).

    tuner = tune.Tuner(tune.with_parameters(course_trainable, data=data), param_space=...)

``data`` (an ``experiments.Data``) goes through ``tune.with_parameters``, which puts it once in
Ray's object store: the trials of a node read the same arrays, none reads the data set again.
A trial given a GPU by Ray (``gpus_per_trial``) trains on it: Ray sets ``CUDA_VISIBLE_DEVICES``
to the GPU it assigned, which gpudnn then sees as ``cuda:0``; several trials may share one GPU
through fractional GPU resources. Without a GPU the trial trains on the CPU.

The run is the one ``gpudnn train`` does with the same settings (``space.train_command``): the
same seed, initial weights, batch order and evaluation, so the trial's test accuracy is the one
that command prints (to the bit on the CPU).
"""

import os

from .. import experiments
from .report import ReportCheckpointCallback, restore_latest


def trial_device():
    """``"cuda"`` when Ray assigned this trial a GPU, else ``"cpu"``."""
    import ray

    return "cuda" if ray.get_gpu_ids() else "cpu"


def course_model_for(config, device="cpu"):
    """The compiled, seeded course model of a trial's config, as ``gpudnn train`` builds it."""
    return experiments.course_model(activation=config["activation"], depth=config["depth"],
                                    width=config["width"], optimizer=config["optimizer"],
                                    lr=config["lr"], device=device, seed=config["seed"])


def test_metrics(model, data, batch_size):
    """``{"test_loss", "test_accuracy"}`` evaluated as ``experiments.run`` evaluates, and where
    the trial ran: ``device``, and on the CPU ``cpu_threads``, the BLAS threads Ray gave it
    (``OMP_NUM_THREADS``, its CPU share): a float32 GEMM's rounding depends on how many threads
    split it, so the command that reproduces the trial to the bit sets the same number."""
    loss, accuracy = model.evaluate(data.x_test, data.y_test,
                                    batch_size=max(batch_size, 1000), verbose=0)
    metrics = {"test_loss": float(loss), "test_accuracy": float(accuracy),
               "device": model.backend.name}
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if not model.backend.is_gpu and threads.isdigit():
        metrics["cpu_threads"] = int(threads)
    return metrics


def course_trainable(config, data=None, callbacks=()):
    """Train the course model of ``config`` on ``data``, reporting every epoch to Ray Tune;
    resumes from the trial's checkpoint when Ray restarts it. ``callbacks``: more gpudnn
    callbacks for the trial's ``fit`` (they run after the report of each epoch)."""
    if data is None:
        data = experiments.load_data(config["dataset"], config.get("limit"))
    batch_size = config["batch_size"]
    model = course_model_for(config, trial_device())
    initial_epoch, metrics = restore_latest(model)
    if initial_epoch >= config["epochs"]:
        # trained to the end before the sweep was stopped, but Ray had not recorded it as
        # finished: report its last epoch again (marked), train nothing
        from ray import tune

        tune.report({**(metrics or {}), "reported_again": True})
        return
    report = ReportCheckpointCallback(extra=lambda epoch, logs: test_metrics(model, data,
                                                                             batch_size))
    model.fit(data.x_train, data.y_train, epochs=config["epochs"], batch_size=batch_size,
              verbose=0, callbacks=[report, *callbacks], initial_epoch=initial_epoch)
