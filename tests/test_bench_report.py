"""bench.report builds its table from a pytest-benchmark JSON's extra_info (no timing here)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not an installed package

from bench import report  # noqa: E402
from bench.figures import rate  # noqa: E402


def _bench(**info):
    return {"name": info["figure"], "stats": {"median": 0.01}, "extra_info": info}


FAKE = {
    "machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2}, "python_version": "3.11"},
    "datetime": "2026-01-01T00:00:00",
    "benchmarks": [
        _bench(figure="train step B=128", device="cpu", unit="ms", ours=2.0, limit=1.6,
               limit_name="its 5 GEMMs", peer=4.0, peer_name="torch", peers={"torch": 4.0},
               gemm_share=0.8),
        _bench(figure="Adam update 407,050 params", device="cpu", unit="GB/s", ours=40.0,
               limit=50.0, limit_name="2-thread copy", peers={}),
        _bench(figure="GEMM 2048^3 (BLAS peak)", device="cpu", unit="GFLOP/s", ours=190.0,
               limit=200.0, limit_name="numpy.matmul", peer=100.0, peer_name="torch.matmul",
               peak_gflops=200.0, shape=[2048, 2048, 2048]),
        {"name": "unrelated", "extra_info": {}},
    ],
}


def test_rows_are_ordered_gemm_update_step_with_ratios():
    rows, notes = report.build_rows(FAKE)
    assert [r[0] for r in rows] == ["GEMM 2048^3 (BLAS peak) [GFLOP/s]",
                                    "Adam update 407,050 params [GB/s]", "train step B=128 [ms]"]
    gemm, update, step = rows
    assert gemm[1:] == ("190", "200 (numpy.matmul)", "0.95", "100 (torch.matmul)", "1.90")
    assert update[1:] == ("40.0", "50.0 (2-thread copy)", "0.80", "", "")
    assert step[1:] == ("2.00", "1.60 (its 5 GEMMs)", "1.25", "4.00 (torch)", "0.50")
    assert notes == ["BLAS peak estimate (cpu): 200 GFLOP/s at 2048^3",
                     "train step B=128 (cpu): 80 % of the step is its GEMMs"]


def test_markdown_and_text_tables(tmp_path, capsys):
    rows, _ = report.build_rows(FAKE)
    md = report.format_table(rows, markdown=True).splitlines()
    assert md[0] == "| figure | ours | limit | ratio | peer | ratio |"
    assert md[1].startswith("|---|") and len(md) == 2 + len(rows)
    text = report.format_table(rows).splitlines()
    assert text[0].split() == ["figure", "ours", "limit", "ratio", "peer", "ratio"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(FAKE))
    assert report.main([str(path), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| Adam update 407,050 params [GB/s] | 40.0 |" in out and "Test CPU" in out


def test_several_devices_are_named_and_empty_results_explained():
    two = dict(FAKE, benchmarks=FAKE["benchmarks"] + [_bench(
        figure="GEMM 8192^3 (BLAS peak)", device="cuda", unit="GFLOP/s", ours=4e4, limit=5e4,
        limit_name="cupy.matmul")])
    rows, _ = report.build_rows(two)
    assert rows[0][0].startswith("cpu: ") and rows[1][0] == "cuda: GEMM 8192^3 (BLAS peak) [GFLOP/s]"
    assert "no gpudnn benchmark figures" in report.report({"benchmarks": []})


def test_rate_units():
    assert rate(2e9, 0.5, "GFLOP/s") == 4.0
    assert rate(None, 0.002, "ms") == 2.0
