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
from bench import gpu_scaling as gs  # noqa: E402

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
        every = doc["fashion_every_epoch_s"][key]  # the first epoch kept too (2 in quick mode)
        assert len(every) == 2 and doc["fashion_epoch_s"][key] == every[1]
    for key in ISSUE_KEYS["update_vs_copy_100M"]:
        assert doc["spread"]["update_vs_copy_100M"][key]["n"] >= 3
    # the CPU has no CUDA graphs: the recorded calls were replayed, and the JSON says so
    assert doc["paths"]["course_step_gpudnn_graph"].startswith("recorded calls replayed")
    # no torch: every peer figure is null with the reason
    for section, key in (("course_step_ms", "torch_eager"), ("fashion_epoch_s", "torch_graph"),
                         ("torch_update_vs_copy_100M", "adam_fused")):
        assert doc[section][key] is None
        assert "cannot import torch" in doc["missing"][section][key]
    # the scaling section: every configuration, cheapest first, a number or null + reason
    scaling = doc["scaling"]
    assert scaling["settings"]["widths"] == [16, 32] and scaling["settings"]["batches"] == [8, 16]
    rows = scaling["rows"]
    assert [(r["hidden"], r["batch"], r["tf32"]) for r in rows] == gs.configs(quick=True)
    assert len(rows) == 8
    for row in rows:
        assert row["gemm_flops"] == 2 * row["batch"] * row["hidden"] * (2 * 784 + 3 * 10)
        assert set(row["step_ms"]) == set(gs.IMPLS)
        for impl in gs.IMPLS:
            value = row["step_ms"][impl]
            if value is None:
                assert row["tflops"][impl] is None and len(row["missing"][impl]) > 10
            else:
                s = row["spread"][impl]
                assert s["n"] >= 3 and s["min"] <= value <= s["max"]
                assert row["tflops"][impl] == pytest.approx(row["gemm_flops"] / value / 1e9)
        if row["tf32"]:  # no TF32 on the CPU: said, not measured
            assert row["missing"]["gpudnn_eager"] == gs.NO_TF32_ON_CPU
            assert row["missing"]["gpudnn_graph"] == gs.NO_TF32_ON_CPU
        else:  # gpudnn always measured; no torch here
            assert row["step_ms"]["gpudnn_eager"] > 0 and row["step_ms"]["gpudnn_graph"] > 0
            assert "cannot import torch" in row["missing"]["torch_graph"]
            assert row["gpudnn_over_torch"] == {"eager": None, "graph": None}
            assert row["bound"] in ("launch", "compute")
            assert row["path_gpudnn_graph"].startswith("recorded calls replayed")
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "| gpudnn, eager |" in printed
    assert tables.SCALING_HEADING in printed and "| 32 | 16 | off |" in printed
    # one line in the main list, one under the scaling table, each naming the figures it cost
    assert printed.count("cannot import torch") == 2


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
    # 3 warm-up calls each, then 3 alternating rounds of k=1 (round_s 0): a b a b a b
    assert calls[6:] == ["a", "b", "a", "b", "a", "b"]
    assert syncs[-2:] == [11, 12]  # a sync before and after each round
    with pytest.raises(ValueError, match="at least 2 epochs"):
        gr.steady_epochs([1.0])


def _hand_made():
    doc = {"card": "NVIDIA H200", "device": "cuda", "quick": False,
           "date": "2026-11-28T05:00:00+00:00", "versions": {"cupy": "14.2", "torch": "2.11"},
           "settings": {"update_params": 100_000_000, "epochs": 4},
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
    assert lines[0] == ("| NVIDIA H200, 2026-11-28 (`docs/gpu-results.json`) | gpudnn | "
                        "PyTorch (own process, fused Adam, eps 1e-7) | target |")
    assert lines[1] == "|---|---:|---:|---|"
    assert "| course step, batch 128, CUDA graph, ms | 0.062 (0.061–0.064) | 0.145 |" in table
    assert "(now 0.43×)" in table  # 0.062 / 0.145
    assert "(now 0.53×)" in table  # 0.035 / 0.066
    assert ("| test accuracy after the epochs (one run each), CUDA graph / eager | 88.12 % / "
            "88.09 % | n/a / 87.90 % |") in table
    assert "| Fashion-MNIST epoch (epochs 2–4), CUDA graph, s | 0.035" in table
    quick = dict(_hand_made(), settings={"update_params": 1_000_000, "epochs": 2})
    assert "| Fashion-MNIST epoch (epoch 2), CUDA graph, s |" in tables.readme_table(quick)
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
    scaling = found["scaling"]
    assert set(scaling) == {gs.key_of(h, b, t) for h, b, t in gs.configs(quick=True)}
    assert len(scaling["h32_b16_tf32_off"]["torch_eager"]) == 3
    assert "CUDA" in scaling["h32_b16_tf32_off"]["torch_graph"]
    assert scaling["h16_b8_tf32_on"]["torch_eager"] == gs.NO_TF32_ON_CPU


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


# ------------------------------------------------------------------ the scaling section
def test_step_flops_counts_the_five_gemms_of_a_real_step():
    from bench.test_train_step import step_gemms

    for hidden, batch in ((16, 8), (32, 16)):
        model = gs.gpudnn_model("cpu", hidden)
        ws = model._workspace(batch, with_grads=True)
        assert gs.step_flops(hidden, batch) == step_gemms(model, ws)[1]
    assert gs.step_flops(512, 128) == 2 * 128 * 512 * 1598


def test_configs_run_cheapest_first_and_the_largest_last():
    full = gs.configs(quick=False)
    assert len(full) == 18 and len(set(full)) == 18
    assert {(h, b) for h, b, _ in full} == {(h, b) for h in (512, 2048, 8192)
                                            for b in (128, 1024, 8192)}
    flops = [gs.step_flops(h, b) for h, b, _ in full]
    assert flops == sorted(flops)
    assert full[0] == (512, 128, False) and full[-2:] == [(8192, 8192, False),
                                                           (8192, 8192, True)]


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_budget_skips_what_would_pass_it_and_a_failure_costs_one_row(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(gs.time, "perf_counter", clock)
    measured = []

    def one(hidden, batch, tf32):  # a configuration costs 1 s per MFLOP on the fake clock
        measured.append((hidden, batch, tf32))
        clock.now += gs.step_flops(hidden, batch) / 1e6
        if (hidden, batch) == (16, 16):
            raise MemoryError("out of memory")
        return {"gpudnn_eager": [1e-3] * 3, "gpudnn_graph": [5e-4] * 3}, "a path"

    # costs 0.41 (TF32 off), 0.41 (on), 0.82 (fails) s: 1.64 s spent, the next predicted at
    # 0.82 s (the last one's, same FLOPs) would pass 2.1 s; everything after it is bigger
    out, notes = gs.measure_side("gpudnn", gs.GPUDNN_IMPLS, one, "cuda", True, 2.1)
    assert measured == [(16, 8, False), (16, 8, True), (16, 16, False)]
    assert out["h16_b8_tf32_on"]["gpudnn_eager"] == [1e-3] * 3
    assert out["h16_b16_tf32_off"]["gpudnn_graph"] == "failed: MemoryError: out of memory"
    assert out["h16_b16_tf32_on"]["gpudnn_graph"] == (
        "skipped: gpudnn's scaling budget of 2.1 s (1.6 s spent, this one predicted at 0.8 s)")
    for key in ("h32_b8_tf32_off", "h32_b16_tf32_on"):
        assert out[key]["gpudnn_eager"].startswith("skipped: gpudnn's scaling budget of 2.1 s")
    assert notes == {"h16_b8_tf32_off": "a path", "h16_b8_tf32_on": "a path"}
    # on the CPU the TF32 rows are never measured
    measured.clear()
    clock.now = 0.0
    out, _ = gs.measure_side("gpudnn", gs.GPUDNN_IMPLS, one, "cpu", True, 1e9)
    assert all(not tf32 for _, _, tf32 in measured) and len(measured) == 4
    assert out["h32_b16_tf32_on"] == dict.fromkeys(gs.GPUDNN_IMPLS, gs.NO_TF32_ON_CPU)


def test_section_ratios_tflops_and_bound_from_hand_made_times():
    ours = {"h16_b8_tf32_off": {"gpudnn_eager": [2e-3, 1e-3, 3e-3], "gpudnn_graph": [1e-3] * 3},
            "h16_b16_tf32_off": {"gpudnn_eager": [1e-3] * 3, "gpudnn_graph": [0.95e-3] * 3}}
    theirs = {"h16_b8_tf32_off": {"torch_eager": [4e-3] * 3, "torch_graph": "needs CUDA"},
              "h16_b16_tf32_off": {"torch_eager": [1e-3] * 3, "torch_graph": [0.9e-3] * 3}}
    section = gs.section(True, ours, {"h16_b8_tf32_off": "cuda graph (1 captured)"}, theirs)
    rows = {r["key"]: r for r in section["rows"]}
    small, big = rows["h16_b8_tf32_off"], rows["h16_b16_tf32_off"]
    assert small["step_ms"]["gpudnn_eager"] == pytest.approx(2.0)  # median, in ms
    assert small["spread"]["gpudnn_eager"] == pytest.approx({"min": 1.0, "max": 3.0, "n": 3})
    assert small["tflops"]["gpudnn_graph"] == pytest.approx(gs.step_flops(16, 8) / 1e-3 / 1e12)
    assert small["gpudnn_over_torch"]["eager"] == pytest.approx(0.5)
    assert small["gpudnn_over_torch"]["graph"] is None
    assert small["missing"]["torch_graph"] == "needs CUDA"
    assert small["bound"] == "launch"  # the graph saves 50 %
    assert small["path_gpudnn_graph"] == "cuda graph (1 captured)"
    assert big["bound"] == "compute"  # the graph saves 5 %, under 10 %
    assert big["gpudnn_over_torch"]["graph"] == pytest.approx(0.95 / 0.9)
    # a side that did not run: its reason on each of its figures
    rows = gs.section(True, ours, {}, "PyTorch peer unavailable: no torch")["rows"]
    assert all(r["missing"]["torch_eager"] == "PyTorch peer unavailable: no torch" for r in rows)
    assert gs.bound({"gpudnn_eager": 1.0, "gpudnn_graph": None, "torch_eager": 1.0,
                     "torch_graph": 0.5}) == "launch"  # PyTorch's pair when gpudnn's is missing
    assert gs.bound(dict.fromkeys(gs.IMPLS)) is None


def _scaling_row(hidden, batch, tf32, step_ms, bound, missing=None):
    flops = gs.step_flops(hidden, batch)
    return {"key": gs.key_of(hidden, batch, tf32), "hidden": hidden, "batch": batch,
            "tf32": tf32, "gemm_flops": flops, "step_ms": step_ms, "spread": {},
            "tflops": {k: None if v is None else flops / v / 1e9 for k, v in step_ms.items()},
            "missing": missing or {},
            "gpudnn_over_torch": {m: None if step_ms[f"torch_{m}"] is None else
                                  step_ms[f"gpudnn_{m}"] / step_ms[f"torch_{m}"]
                                  for m in ("eager", "graph")}, "bound": bound}


def _hand_made_scaling():
    return {"settings": {"widths": [512, 2048, 8192], "batches": [128, 1024, 8192],
                         "launch_saving": 0.1, "target_ratio": 1.05},
            "rows": [_scaling_row(512, 128, False, {"gpudnn_eager": 0.5, "gpudnn_graph": 0.06,
                                                    "torch_eager": 1.2, "torch_graph": 0.15},
                                  "launch"),
                     _scaling_row(8192, 8192, False, {"gpudnn_eager": 4.2, "gpudnn_graph": 4.1,
                                                      "torch_eager": 4.0, "torch_graph": 4.0},
                                  "compute"),
                     _scaling_row(8192, 8192, True, {"gpudnn_eager": 1.1, "gpudnn_graph": 1.0,
                                                     "torch_eager": None, "torch_graph": None},
                                  "compute", {"torch_eager": "skipped: torch's budget",
                                              "torch_graph": "skipped: torch's budget"})]}


def test_scaling_table_and_readme_row_from_a_hand_made_section():
    doc = _hand_made()
    doc["scaling"] = _hand_made_scaling()
    text = tables.markdown(doc)
    assert tables.SCALING_HEADING in text
    # 2 * 8192 * 8192 * 1598 flops = 214 GFLOP; at 4.1 ms that is 52.3 TFLOP/s
    assert ("| 8192 | 8192 | off | 214 | 4.200, 51.1 | 4.100, 52.3 | 4.000, 53.6 | 4.000, 53.6 "
            "| 1.05 / 1.02 | compute |") in text
    assert "| 512 | 128 | off | 0.209 | 0.500, 0.419 |" in text
    assert "| n/a / n/a | compute |" in text
    assert ("- compute-bound sizes (2 rows), worst gpudnn / PyTorch: 1.05× (eager, H 8192, "
            "B 8192, TF32 off; target ≤ 1.05×)") in text
    assert ("- n/a (h8192_b8192_tf32_on.torch_eager, h8192_b8192_tf32_on.torch_graph): "
            "skipped: torch's budget") in text
    table = tables.readme_table(doc)
    assert ("| step at compute-bound sizes (2 rows of H 512–8192 × B 128–8192 × TF32 "
            "off/on), gpudnn / PyTorch, worst | 1.05× (eager, H 8192, B 8192, TF32 off) | | "
            "≤ 1.05× |") in table
    assert all(line.startswith("|") and line.endswith("|") for line in table.splitlines())
    assert "| n/a | | ≤ 1.05× |" in tables.readme_table(_hand_made())


def test_section_scaling_adds_to_the_run_already_in_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gs, "QUICK_SIZES", ((16,), (8,)))  # one size: this test is about files
    out = tmp_path / "r.json"
    before = dict(_hand_made(), device="cpu", quick=True)
    out.write_text(json.dumps(before))
    argv = ["--out", str(out), "--device", "cpu", "--quick", "--section", "scaling",
            "--torch-python", NO_TORCH, "--markdown"]
    assert gr.main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["course_step_ms"] == before["course_step_ms"]  # the main run kept
    assert doc["versions"]["torch"] == "2.11" and doc["versions"]["numpy"]
    assert [r["key"] for r in doc["scaling"]["rows"]] == ["h16_b8_tf32_off", "h16_b8_tf32_on"]
    assert doc["scaling"]["rows"][0]["step_ms"]["gpudnn_graph"] > 0
    printed = capsys.readouterr().out
    assert tables.SCALING_HEADING in printed and "| 16 | 8 | off |" in printed
    assert "course step" not in printed  # the main run's tables are the gpu-results stage's
    # a file of another device's run is replaced, not merged: only the scaling section
    out.write_text(json.dumps(_hand_made()))  # device cuda
    assert gr.main(argv) == 0
    doc = json.loads(out.read_text())
    assert "course_step_ms" not in doc and doc["device"] == "cpu" and doc["scaling"]["rows"]
    text = tables.markdown(doc)
    assert "course step" not in text and tables.SCALING_HEADING in text
