"""``gpudnn sweep`` and gpudnn.tune on embedded Ray (the ``tune`` extra; skipped without it).

A sweep of six trials on the embedded sample writes its table, CSV, JSON and PNGs, and its best
trial's test accuracy is, to the bit, that of a plain run of the command it prints; a trial whose
worker is killed resumes from its last checkpoint; a sweep whose driver is killed continues with
``--resume`` and runs no finished trial again; bad flags fail before Ray starts.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.tune")

from gpudnn import callbacks  # noqa: E402
from gpudnn.cli import main  # noqa: E402
from gpudnn.tune import SweepSpec, course_trainable, learning_rates, train_command  # noqa: E402
from gpudnn.tune.sweep import run_sweep  # noqa: E402

from conftest import subprocess_env  # noqa: E402

QUICK = ["--epochs", "2", "--limit", "600"]


def plain_run(config, threads):
    """The test accuracy of the trial ``config`` trained without Ray, as gpudnn train runs it,
    in a process with ``threads`` BLAS threads (a GEMM's rounding depends on them)."""
    code = ("import json, sys; from gpudnn import experiments as e; c = json.loads(sys.argv[1]); "
            "d = e.load_data(c['dataset'], c['limit']); "
            "m = e.course_model(c['activation'], c['depth'], c['width'], c['optimizer'], c['lr'], "
            "'cpu', c['seed']); "
            "print(repr(e.run('plain', m, d, c['epochs'], c['batch_size'], verbose=0).test_accuracy))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(config)], capture_output=True,
                          text=True, env={**subprocess_env(), "OMP_NUM_THREADS": str(threads)},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout)


def run_command(command):
    """Run a printed ``[VAR=value ...] gpudnn train ...`` command as a shell would; its stdout."""
    words = shlex.split(command)
    env = subprocess_env()
    while "=" in words[0]:
        name, value = words.pop(0).split("=", 1)
        env[name] = value
    assert words[0] == "gpudnn"
    done = subprocess.run([sys.executable, "-m", "gpudnn", *words[1:]], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _assert_png(path):
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path


@pytest.mark.parametrize("argv, message", [
    (["--optimizers", "adam,adadelta"], "unknown optimizer 'adadelta'"),
    (["--learning-rates", "1e-1:1e-4:log:4"], "the range is empty"),
    (["--learning-rates", "1e-4:1e-1:cubic:4"], "LOW:HIGH:log:N"),
    (["--learning-rates", ","], "is empty"),
    (["--activations", "mish"], "mish"),
    (["--search", "optuna"], "give --samples"),
    (["--gpus-per-trial", "2"], "at most 1"),
    (["--gpus-per-trial", "0.25"], "needs a GPU"),
])
def test_bad_flags_fail_before_ray_starts(argv, message, capsys, tmp_path):
    from gpudnn.backend import cuda_problem

    if "0.25" in argv and cuda_problem() is None:
        pytest.skip("a GPU is usable here: a GPU share is a valid request")
    code = main(["sweep", *argv, "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not ray.is_initialized()
    assert not (tmp_path / "s").exists()


def test_learning_rate_ranges():
    assert learning_rates("1e-4:1e-1:log:4") == [1e-4, 1e-3, 1e-2, 1e-1]
    assert learning_rates("0.1:0.3:lin:3") == [0.1, 0.2, 0.3]
    assert learning_rates("0.1, 0.01") == [0.1, 0.01]
    assert learning_rates("0.5:0.5:log:1") == [0.5]


def test_six_trials_write_results_and_the_best_is_its_command_to_the_bit(capsys, tmp_path):
    out = tmp_path / "sweep"
    code = main(["sweep", "--optimizers", "adam,sgd", "--learning-rates", "1e-3:1e-1:log:3",
                 *QUICK, "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert printed.count(": done") == 6
    for name in ("results.csv", "results.json", "sweep.json"):
        assert (out / name).is_file()
    _assert_png(out / "accuracy-vs-lr.png")
    _assert_png(out / "best-trials.png")
    document = json.loads((out / "results.json").read_text())
    trials = document["trials"]
    assert len(trials) == 6 and [t["rank"] for t in trials] == list(range(1, 7))
    accuracies = [t["test_accuracy"] for t in trials]
    assert accuracies == sorted(accuracies, reverse=True)
    assert {(t["optimizer"], t["lr"]) for t in trials} == {
        (o, r) for o in ("adam", "sgd") for r in (1e-3, 1e-2, 1e-1)}
    assert all([h["epoch"] for h in t["history"]] == [1, 2] for t in trials)
    assert len((out / "results.csv").read_text().splitlines()) == 7
    best = trials[0]
    assert f"Alone: {best['command']}" in printed
    # the printed command, run as a user would, prints the same accuracy
    assert best["command"].startswith("OMP_NUM_THREADS=1 gpudnn train ")  # Ray's CPU share
    printed = run_command(best["command"])
    assert f"Test accuracy: {100 * best['test_accuracy']:.2f}" in printed
    config = {"dataset": "sample", "limit": 600, "depth": 1, "width": None, "epochs": 2,
              "batch_size": 128, "optimizer": best["optimizer"], "lr": best["lr"],
              "activation": best["activation"], "seed": best["seed"]}
    assert train_command(config, cpu_threads=1) == best["command"]
    assert plain_run(config, threads=1) == best["test_accuracy"]  # bit-exact on the CPU


class KillOnce(callbacks.Callback):
    """Kills its own process (the trial's Ray worker) after the first epoch's report, once."""

    def __init__(self, marker):
        super().__init__()
        self.marker = marker

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_is_retried_from_its_last_checkpoint(tmp_path):
    marker = str(tmp_path / "killed-once")

    def killed_trainable(config, data=None):
        course_trainable(config, data, callbacks=[KillOnce(marker)])

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    spec = SweepSpec(optimizers=["adam"], learning_rates=[0.01], epochs=3, limit=600)
    grid = run_sweep(spec, str(tmp_path / "sweep"), progress=lambda line: None,
                     trainable=killed_trainable)
    assert os.path.exists(marker)  # the worker was killed once
    (result,) = list(grid)
    assert result.error is None
    # the retry started at epoch 2 from the checkpoint of epoch 1: no epoch ran twice
    assert list(result.metrics_dataframe["epoch"]) == [1, 2, 3]
    config = dict(result.config)
    assert result.metrics["test_accuracy"] == plain_run(config, result.metrics["cpu_threads"])


def _trial_results(out):
    """{trial folder: result.json text} of the sweep's trials that have one."""
    experiment = out / "ray" / "sweep"
    return {p.parent.name: p.read_text() for p in experiment.glob("*/result.json")}


def _finished(out):
    """The trials whose result.json holds their last epoch (2): a trial just started has no
    line yet."""
    def last_epoch(text):
        try:  # a line being written when the driver was killed is not a result
            return json.loads(text.splitlines()[-1])["epoch"] if text.splitlines() else None
        except ValueError:
            return None

    return {name for name, text in _trial_results(out).items() if last_epoch(text) == 2}


def test_a_killed_driver_resumes_and_runs_no_finished_trial_again(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = [sys.executable, "-m", "gpudnn", "sweep", "--optimizers", "adam,sgd",
            "--learning-rates", "0.01,0.1", "--epochs", "2", "--limit", "400", "--out", str(out)]
    driver = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=subprocess_env(), start_new_session=True)
    done = []
    try:
        for line in driver.stdout:
            if line.rstrip().endswith(": done"):
                done.append(line)
                if len(done) == 2:
                    break
        # Ray's logger writes a trial's last result.json line on its own schedule: on a loaded
        # machine it may come well after the driver printed "done" (a clean-clone CI run once
        # waited over 30 s); wait for it, at most 120 s (the loop ends once both are there)
        deadline = time.monotonic() + 120
        while len(_finished(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the Ray it started
        driver.wait(timeout=60)
    assert len(done) == 2, "the sweep ended before two trials finished"
    before = _trial_results(out)
    finished = _finished(out)
    assert len(finished) >= 2
    assert main(["sweep", "--resume", str(out)]) == 0
    printed = capsys.readouterr().out
    after = _trial_results(out)
    assert len(after) == 4
    for name in finished:  # a finished trial trained no epoch again
        assert after[name].startswith(before[name])
        again = [json.loads(line) for line in after[name][len(before[name]):].splitlines()]
        assert all(line["reported_again"] for line in again), again
    document = json.loads((out / "results.json").read_text())
    assert [(t["status"], t["error"]) for t in document["trials"]] == [("done", None)] * 4
    assert "Best:" in printed


def test_a_diverging_trial_is_marked_and_stopped_and_the_sweep_goes_on(capsys, tmp_path):
    out = tmp_path / "sweep"
    code = main(["sweep", "--optimizers", "sgd", "--learning-rates", "0.01,1e35", "--epochs", "3",
                 "--limit", "400", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "diverged (non-finite loss): stopped" in printed
    trials = json.loads((out / "results.json").read_text())["trials"]
    assert [(t["lr"], t["status"], t["epochs_done"]) for t in trials] == [
        (0.01, "done", 3), (1e35, "diverged", 1)]


def test_optuna_search_with_asha_runs_the_samples_asked(capsys, tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "sweep"
    code = main(["sweep", "--optimizers", "adam,sgd", "--learning-rates", "1e-3:1e-1:log:3",
                 "--activations", "relu,tanh", "--search", "optuna", "--samples", "4",
                 "--scheduler", "asha", "--epochs", "3", "--limit", "400", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    trials = json.loads((out / "results.json").read_text())["trials"]
    assert len(trials) == 4
    assert all(1e-3 <= t["lr"] <= 1e-1 and t["status"] in ("done", "stopped early")
               for t in trials)
    assert trials[0]["status"] == "done" and trials[0]["epochs_done"] == 3
    # a trial ASHA stopped gets the command of the epochs it ran
    for t in trials:
        assert f"--epochs {t['epochs_done']} " in t["command"]


def test_a_state_file_torn_by_the_kill_is_repaired_from_its_backup(tmp_path):
    from gpudnn.tune.state_files import StateBackup, repair

    experiment = tmp_path / "ray" / "sweep"
    experiment.mkdir(parents=True)
    state = experiment / "experiment_state-2026.json"
    state.write_text('{"trial_data": [1, 2, 3]}')
    backup = StateBackup(str(experiment))
    backup.on_step_end(0, [])
    state.write_text('{"trial_data": [1, 2, 3, 4]')  # torn: the copy stopped half way
    backup.on_step_end(1, [])  # a torn file is not backed up over the good one
    assert repair(str(experiment)) == ["experiment_state-2026.json"]
    assert json.loads(state.read_text()) == {"trial_data": [1, 2, 3]}
    assert repair(str(experiment)) == []  # nothing torn: nothing replaced
