"""PNG figures of the experiments, drawn with matplotlib (the ``plot`` extra), imported lazily.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no global state, no display
needed) and written as PNG. Without matplotlib, every function raises :class:`PlotsUnavailable`,
whose message says how to get the pictures; the command prints it and carries on.
"""

import math

INSTALL_LINE = "install gpudnn[plot] for the PNG (pip install 'gpudnn[plot]')"


class PlotsUnavailable(ImportError):
    """matplotlib is not installed."""


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotsUnavailable(f"matplotlib is not installed: {INSTALL_LINE}") from exc
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _epochs(result):
    return list(range(1, result.epochs_done + 1))


def _curves(ax, results, attribute, ylabel, log=False):
    for result in results:
        ax.plot(_epochs(result), getattr(result, attribute), marker="o", markersize=3,
                label=result.choice)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.xaxis.get_major_locator().set_params(integer=True)


def learning_curves(results, path, title):
    """Training loss and accuracy against epoch, one line per run; written to ``path`` (PNG)."""
    fig = _figure(11, 4.2)
    loss_ax, acc_ax = fig.subplots(1, 2)
    _curves(loss_ax, results, "loss", "training loss")
    _curves(acc_ax, results, "accuracy", "training accuracy")
    acc_ax.legend(loc="lower right")
    fig.suptitle(title)
    fig.savefig(path, format="png")
    return path


def gradient_norms(results, path, title):
    """Mean gradient norm per layer (log scale) and training loss per epoch, one line per run."""
    fig = _figure(11, 4.2)
    norm_ax, loss_ax = fig.subplots(1, 2)
    for result in results:
        means = result.mean_grad_norms()
        layers = range(1, len(means) + 1)
        values = [v if v > 0 and math.isfinite(v) else math.nan for v in means.values()]
        norm_ax.plot(layers, values, marker="o", label=result.choice)
    norm_ax.set_yscale("log")
    norm_ax.set_xlabel("layer (1 = nearest the input, last = softmax output)")
    norm_ax.set_ylabel("mean gradient L2 norm")
    norm_ax.grid(True, which="both", alpha=0.3)
    norm_ax.xaxis.get_major_locator().set_params(integer=True)
    norm_ax.legend()
    _curves(loss_ax, results, "loss", "training loss")
    fig.suptitle(title)
    fig.savefig(path, format="png")
    return path


def sweep_learning_rates(rows, path, title="test accuracy against learning rate"):
    """A sweep's final test accuracy against learning rate (log scale), one line per optimizer
    and activation, the mean over seeds; trials that diverged or failed are left out."""
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    groups = {}
    for row in rows:
        if row["test_accuracy"] is None or row["lr"] is None or row["status"] in ("failed",):
            continue
        key = (row["optimizer"], row["activation"])
        groups.setdefault(key, {}).setdefault(row["lr"], []).append(row["test_accuracy"])
    for (optimizer, activation), by_rate in sorted(groups.items()):
        rates = sorted(by_rate)
        ax.plot(rates, [100 * sum(by_rate[r]) / len(by_rate[r]) for r in rates], marker="o",
                label=f"{optimizer} ({activation})")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("test accuracy % (mean over seeds)")
    ax.grid(True, which="both", alpha=0.3)
    if groups:
        ax.legend()
    fig.suptitle(title)
    fig.savefig(path, format="png")
    return path


def sweep_curves(rows, path, title="the best trials"):
    """Training loss and test accuracy per epoch of the given trials (a sweep's best)."""
    fig = _figure(11, 4.2)
    loss_ax, acc_ax = fig.subplots(1, 2)
    for row in rows:
        history = [h for h in row["history"] if h.get("epoch") is not None]
        epochs = [h["epoch"] for h in history]
        loss_ax.plot(epochs, [h.get("loss") for h in history], marker="o", markersize=3,
                     label=row["label"])
        acc_ax.plot(epochs, [100 * (h.get("test_accuracy") or math.nan) for h in history],
                    marker="o", markersize=3, label=row["label"])
    for ax, label in ((loss_ax, "training loss"), (acc_ax, "test accuracy %")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    if rows:
        acc_ax.legend(loc="lower right", fontsize="small")
    fig.suptitle(title)
    fig.savefig(path, format="png")
    return path
