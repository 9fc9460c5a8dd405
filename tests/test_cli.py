"""The ``gpudnn`` command end to end on the embedded sample: output, PNGs, errors, Ctrl-C."""

import re
import subprocess
import sys
import time

import pytest

from gpudnn import cli, experiments
from gpudnn.backend import cuda_problem
from gpudnn.callbacks import History
from gpudnn.utils.plots import INSTALL_LINE

QUICK = ["--epochs", "1", "--limit", "600"]


def _run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _table_row(out, first_cell):
    """The cells of the table row whose first cell is ``first_cell``."""
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r} in:\n{out}")


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000
    image = pytest.importorskip("matplotlib.image").imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05  # not a blank canvas


# ---------------------------------------------------------------- train
def test_train_prints_summary_progress_accuracy_and_saves(capsys, tmp_path):
    weights = tmp_path / "w.npz"
    code, out, err = _run(capsys, "train", *QUICK, "--save", str(weights))
    assert code == 0, err
    assert "Total params: 407,050" in out
    assert "Epoch 1/1" not in out and "/step" in out  # one epoch: no "Epoch" line, as Keras
    assert re.search(r"^Test accuracy: \d{1,3}\.\d\d$", out, re.M)
    assert re.search(r"^Seconds per epoch: \d+\.\d\d \(cpu\)$", out, re.M)
    model = experiments.course_model()
    model.load_weights(weights)
    assert model.count_params() == 407_050


def test_train_reaches_90_percent_on_the_sample_in_seconds(capsys):
    start = time.perf_counter()
    code, out, err = _run(capsys, "train")  # defaults: course model, Adam 0.001, 5 epochs
    elapsed = time.perf_counter() - start
    assert code == 0, err
    accuracy = float(re.search(r"^Test accuracy: (\S+)$", out, re.M).group(1))
    assert accuracy >= 90.0
    assert elapsed < 60, f"took {elapsed:.1f} s"


def test_train_options_reach_the_model(capsys):
    code, out, err = _run(capsys, "train", *QUICK, "--optimizer", "rmsprop", "--lr", "0.002",
                          "--activation", "tanh", "--batch-size", "200")
    assert code == 0, err
    assert "RMSprop(learning_rate=0.002)" in out
    assert re.search(r"^3/3 ", out, re.M)  # 600 samples in batches of 200


@pytest.mark.parametrize("policy,optimizer", [("mixed_bfloat16", "Adam(learning_rate=0.001);"),
                                              ("mixed_float16",
                                               "Adam(learning_rate=0.001) with loss scaling")])
def test_train_takes_a_dtype_policy_for_the_command_only(capsys, policy, optimizer):
    from gpudnn import mixed_precision

    code, out, err = _run(capsys, "train", *QUICK, "--dtype-policy", policy)
    assert code == 0, err
    # the summary names the policy (its cell may wrap after "(Dense," when the name is long)
    assert f"{policy})" in out and f"optimizer {optimizer}" in out
    assert float(re.search(r"^Test accuracy: (\S+)$", out, re.M).group(1)) > 50
    assert mixed_precision.global_policy().name == "float32"  # restored after the command


# ---------------------------------------------------------------- compare / lr
def test_compare_optimizers_table_and_png(capsys, tmp_path):
    png = tmp_path / "opt.png"
    code, out, err = _run(capsys, "compare", "optimizers", "--epochs", "2", "--limit", "600",
                          "--out", str(png))
    assert code == 0, err
    for name in ("sgd", "rmsprop", "adam"):
        cells = _table_row(out, name)
        assert 0 <= float(cells[1]) <= 100 and float(cells[2]) > 0 and cells[-1] == "cpu"
    # same seed and data: adam beats plain SGD after two epochs
    assert float(_table_row(out, "adam")[1]) > float(_table_row(out, "sgd")[1])
    assert f"Wrote {png}" in out
    _assert_png(png)


def test_compare_optimizers_with_chosen_names(capsys, tmp_path):
    code, out, err = _run(capsys, "compare", "optimizers", *QUICK, "--choices", "adagrad",
                          "adamw", "--out", str(tmp_path / "o.png"))
    assert code == 0, err
    _table_row(out, "adagrad"), _table_row(out, "adamw")
    assert "[2/2] optimizer adamw" in out


def test_compare_activations_png(capsys, tmp_path):
    png = tmp_path / "act.png"
    code, out, err = _run(capsys, "compare", "activations", *QUICK, "--out", str(png))
    assert code == 0, err
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu"):
        _table_row(out, name)
    _assert_png(png)


def test_compare_activations_deep_shows_vanishing_gradient(capsys, tmp_path):
    png = tmp_path / "deep.png"
    code, out, err = _run(capsys, "compare", "activations", "--depth", "6", *QUICK,
                          "--choices", "sigmoid", "relu", "--out", str(png))
    assert code == 0, err
    header = _table_row(out, "mean")
    assert header[-2:] == ["sigmoid", "relu"]
    sigmoid, relu = (float(v) for v in _table_row(out, "layer")[2:4])  # row "layer 1 ..."
    assert sigmoid < relu / 100
    assert "layer 7 (output)" in out
    _assert_png(png)


def test_lr_sweep_table_and_png(capsys, tmp_path):
    png = tmp_path / "lr.png"
    code, out, err = _run(capsys, "lr", *QUICK, "--rates", "0.5", "0.005", "--out", str(png))
    assert code == 0, err
    assert "optimizer sgd" in out
    fast, slow = _table_row(out, "lr=0.5"), _table_row(out, "lr=0.005")
    assert float(fast[2]) < float(slow[2])  # the small rate learns slowly: higher final loss
    _assert_png(png)


def test_plots_without_out_go_to_the_out_folder_never_the_working_folder(capsys, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, "lr", *QUICK, "--rates", "0.1")
    assert code == 0, err
    _assert_png(tmp_path / "out" / "learning-rates.png")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    code, out, err = _run(capsys, "compare", "optimizers", *QUICK, "--choices", "sgd")
    assert code == 0, err
    _assert_png(tmp_path / "out" / "compare-optimizers.png")


def test_without_matplotlib_tables_and_one_line_how_to_get_pictures(capsys, tmp_path,
                                                                      monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    png = tmp_path / "none.png"
    code, out, err = _run(capsys, "lr", *QUICK, "--rates", "0.1", "--out", str(png))
    assert code == 0, err
    _table_row(out, "lr=0.1")
    assert out.count(INSTALL_LINE) == 1 and "pip install 'gpudnn[plot]'" in out
    assert not png.exists()


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("argv", [
    ["train", "--epochs", "0"],
    ["train", "--seed", "-1"],
    ["train", "--dataset", "cifar"],
    ["train", "--device", "tpu"],
    ["compare", "losses"],
    ["lr", "--rates", "fast"],
    [],
])
def test_bad_flags_are_argparse_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage: gpudnn" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["train", "--optimizer", "adamm"], "unknown optimizer 'adamm'; valid optimizer names are"),
    (["compare", "activations", "--choices", "relu", "mish"], "unknown activation 'mish'"),
    (["compare", "optimizers", "--lr", "-1"], "learning_rate must be a positive"),
    (["lr", "--optimizer", "adadelta"], "unknown optimizer 'adadelta'"),
])
def test_unknown_names_are_one_line_errors_with_exit_2(argv, message, capsys):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert err.startswith("gpudnn: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "Epoch" not in out  # nothing was trained


def test_gpu_asked_for_where_none_exists(capsys):
    if cuda_problem(0) is None:
        pytest.skip("a CUDA device is usable here")
    code, out, err = _run(capsys, "train", "--device", "cuda", *QUICK)
    assert code == 2
    assert err.startswith("gpudnn: error: device 'cuda' is not usable")
    assert err.count("\n") == 1


# ---------------------------------------------------------------- Ctrl-C
def _interrupt_at_batch(monkeypatch, n):
    """Make the n-th training batch (counted over every fit) raise KeyboardInterrupt."""
    calls = {"count": 0}

    def on_train_batch_end(self, batch, logs=None):
        calls["count"] += 1
        if calls["count"] == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(History, "on_train_batch_end", on_train_batch_end)


def test_ctrl_c_in_train_prints_finished_epochs(capsys, monkeypatch, tmp_path):
    _interrupt_at_batch(monkeypatch, 7)  # 600 samples, batch 200: 3 batches per epoch
    weights = tmp_path / "w.npz"
    code, out, err = _run(capsys, "train", "--epochs", "5", "--limit", "600",
                          "--batch-size", "200", "--save", str(weights))
    assert code == 130
    assert "Interrupted (Ctrl-C): 2 of 5 epochs finished" in out
    assert _table_row(out, "1")[0] == "1" and _table_row(out, "2")
    assert "Test accuracy" not in out and not weights.exists()


def test_ctrl_c_in_compare_prints_finished_runs(capsys, monkeypatch, tmp_path):
    _interrupt_at_batch(monkeypatch, 5)  # second run, second batch (3 batches per run)
    png = tmp_path / "c.png"
    code, out, err = _run(capsys, "compare", "optimizers", *QUICK, "--batch-size", "200",
                          "--out", str(png))
    assert code == 130
    sgd = _table_row(out, "sgd")
    assert re.fullmatch(r"\d+\.\d\d", sgd[1])
    assert "rmsprop (stopped after 0/1 epochs)" in out
    assert "adam" not in out.split("[2/3]")[1]
    assert "Interrupted (Ctrl-C): 1 of 3 runs finished" in out
    assert not png.exists()


def test_python_dash_m_gpudnn():
    done = subprocess.run([sys.executable, "-m", "gpudnn", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0
    assert all(word in done.stdout for word in ("train", "compare", "lr"))
