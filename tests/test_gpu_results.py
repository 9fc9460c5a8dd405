"""bench.gpu_results (issue 8's results file) without a GPU: the whole run in its CPU fake mode
(``--device cpu --quick``), the PyTorch peer recorded as unavailable with the reason where torch
cannot be imported, bench.gpu_results_tables's Markdown and README renderers on a hand-made
document, and bad arguments.
"""

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not an installed package

from bench import gpu_results as gr  # noqa: E402
from bench import gpu_results_tables as tables  # noqa: E402

ISSUE_KEYS = {
    "course_step_ms": {"gpudnn_graph", "gpudnn_eager", "gemms_eager", "torch_eager", "torch_graph"},
    "fashion_epoch_s": {"gpudnn_graph", "gpudnn_eager", "torch_eager", "torch_graph"},
    "fashion_test_acc": {"gpudnn_graph", "gpudnn_eager", "torch_eager", "torch_graph"},
    "update_vs_copy_100M": {"sgd", "momentum", "rmsprop", "adagrad", "adam", "adamw"},
}
NO_TORCH = sys.executable + "-without-torch"  # an interpreter that does not exist


def _number_or_reason(doc, section, key):
    value = doc[section][key]
    if value is None:
        reason = doc["missing"][section][key]
        assert isinstance(reason, str) and len(reason) > 10, (section, key)
    else:
        assert isinstance(value, float) and value > 0, (section, key, value)
    return value


def test_fake_run_writes_every_key_the_issue_lists(tmp_path, capsys):
    out = tmp_path / "sub" / "gpu-results.json"
    assert gr.main(["--out", str(out), "--device", "cpu", "--quick", "--data", "sample",
                    "--torch-python", NO_TORCH, "--markdown"]) == 0
    doc = json.loads(out.read_text())
    assert doc["card"].startswith("CPU: ") and doc["device"] == "cpu" and doc["quick"] is True
    assert doc["versions"]["numpy"] and doc["date"][:2] == "20"
    assert doc["settings"]["update_params"] == 1_000_000 and doc["settings"]["train_samples"] == 512
    for section, keys in ISSUE_KEYS.items():
        assert set(doc[section]) == keys, section
        for key in keys:
            _number_or_reason(doc, section, key)
    # gpudnn's own figures are always measured; each a median of >= 3 repetitions with its spread
    for key in ("gpudnn_graph", "gpudnn_eager", "gemms_eager"):
        s = doc["spread"]["course_step_ms"][key]
        assert s["n"] >= 3 and s["min"] <= doc["course_step_ms"][key] <= s["max"]
    for key in ("gpudnn_graph", "gpudnn_eager"):
        assert 0.1 <= doc["fashion_test_acc"][key] <= 1.0
    for key in ISSUE_KEYS["update_vs_copy_100M"]:
        assert doc["spread"]["update_vs_copy_100M"][key]["n"] >= 3
    # the CPU has no CUDA graphs: the recorded calls were replayed, and the JSON says so
    assert doc["paths"]["course_step_gpudnn_graph"].startswith("recorded calls replayed")
    # no torch: every peer figure is null with the reason
    for section, key in (("course_step_ms", "torch_eager"), ("fashion_epoch_s", "torch_graph"),
                         ("torch_update_vs_copy_100M", "adam_fused")):
        assert doc[section][key] is None
        assert "cannot import torch" in doc["missing"][section][key]
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "| gpudnn, eager |" in printed
    assert printed.count("cannot import torch") == 1  # one line names every figure it cost


def test_missing_data_makes_the_fashion_figures_null_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(gr, "data_problem", lambda name: "no Fashion-MNIST files here")
    monkeypatch.setattr(gr, "gpudnn_updates", lambda *a: None)  # not under test here
    out = tmp_path / "r.json"
    gr.main(["--out", str(out), "--device", "cpu", "--quick", "--torch-python", NO_TORCH])
    doc = json.loads(out.read_text())
    for section in ("fashion_epoch_s", "fashion_test_acc"):
        assert doc[section] == dict.fromkeys(ISSUE_KEYS[section])
        for key in ("gpudnn_graph", "gpudnn_eager"):
            assert doc["missing"][section][key] == "no Fashion-MNIST files here"


def test_data_problem_names_the_folders_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUDNN_DATA", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    from gpudnn.datasets import fashion_mnist

    monkeypatch.setattr(fashion_mnist, "SYSTEM_DIRS", ())
    problem = gr.data_problem("fashion-mnist")
    assert "GPUDNN_DATA" in problem and str(tmp_path) in problem
    assert gr.data_problem("sample") is None


def test_torch_worker_output_goes_where_the_issue_wants_it():
    results = gr.Results()
    results.doc["versions"] = {}
    found = {"version": "9.9", "course_step_s": {"torch_eager": [1e-3, 2e-3, 3e-3],
                                                 "torch_graph": "needs CUDA"},
             "updates": {"adam": {"fused": [0.5, 0.9, 0.7], "foreach": "not here"}},
             "fashion": {"torch_eager": {"epoch_seconds": [9.0, 1.0, 3.0, 2.0],
                                         "test_accuracy": 0.875},
                         "torch_graph": "needs CUDA"}}
    gr.add_torch(results, found)
    doc = results.doc
    assert doc["course_step_ms"]["torch_eager"] == pytest.approx(2.0)  # median, in ms
    assert doc["spread"]["course_step_ms"]["torch_eager"] == pytest.approx(
        {"min": 1.0, "max": 3.0, "n": 3})
    assert doc["course_step_ms"]["torch_graph"] is None
    assert doc["missing"]["course_step_ms"]["torch_graph"] == "needs CUDA"
    assert doc["fashion_epoch_s"]["torch_eager"] == 2.0  # median of epochs 2..N, not the first
    assert doc["fashion_test_acc"]["torch_eager"] == 0.875
    assert doc["torch_update_vs_copy_100M"]["adam_fused"] == 0.7
    assert doc["missing"]["torch_update_vs_copy_100M"]["adam_foreach"] == "not here"
    assert doc["versions"]["torch"] == "9.9"


def test_per_call_seconds_times_rounds_between_syncs():
    calls, syncs = [], []
    times = gr.per_call_seconds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                lambda: syncs.append(len(calls)), reps=3, round_s=0.0)
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for v in times.values() for t in v)
    # 3 warm-up calls each, then 3 alternating rounds of k=1 (round_s 0): a b a b a b
    assert calls[6:] == ["a", "b", "a", "b", "a", "b"]
    assert syncs[-2:] == [11, 12]  # a sync before and after each round
    with pytest.raises(ValueError, match="at least 2 epochs"):
        gr.steady_epochs([1.0])


def _hand_made():
    doc = {"card": "NVIDIA H200", "device": "cuda", "quick": False,
           "date": "2026-11-28T05:00:00+00:00", "versions": {"cupy": "14.2", "torch": "2.11"},
           "settings": {"update_params": 100_000_000},
           "course_step_ms": {"gpudnn_graph": 0.062, "gpudnn_eager": 0.51, "gemms_eager": 0.10,
                              "torch_eager": 1.17, "torch_graph": 0.145},
           "fashion_epoch_s": {"gpudnn_graph": 0.035, "gpudnn_eager": 0.4, "torch_eager": 0.55,
                               "torch_graph": 0.066},
           "fashion_test_acc": {"gpudnn_graph": 0.8812, "gpudnn_eager": 0.8809,
                                "torch_eager": 0.879, "torch_graph": None},
           "update_vs_copy_100M": {"sgd": 0.93, "momentum": 0.95, "rmsprop": 0.91,
                                   "adagrad": 0.92, "adam": 0.97, "adamw": 0.96},
           "torch_update_vs_copy_100M": {"adam_fused": 0.9, "adam_foreach": None},
           "spread": {"course_step_ms": {"gpudnn_graph": {"min": 0.061, "max": 0.064, "n": 5}}},
           "missing": {"fashion_test_acc": {"torch_graph": "the worker ran past 300 s"},
                       "torch_update_vs_copy_100M": {"adam_foreach": "not available"}},
           "paths": {"course_step_gpudnn_graph": "cuda graph (1 captured, 500 replays)"}}
    return doc


def test_readme_table_from_a_hand_made_document():
    table = tables.readme_table(_hand_made())
    lines = table.splitlines()
    assert lines[0].startswith("| NVIDIA H200, 2026-11-28 (`docs/gpu-results.json`) |")
    assert lines[1] == "|---|---:|---:|---|"
    assert "| course step, batch 128, CUDA graph, ms | 0.062 (0.061–0.064) | 0.145 |" in table
    assert "(now 0.43×)" in table  # 0.062 / 0.145
    assert "(now 0.53×)" in table  # 0.035 / 0.066
    assert "| test accuracy, CUDA graph / eager | 88.12 % / 88.09 % | n/a / 87.90 % |" in table
    assert "100,000,000 params, worst of 6 | 0.91 |" in table
    assert all(line.startswith("|") and line.endswith("|") for line in lines)


def test_markdown_from_a_hand_made_document():
    text = tables.markdown(_hand_made())
    assert text.startswith("# gpudnn GPU results: NVIDIA H200")
    assert "| gpudnn, recorded step (CUDA graph) | 0.062 (0.061–0.064) |" in text
    assert "| PyTorch, CUDA graph, capturable fused Adam | 0.066 | n/a |" in text
    assert "| Adam | 0.97 | 0.90 | n/a |" in text
    assert "update of 100,000,000 params" in text
    assert "- n/a (fashion_test_acc.torch_graph): the worker ran past 300 s" in text
    assert "- path of course_step_gpudnn_graph: cuda graph" in text


def test_from_json_renders_without_measuring(tmp_path, capsys):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_hand_made()))
    assert gr.main(["--from-json", str(path), "--readme"]) == 0
    assert capsys.readouterr().out.strip() == tables.readme_table(_hand_made())


@pytest.mark.parametrize("argv, message", [
    ([], "--out PATH is required"),
    (["--out", "x.json", "--device", "tpu"], "invalid choice: 'tpu'"),
    (["--out", "x.json", "--data", "cifar"], "invalid choice: 'cifar'"),
    (["--from-json", "r.json"], "--from-json needs --markdown, --readme or --update-readme"),
    (["--from-json", "r.json", "--out", "x.json", "--readme"], "takes no --out"),
    (["--out", "."], "is a folder"),
    (["--out", "x.json", "--worker-timeout", "0"], "--worker-timeout must be a positive"),
])
def test_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        gr.parse_args(argv)
    assert message in capsys.readouterr().err


def test_cuda_without_a_gpu_is_refused_with_the_reason(monkeypatch, capsys):
    monkeypatch.setattr(gr, "device_problem", lambda device: "CuPy is not installed")
    with pytest.raises(SystemExit):
        gr.parse_args(["--out", "x.json", "--device", "cuda"])
    assert "--device cuda is not usable: CuPy is not installed (use --device cpu)" in \
        capsys.readouterr().err


def test_a_failing_worker_is_recorded_with_its_error(tmp_path):
    fake = tmp_path / "python"  # imports torch fine, then the worker dies
    fake.write_text('#!/bin/sh\ncase "$1" in -c) exit 0;; esac\necho "CUDA error: boom" >&2\n'
                    "exit 3\n")
    fake.chmod(0o755)
    args = gr.parse_args(["--out", str(tmp_path / "r.json"), "--device", "cpu", "--quick",
                          "--torch-python", str(fake)])
    found = gr.run_torch_worker(args)
    assert found == "the PyTorch worker failed (exit code 3): CUDA error: boom"
    results = gr.Results()
    gr.add_torch(results, found)
    assert results.doc["course_step_ms"]["torch_graph"] is None
    assert results.doc["missing"]["torch_update_vs_copy_100M"]["sgd_foreach"].endswith("boom")


@pytest.mark.skipif(gr.torch_problem(sys.executable) is not None,
                    reason="PyTorch is not installed for this Python")
def test_torch_worker_measures_the_cpu_peers(tmp_path):
    args = gr.parse_args(["--out", str(tmp_path / "r.json"), "--device", "cpu", "--quick",
                          "--data", "sample"])
    found = gr.run_torch_worker(args)
    assert isinstance(found, dict), found
    assert len(found["course_step_s"]["torch_eager"]) == 3
    assert "CUDA" in found["course_step_s"]["torch_graph"]
    assert 0.1 <= found["fashion"]["torch_eager"]["test_accuracy"] <= 1.0
    assert len(found["updates"]["adam"]["fused"]) == 3


def test_gpudnn_figures_are_on_disk_before_the_torch_worker_starts(tmp_path, monkeypatch):
    def stopped(args):  # the check's time limit kills the run inside the worker
        raise KeyboardInterrupt

    monkeypatch.setattr(gr, "run_torch_worker", stopped)
    monkeypatch.setattr(gr, "gpudnn_updates", lambda *a: None)  # not under test here
    out = tmp_path / "r.json"
    with pytest.raises(KeyboardInterrupt):
        gr.main(["--out", str(out), "--device", "cpu", "--quick", "--data", "sample"])
    doc = json.loads(out.read_text())
    assert doc["course_step_ms"]["gpudnn_eager"] > 0 and doc["fashion_test_acc"]["gpudnn_graph"]
    assert doc["course_step_ms"]["torch_graph"] is None
    assert doc["missing"]["course_step_ms"]["torch_graph"].endswith(gr.UNFINISHED)
    assert doc["missing"]["fashion_epoch_s"]["torch_eager"].endswith(gr.UNFINISHED)


class _FakeGraphs:
    """Stands in for CudaGraphs on the CPU (as in tests/test_recorded_step.py): a 'capture'
    replays the recorded calls, or fails like a refused capture."""

    def __init__(self, fail):
        self.fail = fail

    def warm(self, run_step):
        run_step()

    def capture(self, backend, run_step, calls):
        from gpudnn.backend.capture import RecordedStep
        from gpudnn.backend.cuda_graph import CaptureFailed

        if self.fail:
            raise CaptureFailed("NotImplementedError: an op that cannot be captured")
        return RecordedStep(calls)


@pytest.mark.parametrize("fail", [False, True])
def test_the_json_says_whether_the_step_ran_as_a_graph(monkeypatch, fail):
    pytest.importorskip("cupy")  # gpudnn.backend.cuda_graph imports it
    from gpudnn.backend.base import Backend

    fake = _FakeGraphs(fail)
    monkeypatch.setattr(Backend, "graphs", lambda self: fake if os.environ.get(
        "GPUDNN_CUDA_GRAPHS") == "1" else None)
    results = gr.Results()
    gr.gpudnn_course_step(results, "cpu", reps=3, round_s=0.0)
    path = results.doc["paths"]["course_step_gpudnn_graph"]
    if fail:
        assert path.startswith("recorded calls replayed") and "could not be captured" in path
    else:
        assert path.startswith("cuda graph (1 captured, ")
    assert set(results.doc["course_step_ms"]) == {"gpudnn_graph", "gpudnn_eager", "gemms_eager"}


def test_update_readme_replaces_only_the_marked_table(tmp_path, capsys):
    results = tmp_path / "r.json"
    results.write_text(json.dumps(_hand_made()))
    readme = tmp_path / "README.md"
    begin, end = tables.README_BEGIN, tables.README_END
    readme.write_text(f"# title\n\nbefore\n{begin}\n| old | table |\n{end}\nafter\n")
    assert gr.main(["--from-json", str(results), "--update-readme", str(readme)]) == 0
    text = readme.read_text()
    table = tables.readme_table(_hand_made())
    assert text == f"# title\n\nbefore\n{begin}\n{table}\n{end}\nafter\n"
    assert gr.main(["--from-json", str(results), "--update-readme", str(readme)]) == 0
    assert readme.read_text() == text  # idempotent
    readme.write_text("# no markers\n")
    assert gr.main(["--from-json", str(results), "--update-readme", str(readme)]) == 2
    assert "needs the GPU table's markers" in capsys.readouterr().err
    assert readme.read_text() == "# no markers\n"  # left as it was
