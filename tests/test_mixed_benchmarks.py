"""The mixed-precision benchmarks run (figures are not asserted): bench/mixed_accuracy.py on the
embedded sample and bench/gpu_mixed.py in its CPU quick mode, as bench/gpu_check.sh's fake mode
runs them."""

import importlib.util
import json

import pytest

from gpudnn import mixed_precision


@pytest.fixture(autouse=True)
def _no_global_policy():
    yield
    mixed_precision.set_global_policy(None)


def test_the_accuracy_benchmark_runs_every_policy(tmp_path, capsys):
    """bench/mixed_accuracy.py (the figures of docs/mixed-precision.md) on the embedded sample."""
    from bench import mixed_accuracy

    mixed_accuracy.main(["--data", "sample", "--epochs", "1", "--json", str(tmp_path / "r.json")])
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert [r["policy"] for r in rows] == [label for label, _, _ in mixed_accuracy.RUNS]
    assert all(r["accuracy"] > 0.6 for r in rows)
    assert rows[0]["skipped_steps"] is None and rows[2]["skipped_steps"] == 0
    assert rows[3]["skipped_steps"] > 10 and rows[3]["final_scale"] < 2.0 ** 40
    assert "mixed_bfloat16" in capsys.readouterr().out


def test_the_gpu_rows_run_on_the_cpu_in_quick_mode(tmp_path, capsys):
    """bench/gpu_mixed.py: every configuration a row, gpudnn's figures measured, PyTorch's a
    number or the reason it is missing; the Markdown table names the reasons."""
    from bench import gpu_mixed

    gpu_mixed.main(["--device", "cpu", "--quick", "--reps", "2", "--round-s", "0.005",
                    "--markdown", "--json", str(tmp_path / "m.json"), "--worker-timeout", "120"])
    doc = json.loads((tmp_path / "m.json").read_text())
    assert [r["key"] for r in doc["rows"]] == [gpu_mixed.key_of(*c)
                                               for c in gpu_mixed.configs(True)]
    for row in doc["rows"]:
        assert row["step_ms"]["gpudnn_eager"] > 0 and row["step_ms"]["gpudnn_graph"] > 0
        # no CUDA graph on the CPU; without PyTorch installed, the reason says so
        assert row["step_ms"]["torch_graph"] is None
        assert "CUDA" in row["missing"]["torch_graph"] or "torch" in row["missing"]["torch_graph"]
        if importlib.util.find_spec("torch") is not None:  # what this environment has
            assert row["step_ms"]["torch_eager"] > 0
        else:
            assert row["step_ms"]["torch_eager"] is None and "torch" in row["missing"]["torch_eager"]
    assert "| 16 | 8 | bf16 |" in capsys.readouterr().out


def test_the_gpu_rows_say_why_pytorch_is_missing(tmp_path):
    """With an interpreter that cannot import torch, every PyTorch figure is null with the
    reason, and gpudnn's rows are there."""
    import sys

    from bench import gpu_mixed

    fake = tmp_path / "python-without-torch"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'raise SystemExit(\"no torch here\")'\n")
    fake.chmod(0o755)
    gpu_mixed.main(["--device", "cpu", "--quick", "--reps", "2", "--round-s", "0.005",
                    "--json", str(tmp_path / "m.json"), "--torch-python", str(fake)])
    doc = json.loads((tmp_path / "m.json").read_text())
    for row in doc["rows"]:
        assert row["step_ms"]["gpudnn_eager"] > 0
        assert row["step_ms"]["torch_eager"] is None and "torch" in row["missing"]["torch_eager"]

