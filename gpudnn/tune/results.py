"""A finished sweep's results: one row per trial, best first, written as a text table, CSV,
JSON and two PNGs (accuracy against learning rate per optimizer; the best trials' curves)."""

import csv
import io
import json
import math
import os

from ..saving import atomic_write
from .progress import trial_label
from .space import METRIC, train_command

COLUMNS = ("rank", "trial", "optimizer", "lr", "activation", "seed", "epochs_done", "test_accuracy",
           "test_loss", "loss", "accuracy", "status", "command")
BEST_CURVES = 5


def rows(result_grid, spec):
    """One dict per trial, ranked: trials that ran every epoch by test accuracy (highest first),
    then those a scheduler stopped early, then the diverged ones, then the failed ones. Each has
    its per-epoch ``history`` and the ``gpudnn train`` command that reproduces its accuracy
    (with the epochs it ran)."""
    found = []
    for result in result_grid:
        config, metrics = result.config or {}, result.metrics or {}
        history = []
        frame = result.metrics_dataframe
        if frame is not None and len(frame):
            keep = [c for c in ("epoch", "loss", "accuracy", "test_loss", "test_accuracy")
                    if c in frame.columns]
            by_epoch = {}  # an epoch reported again (a resumed sweep) counts once
            for record in frame[keep].to_dict("records"):
                by_epoch[record.get("epoch")] = {k: _number(v) for k, v in record.items()}
            history = list(by_epoch.values())
        status = "failed" if result.error is not None else \
            "diverged" if metrics.get("diverged") else \
            "stopped early" if metrics.get("epoch", spec.epochs) < spec.epochs else "done"
        found.append({
            "trial": os.path.basename(result.path or "") or "?", "optimizer": config.get("optimizer"),
            "lr": config.get("lr"), "activation": config.get("activation"),
            "seed": config.get("seed"), "epochs_done": metrics.get("epoch", 0),
            "test_accuracy": _number(metrics.get("test_accuracy")),
            "test_loss": _number(metrics.get("test_loss")), "loss": _number(metrics.get("loss")),
            "accuracy": _number(metrics.get("accuracy")), "status": status,
            "command": train_command({**config, "epochs": metrics.get("epoch", 0)},
                                     _threads(metrics.get("cpu_threads")))
            if config else "", "history": history, "device": metrics.get("device"),
            "label": trial_label(config) if config else "?",
            "error": None if result.error is None else _first_line(result.error)})
    order = {"done": 0, "stopped early": 1, "diverged": 2, "failed": 3}
    found.sort(key=lambda r: (order[r["status"]], -(r["test_accuracy"] or -1.0)))
    for rank, row in enumerate(found, start=1):
        row["rank"] = rank
    return found


def _threads(value):
    number = _number(value)
    return int(number) if number else None


def _first_line(error):
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(error).__name__


def _number(value):
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def table(found):
    """The text table of the trials, best first."""
    headers = ["#", "optimizer", "lr", "activation", "seed", "epochs", "test acc %", "loss",
               "status"]
    cells = [headers] + [[str(r["rank"]), r["optimizer"], _rate(r["lr"]), r["activation"],
                          str(r["seed"]), str(r["epochs_done"]), _percent(r["test_accuracy"]),
                          "-" if r["loss"] is None else f"{r['loss']:.4f}", r["status"]]
                         for r in found]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i in (0, 2, 4, 5, 6, 7) else c.ljust(w)
                       for i, (c, w) in enumerate(zip(row, widths))).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _rate(lr):
    return "default" if lr is None else f"{lr:.3g}"


def _percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.2f}"


def write_files(found, spec, out):
    """``results.csv``, ``results.json`` and the PNGs (where matplotlib is installed) in
    ``out``; returns the paths written."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(found)
    paths = [os.path.join(out, "results.csv"), os.path.join(out, "results.json")]
    atomic_write(paths[0], lambda f: f.write(text.getvalue().encode()))
    document = {"metric": METRIC, "spec": spec.to_json(), "trials": found}
    atomic_write(paths[1], lambda f: f.write(json.dumps(document, indent=1).encode()))
    from ..utils import plots

    try:
        paths.append(plots.sweep_learning_rates(found, os.path.join(out, "accuracy-vs-lr.png")))
        paths.append(plots.sweep_curves(found[:BEST_CURVES], os.path.join(out, "best-trials.png")))
    except plots.PlotsUnavailable:
        pass
    return paths
