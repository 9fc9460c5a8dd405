"""``gpudnn sweep``: a search over the course's choices run by Ray Tune, embedded on this machine
or on a Ray cluster, and its results (a table best first, CSV, JSON, PNGs: see results.py).

The sweep's folder ``out`` holds everything: ``sweep.json`` (the settings, so that ``--resume``
needs no other flag), ``ray/sweep`` (Ray Tune's experiment: trial states and checkpoints) and
the result files. Ray does the scheduling, packing, retries and restores; nothing of that is
written here: a trial whose worker dies is retried from its last checkpoint
(``FailureConfig(max_failures)``), a sweep whose driver died continues with ``Tuner.restore``
and runs no finished trial again.
"""

import json
import os

from .. import experiments
from ..backend import cuda_problem
from ..errors import InvalidInputError
from ..saving import atomic_write
from .space import METRIC, SweepSpec
from .trainable import course_trainable

SPEC_FILE = "sweep.json"
EXPERIMENT = "sweep"
#: Checkpoints a trial keeps: the last two, because the experiment state a killed driver left
#: may still name the one before the last (with only one kept, Ray has deleted it by then and the
#: resumed trial fails with "Could not recover from checkpoint"; seen in tests/test_sweep.py).
KEEP_CHECKPOINTS = 2


def _ray():
    # Ray's own console output (its tables) stays off: the sweep prints a line per trial event
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    # the experiment's state is saved at every change, so a driver killed at any point loses
    # no finished trial (Tune's default saves it at most every few seconds)
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "0")
    try:
        import ray
        from ray import tune
    except ImportError:
        raise InvalidInputError("gpudnn sweep needs Ray Tune: pip install 'gpudnn[tune]'") from None
    return ray, tune


def check_resources(spec, address):
    """Before Ray starts: a GPU share needs a GPU here (a cluster is checked once connected)."""
    if spec.gpus_per_trial and address is None:
        problem = cuda_problem()
        if problem:
            raise InvalidInputError(f"--gpus-per-trial {spec.gpus_per_trial:g} needs a GPU on this "
                                    f"machine, but {problem}; drop --gpus-per-trial or give "
                                    f"--address of a Ray cluster with GPUs")


def _check_cluster(ray, spec):
    gpus = ray.cluster_resources().get("GPU", 0)
    if spec.gpus_per_trial > gpus:
        raise InvalidInputError(f"--gpus-per-trial {spec.gpus_per_trial:g} is more than the "
                                f"{gpus:g} GPUs the Ray cluster has")


def _tune_config(tune, spec):
    search_alg = scheduler = None
    if spec.search == "optuna":
        try:
            from ray.tune.search.optuna import OptunaSearch
        except ImportError:
            raise InvalidInputError("--search optuna needs Optuna: pip install optuna") from None
        search_alg = OptunaSearch()
    if spec.scheduler == "asha":
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(time_attr="training_iteration", max_t=spec.epochs,
                                  grace_period=1, reduction_factor=2)
    samples = spec.samples if spec.search == "optuna" else (spec.samples or 1)
    return tune.TuneConfig(metric=METRIC, mode="max", num_samples=samples,
                           search_alg=search_alg, scheduler=scheduler, reuse_actors=True)


def _trainable(tune, spec, data, trainable):
    resources = {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(trainable, data=data), resources)


def run_sweep(spec, out, address=None, resume=False, progress=print, trainable=course_trainable):
    """Run (or with ``resume``, continue) the sweep ``spec`` in the folder ``out``; returns the
    ``ray.tune.ResultGrid``. ``progress(line)`` gets a line per trial event; ``trainable``:
    ``trainable(config, data)`` runs one trial (default: the course model's,
    ``gpudnn.tune.course_trainable``)."""
    ray, tune = _ray()
    from .progress import ProgressLines
    from .state_files import StateBackup, repair

    spec.check()
    check_resources(spec, address)
    out = os.path.abspath(out)
    experiment = os.path.join(out, "ray", EXPERIMENT)
    if resume and os.path.isdir(experiment):
        for name in repair(experiment):
            progress(f"{name} was cut short when the sweep stopped: its last good copy is used")
    if resume and not tune.Tuner.can_restore(experiment):
        raise InvalidInputError(f"{out} holds no sweep to resume ({experiment} is missing or "
                                f"incomplete); start it without --resume")
    if not resume and os.path.exists(experiment):
        raise InvalidInputError(f"{out} already holds a sweep; continue it with --resume {out}, "
                                f"or give another --out")
    data = experiments.load_data(spec.dataset, spec.limit)
    os.makedirs(out, exist_ok=True)
    if not resume:
        atomic_write(os.path.join(out, SPEC_FILE),
                     lambda f: f.write(json.dumps(spec.to_json(), indent=1).encode()))
    ray.init(address=address, include_dashboard=False, log_to_driver=False,
             configure_logging=True, logging_level="ERROR")
    try:
        if address is not None:
            _check_cluster(ray, spec)
        trainable = _trainable(tune, spec, data, trainable)
        callbacks = [ProgressLines(spec, progress), StateBackup(experiment)]
        if resume:
            tuner = tune.Tuner.restore(experiment, trainable=trainable, resume_unfinished=True,
                                       resume_errored=True, param_space=spec.param_space())
        else:
            run_config = tune.RunConfig(
                name=EXPERIMENT, storage_path=os.path.join(out, "ray"), verbose=0,
                callbacks=callbacks,
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP_CHECKPOINTS))
            tuner = tune.Tuner(trainable, param_space=spec.param_space(),
                               tune_config=_tune_config(tune, spec), run_config=run_config)
        return tuner.fit()
    finally:
        ray.shutdown()


def load_spec(out):
    """The settings of the sweep in folder ``out`` (its ``sweep.json``)."""
    path = os.path.join(out, SPEC_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        return SweepSpec(**saved)
    except FileNotFoundError:
        raise InvalidInputError(f"--resume {out}: no {SPEC_FILE} there; it is not a sweep "
                                f"folder") from None
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"--resume {out}: {SPEC_FILE} is damaged ({exc})") from None
