"""bench.fashion_epoch's pure parts: arguments, the run order, parsing a worker's output and the
summary of epochs and runs (no timing here), and one tiny worker run in this process."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not an installed package

from bench import fashion_epoch as fe  # noqa: E402


def test_defaults_and_bad_arguments(capsys):
    args = fe.parse_args([])
    assert (args.epochs, args.runs, args.optimizers, args.data) == (10, 3, ["adam", "rmsprop"],
                                                                    "fashion-mnist")
    for bad, message in ((["--epochs", "0"], "--epochs must be at least 1"),
                         (["--runs", "0"], "--runs must be at least 1"),
                         (["--limit", "0"], "--limit must be a positive number"),
                         (["--optimizers", "sgd"], "invalid choice: 'sgd'"),
                         (["--worker", "gpudnn"], "--worker needs --optimizer")):
        with pytest.raises(SystemExit):
            fe.parse_args(bad)
        assert message in capsys.readouterr().err


def test_runs_alternate_which_library_goes_first():
    assert fe.run_order(0, ["gpudnn", "pytorch"]) == ["gpudnn", "pytorch"]
    assert fe.run_order(1, ["gpudnn", "pytorch"]) == ["pytorch", "gpudnn"]
    assert fe.run_order(2, ["gpudnn", "pytorch"]) == ["gpudnn", "pytorch"]
    assert fe.run_order(1, ["gpudnn"]) == ["gpudnn"]


def test_worker_command_carries_the_run():
    args = fe.parse_args(["--epochs", "4", "--data", "sample", "--limit", "300"])
    command = fe.worker_command("py", "pytorch", "adam", args, seed=7)
    assert command[:3] == ["py", "-m", "bench.fashion_epoch"]
    text = " ".join(command)
    for part in ("--worker pytorch", "--optimizer adam", "--epochs 4", "--seed 7",
                 "--data sample", "--limit 300", "--device cpu"):
        assert part in text
    assert "--limit" not in fe.worker_command("py", "gpudnn", "adam", fe.parse_args([]), 0)


def test_parse_result_takes_the_tagged_line_or_reports_the_failure():
    result = {"library": "gpudnn", "optimizer": "adam", "epoch_seconds": [1.0], "test_accuracy": 0.5}
    out = "noise\n" + fe.RESULT_TAG + json.dumps(result) + "\nmore noise\n"
    assert fe.parse_result(out) == result
    with pytest.raises(RuntimeError, match=r"exit code 1(?s:.*)ImportError: no torch"):
        fe.parse_result("", "Traceback...\nImportError: no torch", 1)


def test_first_and_steady_epochs_are_apart():
    assert fe.summarize_epochs([3.0, 1.0, 1.2, 0.9, 5.0]) == {"first": 3.0, "steady": 1.1,
                                                              "epochs": 5}
    assert fe.summarize_epochs([2.0]) == {"first": 2.0, "steady": None, "epochs": 1}
    with pytest.raises(ValueError):
        fe.summarize_epochs([])


def _result(library, seconds, accuracy, optimizer="adam"):
    return {"library": library, "optimizer": optimizer, "epoch_seconds": seconds,
            "test_accuracy": accuracy}


def test_runs_combine_into_medians_with_ranges_and_a_comparison():
    results = [_result("gpudnn", [0.7, 0.6, 0.65], 0.88), _result("pytorch", [0.9, 0.8, 0.85], 0.87),
               _result("pytorch", [1.1, 1.0, 0.8], 0.875), _result("gpudnn", [0.8, 0.7, 0.6], 0.882),
               _result("gpudnn", [0.75, 0.62, 0.64], 0.884)]
    rows = fe.combine_runs(results)
    assert [(r["library"], r["runs"]) for r in rows] == [("gpudnn", 3), ("pytorch", 2)]
    gpudnn, torch = rows
    assert gpudnn["first"] == pytest.approx(0.75) and gpudnn["first_range"] == (0.7, 0.8)
    assert gpudnn["steady"] == pytest.approx(0.63)  # runs' steady: 0.625, 0.65, 0.63
    assert gpudnn["accuracy"] == pytest.approx(0.882)
    assert torch["steady"] == pytest.approx((0.825 + 0.9) / 2)
    assert gpudnn["steady_over_first"] == pytest.approx(0.63 / 0.75)
    text = fe.table(rows)
    assert gpudnn["slowest_steady"] == 0.7 and torch["fastest_steady"] == 0.8
    assert "| gpudnn | adam | 3 | 0.75 (0.70-0.80) | 0.63 (0.62-0.65) | 0.70 | 0.84 | 88.20 % |" \
        in text
    assert f"gpudnn's steady epoch is {0.63 / 0.8625:.2f}x PyTorch's" in text
    assert f"gpudnn's slowest is {0.7 / 0.8:.2f}x PyTorch's fastest" in text


def test_one_epoch_runs_have_no_steady_epoch():
    rows = fe.combine_runs([_result("gpudnn", [0.5], 0.8)])
    assert rows[0]["steady"] is None and rows[0]["steady_over_first"] is None
    assert rows[0]["slowest_steady"] is None
    assert "| n/a | n/a | n/a |" in fe.table(rows)


def test_a_worker_trains_and_prints_its_result(capsys):
    assert fe.main(["--worker", "gpudnn", "--optimizer", "adam", "--data", "sample",
                    "--limit", "256", "--epochs", "2"]) == 0
    result = fe.parse_result(capsys.readouterr().out)
    assert result["library"] == "gpudnn" and len(result["epoch_seconds"]) == 2
    assert 0.3 < result["test_accuracy"] <= 1.0  # 0.49 here; chance is 0.1
