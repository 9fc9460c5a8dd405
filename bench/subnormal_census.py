"""Where subnormal floats occur while the course model trains on the CPU, with and without flushing.

    python -m bench.subnormal_census [--data fashion-mnist] [--epochs 3] [--limit N] [--repeat R]

Trains 784 -> Dense(512, relu) -> Dense(10, softmax), Adam, batch 128 on the CPU backend, once
with ``gpudnn.set_flush_denormal(True)`` and once with False. Every GEMM's operands and result
are counted (the forward ``x @ W``, the weight gradient ``x.T @ dy``, the input gradient
``dy @ W.T``: the activations and gradients the GEMMs read), and at each epoch's end the
parameters, gradients and optimizer slots. Prints a Markdown table: per epoch, the subnormal
elements summed over that epoch's GEMM calls (and the largest share in one operand) and the
subnormal count of each flat buffer. ``--repeat 15`` on the embedded 4,000-image ``sample``
gives Fashion-MNIST's 469 steps per epoch where that data set is not at hand.
"""

import argparse

import numpy as np

import gpudnn
from gpudnn.callbacks import Callback
from gpudnn.experiments import course_model, load_data


def subnormals(a):
    """How many elements of ``a`` are subnormal (non-zero and below the smallest normal)."""
    magnitude = np.abs(a)
    return int(np.count_nonzero((magnitude > 0) & (magnitude < np.finfo(a.dtype).tiny)))


class GemmTally:
    """Wraps a backend's ``matmul`` to count subnormal operands and results."""

    def __init__(self, backend):
        self.backend, self.plain = backend, backend.matmul
        self.reset()

    def reset(self):
        self.calls = self.operand = self.result = 0
        self.worst_share = 0.0

    def __call__(self, a, b, out):
        self.calls += 1
        for m in (a, b):
            count = subnormals(m)
            self.operand += count
            self.worst_share = max(self.worst_share, count / m.size)
        self.plain(a, b, out)
        self.result += subnormals(out)

    def __enter__(self):
        self.backend.matmul = self
        return self

    def __exit__(self, *exc):
        del self.backend.matmul  # the class's method again


class Census(Callback):
    def __init__(self, tally, rows, flush):
        super().__init__()
        self.tally, self.rows, self.flush = tally, rows, flush

    def on_epoch_end(self, epoch, logs=None):
        model = self.model
        buffers = {"params": model.params, "grads": model.grads, **model.optimizer.slots}
        counts = {name: subnormals(model.backend.to_host(a)) for name, a in buffers.items()}
        self.rows.append((self.flush, epoch + 1, self.tally.calls, self.tally.operand,
                          self.tally.worst_share, self.tally.result, counts,
                          int(model.params.shape[0])))
        self.tally.reset()


def census(data, epochs, flush, seed=0):
    gpudnn.set_flush_denormal(flush)
    model = course_model(optimizer="adam", lr=0.001, device="cpu", seed=seed)
    rows = []
    try:
        with GemmTally(model.backend) as tally:
            model.fit(data.x_train, data.y_train, batch_size=128, epochs=epochs, verbose=0,
                      callbacks=[Census(tally, rows, flush)])
    finally:
        gpudnn.set_flush_denormal(True)
    return rows


def table(rows):
    names = list(rows[0][6])
    lines = ["| flush | epoch | GEMM calls | subnormal operand elements (worst share) | "
             "subnormal results | " + " | ".join(names) + " |",
             "|---|---:|---:|---:|---:|" + "---:|" * len(names)]
    for flush, epoch, calls, operand, share, result, counts, size in rows:
        lines.append(f"| {'on' if flush else 'off'} | {epoch} | {calls} | {operand} "
                     f"({share:.1e}) | {result} | " +
                     " | ".join(f"{counts[n]:,} / {size:,}" for n in names) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N training samples only")
    parser.add_argument("--repeat", type=int, default=1, help="train on the data R times over")
    args = parser.parse_args(argv)
    data = load_data(args.data, limit=args.limit)
    if args.repeat > 1:
        data.name = f"{data.name} x{args.repeat}"
        data.x_train = np.tile(data.x_train, (args.repeat, 1))
        data.y_train = np.tile(data.y_train, (args.repeat, 1))
    rows = census(data, args.epochs, flush=False) + census(data, args.epochs, flush=True)
    print(f"{data.describe()}, {args.epochs} epochs, Adam, batch 128\n")
    print(table(rows))


if __name__ == "__main__":
    main()
