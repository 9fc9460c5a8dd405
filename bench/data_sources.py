"""Seconds per fit epoch of the course model fed from each kind of source, against the same data
as an array in memory (issue 18's target: each streamed source within 1.1x on the CPU).

    python -m bench.data_sources [--epochs 6] [--runs 3] [--device cpu] [--data fashion-mnist]
                                 [--limit N] [--json PATH]

The model: 784 -> Dense(512, relu) -> Dense(10, softmax), Adam, categorical cross-entropy,
accuracy, batch 128, shuffled, verbose 0. The sources:

- ``array``: the float32 array in memory (the baseline: on the device once, batches gathered by
  the step);
- ``memmap``: the same array saved as .npy and opened with ``np.load(mmap_mode="r")`` (streamed:
  rows gathered by the prefetch thread, pages released as read);
- ``generator``: a Python generator yielding shuffled (x, y) batches of the in-memory array, with
  ``steps_per_epoch``;
- ``pydataset``: a ``gpudnn.utils.PyDataset`` whose ``__getitem__`` slices a shuffled order.

Every source runs ``--runs`` times in this process, interleaved epoch by epoch (one epoch of
each source's model in turn, the order reversed every epoch), so that drift in the machine's
load hits all of them. Each run reports every epoch's seconds
(``fit``'s wall time per epoch, from a callback); the table gives the first epoch, the median of
epochs 2..N over all runs with its range, the slowest later epoch, and the ratio of the medians
to the array's, and of the slowest later epoch to the array's fastest (a ratio that holds for
every epoch).
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SOURCES = ("array", "memmap", "generator", "pydataset")


def load(name, limit):
    from gpudnn.datasets import fashion_mnist, sample
    from gpudnn.utils import to_categorical

    loader = {"fashion-mnist": fashion_mnist, "sample": sample}[name]
    (x, y), _ = loader.load_data()
    x = x.reshape(len(x), -1).astype("float32") / 255
    y = to_categorical(y, 10)
    return (x[:limit], y[:limit]) if limit else (x, y)


def epoch_clock():
    from gpudnn import callbacks

    class EpochClock(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    return EpochClock()


def source_args(source, x, y, mapped, batch_size, seed):
    """fit's data arguments for ``source``."""
    from gpudnn.utils import PyDataset

    n = len(x)
    steps = -(-n // batch_size)
    if source == "array":
        return {"x": x, "y": y}
    if source == "memmap":
        return {"x": mapped, "y": y}
    rng = np.random.default_rng(seed)
    if source == "generator":
        def batches():
            while True:
                order = rng.permutation(n)
                for s in range(0, n, batch_size):
                    rows = order[s:s + batch_size]
                    yield x[rows], y[rows]
        return {"x": batches(), "steps_per_epoch": steps}

    class Shuffled(PyDataset):
        def __init__(self):
            super().__init__()
            self.order = rng.permutation(n)

        def __len__(self):
            return steps

        def __getitem__(self, i):
            rows = self.order[i * batch_size:(i + 1) * batch_size]
            return x[rows], y[rows]

        def on_epoch_end(self):
            self.order = rng.permutation(n)

    return {"x": Shuffled(), "shuffle": False}


def run_interleaved(sources, x, y, mapped, epochs, device, seed, batch_size=128):
    """Every source's model trained one epoch at a time in turn (the order reversed each
    epoch), so a slow phase of the machine hits all sources alike; seconds per epoch each."""
    import gpudnn
    from gpudnn.experiments import course_model

    models, kwargs, clocks = {}, {}, {}
    for source in sources:
        gpudnn.set_seed(seed)
        models[source] = course_model(optimizer="adam", lr=0.001, device=device, seed=seed)
        kwargs[source] = source_args(source, x, y, mapped, batch_size, seed)
        clocks[source] = epoch_clock()
    for epoch in range(epochs):
        for source in (sources if epoch % 2 == 0 else sources[::-1]):
            models[source].fit(initial_epoch=epoch, epochs=epoch + 1, batch_size=batch_size,
                               verbose=0, callbacks=[clocks[source]], **kwargs[source])
    return {source: clock.seconds for source, clock in clocks.items()}


def summarize(results):
    """Per source: first epoch, median (min-max) of epochs 2..N over runs; the ratio of each
    epoch to the array's epoch of the same run and number (trained right beside it, so the
    pair shares the machine's state: the fair per-epoch comparison), as median, min and max;
    and the slowest epoch against the array's fastest (a bound that holds for every epoch)."""
    base = results["array"]
    base_later = [s for run in base for s in run[1:]]
    rows = {}
    for source, runs in results.items():
        later = [s for run in runs for s in run[1:]]
        paired = [b / a for run_a, run_b in zip(base, runs) for a, b in zip(run_a[1:], run_b[1:])]
        first = statistics.median(run[0] for run in runs)
        median = statistics.median(later)
        rows[source] = {
            "first_s": first, "median_s": median, "min_s": min(later), "max_s": max(later),
            "median_vs_array": median / statistics.median(base_later),
            "fastest_vs_array": min(later) / min(base_later),
            "paired_median": statistics.median(paired), "paired_min": min(paired),
            "paired_max": max(paired),
            "slowest_vs_array_fastest": max(later) / min(base_later),
            "epochs": runs,
        }
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", default="fashion-mnist", choices=("fashion-mnist", "sample"))
    parser.add_argument("--limit", type=int, default=0, help="first N samples only")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--json", help="write the figures here too")
    args = parser.parse_args(argv)
    sources = args.sources.split(",")
    if "array" not in sources:
        sources.insert(0, "array")
    x, y = load(args.data, args.limit)
    results = {s: [] for s in sources}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.npy"
        np.save(path, x)
        mapped = np.load(path, mmap_mode="r")
        for run in range(args.runs):
            order = sources if run % 2 == 0 else sources[::-1]
            for source, seconds in run_interleaved(order, x, y, mapped, args.epochs,
                                                   args.device, seed=run).items():
                results[source].append(seconds)
        del mapped
    rows = summarize(results)
    print(f"Course model, {len(x)} samples of {args.data}, batch 128, {args.epochs} epochs x "
          f"{args.runs} runs, device {args.device}")
    print("| source | first epoch, s | epochs 2..N median (min-max), s | each epoch / the array's "
          "beside it, median (min-max) | slowest / array's fastest |")
    print("|---|---:|---:|---:|---:|")
    for source, r in rows.items():
        print(f"| {source} | {r['first_s']:.3f} | {r['median_s']:.3f} ({r['min_s']:.3f}-"
              f"{r['max_s']:.3f}) | {r['paired_median']:.2f}x ({r['paired_min']:.2f}-"
              f"{r['paired_max']:.2f}) | {r['slowest_vs_array_fastest']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "sources": rows}, indent=1))
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
