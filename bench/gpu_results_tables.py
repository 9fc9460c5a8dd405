"""Markdown from a ``docs/gpu-results.json`` document (written by :mod:`bench.gpu_results`):
every figure with its spread and the reasons for the n/a (``markdown``), the README's GPU table
with issue 8's targets (``readme_table``), and that table written between the README's markers
(``splice_readme``). Pure functions of the document: nothing is measured here.
"""

#: the document's keys, in the issue's order
STEP_KEYS = ("gpudnn_graph", "gpudnn_eager", "gemms_eager", "torch_eager", "torch_graph")
EPOCH_KEYS = ("gpudnn_graph", "gpudnn_eager", "torch_eager", "torch_graph")
#: our key -> bench.test_update's (and bench.peers') optimizer name
OPTIMIZER_KEYS = {"sgd": "SGD", "momentum": "SGD momentum", "rmsprop": "RMSprop",
                  "adagrad": "Adagrad", "adam": "Adam", "adamw": "AdamW"}
TORCH_VARIANTS = ("fused", "foreach")


def _fmt(value, digits):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _cell(doc, section, key, digits, scale=1.0):
    """The figure with its spread in brackets, or n/a."""
    value = doc.get(section, {}).get(key)
    if value is None:
        return "n/a"
    s = doc.get("spread", {}).get(section, {}).get(key)
    text = f"{value * scale:.{digits}f}"
    if s and s["min"] != s["max"]:
        text += f" ({s['min'] * scale:.{digits}f}–{s['max'] * scale:.{digits}f})"
    return text


def markdown(doc):
    """Every figure of a results document as Markdown tables, then the reasons for the n/a."""
    step = {"gpudnn_graph": "gpudnn, recorded step (CUDA graph)",
            "gpudnn_eager": "gpudnn, eager", "gemms_eager": "its 5 GEMMs alone, eager",
            "torch_eager": "PyTorch, eager, fused Adam",
            "torch_graph": "PyTorch, CUDA graph, capturable fused Adam"}
    lines = [f"# gpudnn GPU results: {doc.get('card')}", "",
             f"{doc.get('date')}, device {doc.get('device')}"
             f"{' (quick)' if doc.get('quick') else ''}; versions: "
             + ", ".join(f"{k} {v}" for k, v in doc.get("versions", {}).items())]
    if "course_step_ms" in doc:  # absent from a --section scaling run's own document
        lines += main_tables(doc, step)
    if doc.get("scaling"):
        lines += ["", *scaling_table(doc["scaling"])]
    missing = {}  # reason -> the figures it leaves n/a
    for section, keys in doc.get("missing", {}).items():
        for key, reason in keys.items():
            missing.setdefault(reason, []).append(f"{section}.{key}")
    paths = doc.get("paths", {})
    if paths or missing:
        lines.append("")
    lines += [f"- path of {k}: {v}" for k, v in paths.items()]
    lines += [f"- n/a ({', '.join(names)}): {reason}" for reason, names in missing.items()]
    return "\n".join(lines)


def main_tables(doc, step):
    """The course step, Fashion-MNIST and update tables."""
    lines = ["", "| course step, batch 128 | ms (min–max) |", "|---|---:|"]
    lines += [f"| {step[k]} | {_cell(doc, 'course_step_ms', k, 3)} |" for k in STEP_KEYS]
    lines += ["", "| Fashion-MNIST, course model | steady epoch, s (min–max) | test accuracy |",
              "|---|---:|---:|"]
    for k in EPOCH_KEYS:
        acc = doc.get("fashion_test_acc", {}).get(k)
        lines.append(f"| {step[k]} | {_cell(doc, 'fashion_epoch_s', k, 3)} | "
                     f"{'n/a' if acc is None else f'{100 * acc:.2f} %'} |")
    n = doc.get("settings", {}).get("update_params")
    lines += ["", f"| update of {n:,} params / copy of the same bytes | gpudnn | torch fused | "
              "torch foreach |" if n else "| update / copy of the same bytes | gpudnn | "
              "torch fused | torch foreach |", "|---|---:|---:|---:|"]
    for k, name in OPTIMIZER_KEYS.items():
        lines.append(f"| {name} | {_cell(doc, 'update_vs_copy_100M', k, 2)} | "
                     + " | ".join(_cell(doc, "torch_update_vs_copy_100M", f"{k}_{v}", 2)
                                  for v in TORCH_VARIANTS) + " |")
    return lines


SCALING_HEADING = "### How the step's cost grows with work (scaling)"
SCALING_IMPLS = ("gpudnn_eager", "gpudnn_graph", "torch_eager", "torch_graph")


def _scaling_cell(row, impl):
    """ms (min–max) and TFLOP/s of one path in one row, or n/a."""
    value = row["step_ms"].get(impl)
    if value is None:
        return "n/a"
    s = row.get("spread", {}).get(impl)
    text = f"{value:.3f}"
    if s and s["min"] != s["max"]:
        text += f" ({s['min']:.3f}–{s['max']:.3f})"
    return f"{text}, {row['tflops'][impl]:.3g}"


def scaling_table(scaling):
    """The scaling section as a Markdown table (ms per step and TFLOP/s per path, gpudnn /
    PyTorch, launch- or compute-bound), then the reasons for its n/a."""
    settings = scaling.get("settings", {})
    lines = [SCALING_HEADING, "",
             f"784 → Dense(H, relu) → Dense(10, softmax), Adam, one batch of B on the device. "
             f"Each path: ms per step (min–max), achieved TFLOP/s of the step's 5 GEMMs. "
             f"Compute-bound: the graph saves under {100 * settings.get('launch_saving', 0.1):.0f}"
             f" % of the eager step. Target at compute-bound sizes: gpudnn / PyTorch ≤ "
             f"{settings.get('target_ratio', 1.05):.2f}×.", "",
             "| H | B | TF32 | GEMM GFLOP | gpudnn eager | gpudnn graph | PyTorch eager | "
             "PyTorch graph | gpudnn / PyTorch, eager / graph | bound |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|"]
    missing = {}
    for row in scaling.get("rows", []):
        ratios = " / ".join(_fmt(row["gpudnn_over_torch"].get(m), 2) for m in ("eager", "graph"))
        lines.append(f"| {row['hidden']} | {row['batch']} | {'on' if row['tf32'] else 'off'} | "
                     f"{row['gemm_flops'] / 1e9:.3g} | "
                     + " | ".join(_scaling_cell(row, impl) for impl in SCALING_IMPLS)
                     + f" | {ratios} | {row.get('bound') or 'n/a'} |")
        for impl, reason in row.get("missing", {}).items():
            missing.setdefault(reason, []).append(f"{row['key']}.{impl}")
    worst, at, pair, count = worst_compute_bound(scaling)
    lines.append("")
    if worst is None:
        lines.append("- compute-bound sizes, gpudnn / PyTorch: n/a (no compute-bound row with "
                     "both sides measured)")
    else:
        lines.append(f"- compute-bound sizes ({count} rows), worst gpudnn / PyTorch: "
                     f"{worst:.2f}× ({pair}, H {at['hidden']}, B {at['batch']}, TF32 "
                     f"{'on' if at['tf32'] else 'off'}; target ≤ "
                     f"{settings.get('target_ratio', 1.05):.2f}×)")
    for reason, names in missing.items():
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        lines.append(f"- n/a ({shown}): {reason}")
    return lines


def worst_compute_bound(scaling):
    """(worst gpudnn / PyTorch ratio over the compute-bound rows, its row, the pair "eager" or
    "graph", the number of compute-bound rows); the ratio is None when there is none."""
    worst, at, pair, count = None, None, None, 0
    for row in (scaling or {}).get("rows", []):
        if row.get("bound") != "compute":
            continue
        count += 1
        for mode, value in row.get("gpudnn_over_torch", {}).items():
            if value is not None and (worst is None or value > worst):
                worst, at, pair = value, row, mode
    return worst, at, pair, count


def readme_table(doc):
    """The README's GPU table: the issue-8 figures with the targets they are held to."""
    step, epoch = doc.get("course_step_ms", {}), doc.get("fashion_epoch_s", {})
    acc = doc.get("fashion_test_acc", {})

    def ratio(a, b):
        return "n/a" if a is None or b is None else f"{a / b:.2f}×"

    def percent(value):
        return "n/a" if value is None else f"{100 * value:.2f} %"

    updates = doc.get("update_vs_copy_100M", {})
    worst = min((v for v in updates.values() if v is not None), default=None)
    n = doc.get("settings", {}).get("update_params") or 0
    last = doc.get("settings", {}).get("epochs")
    epochs = f"epochs 2–{last}" if last and last > 2 else "epoch 2"
    return "\n".join([
        f"| {doc.get('card')}, {str(doc.get('date'))[:10]} (`docs/gpu-results.json`) | "
        "gpudnn | PyTorch (own process, fused Adam, eps 1e-7) | target |",
        "|---|---:|---:|---|",
        "| course step, batch 128, CUDA graph, ms | "
        f"{_cell(doc, 'course_step_ms', 'gpudnn_graph', 3)}"
        f" | {_cell(doc, 'course_step_ms', 'torch_graph', 3)} | ≤ 0.08 ms and ≤ 0.6× PyTorch "
        f"(now {ratio(step.get('gpudnn_graph'), step.get('torch_graph'))}) |",
        f"| course step, eager, ms (its 5 GEMMs alone: "
        f"{_cell(doc, 'course_step_ms', 'gemms_eager', 3)}) | "
        f"{_cell(doc, 'course_step_ms', 'gpudnn_eager', 3)} | "
        f"{_cell(doc, 'course_step_ms', 'torch_eager', 3)} | |",
        f"| Fashion-MNIST epoch ({epochs}), CUDA graph, s | "
        f"{_cell(doc, 'fashion_epoch_s', 'gpudnn_graph', 3)}"
        f" | {_cell(doc, 'fashion_epoch_s', 'torch_graph', 3)} | ≤ 0.04 s and ≤ 0.6× PyTorch "
        f"(now {ratio(epoch.get('gpudnn_graph'), epoch.get('torch_graph'))}) |",
        f"| Fashion-MNIST epoch ({epochs}), eager, s | "
        f"{_cell(doc, 'fashion_epoch_s', 'gpudnn_eager', 3)} | "
        f"{_cell(doc, 'fashion_epoch_s', 'torch_eager', 3)} | |",
        f"| test accuracy after the epochs (one run each), CUDA graph / eager | "
        f"{percent(acc.get('gpudnn_graph'))} / "
        f"{percent(acc.get('gpudnn_eager'))} | {percent(acc.get('torch_graph'))} / "
        f"{percent(acc.get('torch_eager'))} | same ±0.5 pt |",
        f"| optimizer update / copy of the same bytes, {n:,} params, worst of 6 | "
        f"{_fmt(worst, 2)} | | ≥ 0.90 |",
        scaling_readme_row(doc.get("scaling")),
    ])


def scaling_readme_row(scaling):
    """The README row of the scaling section: the worst gpudnn / PyTorch at compute-bound sizes."""
    settings = (scaling or {}).get("settings", {})
    widths, batches = settings.get("widths") or ["?"], settings.get("batches") or ["?"]
    sizes = f"H {widths[0]}–{widths[-1]} × B {batches[0]}–{batches[-1]} × TF32 off/on"
    target = f"≤ {settings.get('target_ratio', 1.05):.2f}×"
    worst, at, pair, count = worst_compute_bound(scaling)
    if worst is None:
        return (f"| step at compute-bound sizes ({sizes}), gpudnn / PyTorch, worst | n/a | | "
                f"{target} |")
    return (f"| step at compute-bound sizes ({count} rows of {sizes}), gpudnn / PyTorch, worst | "
            f"{worst:.2f}× ({pair}, H {at['hidden']}, B {at['batch']}, TF32 "
            f"{'on' if at['tf32'] else 'off'}) | | {target} |")


README_BEGIN = "<!-- gpu-results: python -m bench.gpu_results --from-json docs/gpu-results.json " \
               "--update-readme README.md -->"
README_END = "<!-- /gpu-results -->"


def splice_readme(text, table):
    """``text`` with the lines between README_BEGIN and README_END replaced by ``table``;
    ValueError naming the markers when they are not there once each, in order."""
    begin, end = text.count(README_BEGIN), text.count(README_END)
    if begin != 1 or end != 1 or text.index(README_BEGIN) > text.index(README_END):
        raise ValueError(f"the README needs the GPU table's markers once each, in order: a line "
                         f"{README_BEGIN} and, after it, a line {README_END}")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    return f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}"
