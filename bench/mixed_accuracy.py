"""Test accuracy of the course model under the dtype policies: float32, mixed_bfloat16,
mixed_float16, and a float16 run whose loss scale has to drop.

    python -m bench.mixed_accuracy [--data fashion-mnist] [--epochs 5] [--seeds 0 1]
                                   [--optimizer adam] [--device cpu] [--json PATH]

The course network (784 -> Dense(512, relu) -> Dense(10, softmax), categorical cross-entropy,
learning rate 0.001, batch 128), the same seed and batch order for every policy. Each row gives
the test accuracy of each seed, its difference from float32 with the same seed (the target:
within 0.3 points), the seconds of the run, and for float16 the final loss scale and the steps
skipped. The last row starts float16 at a loss scale of 2^40, which overflows until it has
halved about 25 times. ``--data`` takes gpudnn's data set names (``mnist`` downloads the full
MNIST; ``sample`` is the embedded 5,000 digits). On the CPU the 16-bit policies are a
correctness path (docs/mixed-precision.md): their seconds are not a speed figure.
"""

import argparse
import json
import time

from gpudnn import mixed_precision, optimizers, set_seed
from gpudnn.experiments import course_model, load_data

#: (row label, policy, initial loss scale or None for compile's default)
RUNS = (("float32", "float32", None), ("mixed_bfloat16", "mixed_bfloat16", None),
        ("mixed_float16", "mixed_float16", None),
        ("mixed_float16, scale 2^40", "mixed_float16", 2.0 ** 40))


def train(data, policy, initial_scale, optimizer, epochs, seed, device):
    """``(test accuracy, seconds, final scale or None, skipped steps or None)`` of one run."""
    mixed_precision.set_global_policy(policy)
    try:
        set_seed(seed)
        model = course_model(optimizer=optimizer, lr=0.001, device=device)
        if initial_scale is not None:
            model.compile(optimizer=optimizers.LossScaleOptimizer(
                optimizers.get(optimizer).__class__(learning_rate=0.001),
                initial_scale=initial_scale), loss="categorical_crossentropy",
                metrics=["accuracy"])
        start = time.perf_counter()
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=128, verbose=0)
        seconds = time.perf_counter() - start
        accuracy = model.evaluate(data.x_test, data.y_test, verbose=0)[1]
    finally:
        mixed_precision.set_global_policy(None)
    scaled = isinstance(model.optimizer, optimizers.LossScaleOptimizer)
    return (float(accuracy), seconds, model.optimizer.dynamic_scale if scaled else None,
            model.optimizer.skipped_steps if scaled else None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args(argv)
    data = load_data(args.data)
    rows = []
    baseline = {}
    print(f"{args.data}, {args.epochs} epochs, batch 128, {args.optimizer} lr 0.001, "
          f"device {args.device}")
    print(f"{'policy':28} {'seed':>4} {'accuracy':>9} {'vs float32':>11} {'seconds':>8} "
          f"{'final scale':>12} {'skipped':>8}")
    for seed in args.seeds:
        for label, policy, scale in RUNS:
            accuracy, seconds, final, skipped = train(data, policy, scale, args.optimizer,
                                                      args.epochs, seed, args.device)
            baseline.setdefault(seed, accuracy)
            delta = 100 * (accuracy - baseline[seed])
            rows.append({"policy": label, "seed": seed, "accuracy": accuracy,
                         "points_vs_float32": delta, "seconds": seconds,
                         "final_scale": final, "skipped_steps": skipped})
            print(f"{label:28} {seed:>4} {100 * accuracy:>8.2f}% {delta:>+10.2f}  "
                  f"{seconds:>8.1f} {'' if final is None else f'{final:.0f}':>12} "
                  f"{'' if skipped is None else skipped:>8}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": args.data, "epochs": args.epochs, "device": args.device,
                       "optimizer": args.optimizer, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
