"""``python -m bench.report [results.json ...] [--device cpu|cuda] [--quick] [--markdown]``

With no file, runs the suites (pytest with ``--benchmark-json`` to a temporary file, or to
``--json PATH``; other arguments such as ``-k Adam`` go to pytest) and then prints one table;
with pytest-benchmark JSON files, prints their table (several files: the median of each figure
over the runs, and each ratio's spread as ``median (min-max)``):

    figure | ours | limit | ratio | peer | ratio

Each row is one benchmark's ``extra_info`` (see ``bench.figures``): ours, the limit measured in
the same run (raw BLAS for a GEMM, a plain copy of the same bytes for an update, the step's own
GEMMs for a training step), ours / limit, the best peer, and ours / peer. Ratios are in the
figure's unit: for GFLOP/s and GB/s above 1 is faster, for ms below 1 is faster.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path


HEADER = ("figure", "ours", "limit", "ratio", "peer", "ratio")
_SECTION = {"GFLOP/s": 0, "GB/s": 1, "ms": 2}
LEGEND = ("ratio = ours / limit and ours / peer in the figure's unit (GFLOP/s, GB/s: higher is "
          "faster; ms: lower is faster). Limits, measured in the same run: GEMM = raw "
          "numpy.matmul/cupy.matmul on the same operands; update = a plain copy of the same bytes "
          "(the faster of 1 and 2 threads on the CPU); train step = its own 5 GEMMs alone.")


def number(value):
    """A short human figure: 3 significant digits, no exponent."""
    if value is None:
        return ""
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(values):
    """``median`` of the ratios, with ``(min-max)`` when there are several runs."""
    values = [v for v in values if v is not None]
    if not values:
        return ""
    text = f"{statistics.median(values):.2f}"
    return text if len(values) == 1 else f"{text} ({min(values):.2f}-{max(values):.2f})"


def combine(runs):
    """One ``extra_info`` per figure from several runs' JSON dicts: each figure the median over
    the runs; ``ratios`` / ``peer_ratios`` keep every run's ratio for the spread."""
    groups = {}
    for data in runs:
        for bench in data.get("benchmarks", []):
            info = bench.get("extra_info", {})
            if "figure" in info and "ours" in info:
                groups.setdefault((info.get("device"), info["figure"]), []).append(info)
    combined = []
    for infos in groups.values():
        info = dict(infos[0])
        for key in ("ours", "limit", "peer", "peak_gflops", "gemm_share"):
            values = [i[key] for i in infos if i.get(key) is not None]
            if values:
                info[key] = statistics.median(values)
        info["ratios"] = [i["ours"] / i["limit"] for i in infos if i.get("limit")]
        info["peer_ratios"] = [i["ours"] / i["peer"] for i in infos if i.get("peer")]
        combined.append(info)
    return combined


def build_rows(data):
    """Table rows (tuples of str, see HEADER) from a pytest-benchmark JSON dict (or a list of
    them: several runs of the same suites), plus notes."""
    infos = combine(data if isinstance(data, list) else [data])
    infos.sort(key=lambda i: _SECTION.get(i.get("unit"), 3))  # stable: keeps run order inside
    several = len({i.get("device") for i in infos}) > 1
    rows, peaks, shares = [], {}, []
    for info in infos:
        unit = info["unit"]
        figure = f"{info['figure']} [{unit}]"
        if several:
            figure = f"{info.get('device')}: {figure}"
        ours, limit, peer = info["ours"], info.get("limit"), info.get("peer")
        rows.append((
            figure,
            number(ours),
            f"{number(limit)} ({info.get('limit_name')})" if limit else "",
            _ratio(info["ratios"]),
            f"{number(peer)} ({info.get('peer_name')})" if peer else "",
            _ratio(info["peer_ratios"]),
        ))
        if "gemm_share" in info:
            shares.append(f"{info['figure']} ({info.get('device')}): {100 * info['gemm_share']:.0f} % "
                          f"of the step is its GEMMs")
        if "peak_gflops" in info:
            peaks[info.get("device")] = (info["peak_gflops"], info.get("shape", ["?"])[0])
    notes = [f"BLAS peak estimate ({dev}): {number(g)} GFLOP/s at {n}^3" for dev, (g, n) in peaks.items()]
    return rows, notes + shares


def format_table(rows, markdown=False):
    """The rows under HEADER as a Markdown table or as aligned plain text."""
    table = [HEADER] + list(rows)
    if markdown:
        lines = ["| " + " | ".join(r) + " |" for r in table]
        lines.insert(1, "|" + "|".join(["---"] + ["---:"] * (len(HEADER) - 1)) + "|")
        return "\n".join(lines)
    widths = [max(len(r[c]) for r in table) for c in range(len(HEADER))]
    fmt = lambda r: "  ".join(s.ljust(w) if c == 0 else s.rjust(w)
                              for c, (s, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(table[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def machine_line(data):
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {})
    parts = [cpu.get("brand_raw") or m.get("processor"), f"{cpu.get('count', '?')} CPUs",
             f"python {m.get('python_version', '?')}", data.get("datetime", "")[:19]]
    extra = m.get("gpudnn", {})
    parts += [f"{k} {v}" for k, v in extra.items()]
    return "machine: " + ", ".join(str(p) for p in parts if p)


def report(data, markdown=False):
    """The whole printed report of a benchmark JSON dict, or of a list of them (several runs)."""
    runs = data if isinstance(data, list) else [data]
    rows, notes = build_rows(runs)
    if not rows:
        return "no gpudnn benchmark figures in these results (were all cases skipped?)"
    sep = "\n\n" if markdown else "\n"
    header = [f"median of {len(runs)} runs; ratio spread (min-max) in brackets"] if len(runs) > 1 else []
    return sep.join([*header, format_table(rows, markdown), *notes, LEGEND,
                     *[machine_line(d) for d in runs]])


def run_suites(json_path, device, quick, extra):
    """Run bench/ under pytest, writing the benchmark JSON to ``json_path``; pytest's exit code."""
    import pytest

    args = [str(Path(__file__).resolve().parent), "-q", f"--benchmark-json={json_path}",
            "--benchmark-columns=median,rounds", "--device", device, *extra]
    if quick:
        args.append("--quick")
    return pytest.main(args)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="*", help="pytest-benchmark JSON files to print")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cpu,cuda (when running)")
    parser.add_argument("--quick", action="store_true", help="few rounds, small sizes (when running)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", help="keep the JSON of the run here (default: a temporary file)")
    args, extra = parser.parse_known_args(argv)
    # a pytest option's value (``-k "update or step"``) lands among the results: keep it there
    paths = [r for r in args.results if r.endswith(".json")]
    extra += [r for r in args.results if not r.endswith(".json")]
    code = 0
    if not paths:
        path = args.json or os.path.join(tempfile.mkdtemp(prefix="gpudnn-bench-"), "bench.json")
        code = run_suites(path, args.device, args.quick, extra)
        if not os.path.exists(path) or not os.path.getsize(path):
            print(f"the benchmark run wrote no results (pytest exit code {code})", file=sys.stderr)
            return int(code) or 1
        print()
        paths = [path]
    elif extra:
        parser.error(f"unknown arguments {extra} (pytest arguments only go with a run)")
    runs = []
    for path in paths:
        try:
            with open(path) as fh:
                runs.append(json.load(fh))
        except (OSError, ValueError) as exc:
            print(f"cannot read benchmark results {path!r}: {exc}", file=sys.stderr)
            return 2
    print(report(runs if len(runs) > 1 else runs[0], args.markdown))
    return 0 if int(code) in (0, 5) else int(code)


if __name__ == "__main__":
    sys.exit(main())
