"""What BatchNormalization and freezing cost in the training step, against their limits
(issue 20: BatchNormalization adds at most one element-wise pass per layer; a frozen first layer
makes the step cheaper, not dearer).

    python -m bench.layer_costs [--device cpu|cuda] [--batch 128] [--rounds 9]

Models (784 inputs, batch 128, Adam, categorical cross-entropy, the recorded step as ``fit``
runs it, on data already in the workspace):

- ``plain``: Dense(512, relu) -> Dense(512, relu) -> Dense(10, softmax);
- ``batchnorm``: the same with BatchNormalization after each hidden Dense (Dense without its
  activation, then BatchNormalization, then Activation("relu"): Keras's usual order);
- ``frozen_first``: ``plain`` with its first Dense frozen.

The limit for BatchNormalization: one element-wise pass per layer, measured as the backend's
relu forward + backward over the same (batch, 512) activations, twice (two BN layers). The
GEMMs are most of a CPU step and most of its noise; each model's step is also timed with them
left out (its other recorded calls replayed), where the difference shows more steadily. Each
figure is the median of ``--rounds`` rounds of 100 steps after a warm-up, with min and max, the
models alternating round by round so drift in the machine's load hits all of them.
"""

import argparse
import statistics
import time

import numpy as np


def build(kind, device):
    import gpudnn
    from gpudnn import layers, models

    gpudnn.set_seed(0)
    if kind == "batchnorm":
        stack = [layers.Dense(512, input_shape=(784,)), layers.BatchNormalization(),
                 layers.Activation("relu"), layers.Dense(512), layers.BatchNormalization(),
                 layers.Activation("relu")]
    else:
        stack = [layers.Dense(512, activation="relu", input_shape=(784,)),
                 layers.Dense(512, activation="relu")]
    model = models.Sequential(stack + [layers.Dense(10, activation="softmax")], device=device)
    if kind == "frozen_first":
        model.layers[0].trainable = False
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def step_of(model, batch):
    rng = np.random.default_rng(0)
    ws = model._workspace(batch, with_grads=True)
    model.backend.copy_into(ws.x, rng.random((batch, 784), dtype=np.float32))
    model.backend.copy_into(ws.y, np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    totals = model._new_totals()

    def step():
        model._train_batch(ws, totals, record=True)
    return step


def without_gemms(model, batch):
    """The model's recorded step with its GEMMs left out (the two models' GEMMs are the same,
    and on a CPU they are most of the step and most of its noise): what BatchNormalization adds
    to the step shows against a smaller, steadier total. Replayed calls repeat their writes:
    fine for timing, not for values."""
    from gpudnn.backend.capture import record_calls

    rng = np.random.default_rng(0)
    ws = model._workspace(batch, with_grads=True)
    model.backend.copy_into(ws.x, rng.random((batch, 784), dtype=np.float32))
    model.backend.copy_into(ws.y, np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)])
    totals = model._new_totals()
    recorder = record_calls(model, lambda: model._device_step(ws, totals))
    if recorder.unusable:
        raise RuntimeError(f"the step cannot be replayed: {recorder.unusable}")
    calls = [call for call in recorder.calls if call.func.__name__ != "matmul"]

    def step():
        for call in calls:
            call()
    return step


def elementwise_pass(device, batch):
    """One relu forward + backward over (batch, 512), the backend's own kernels."""
    from gpudnn.backend import backend_for

    be = backend_for(device)
    rng = np.random.default_rng(1)
    z = be.from_host(rng.standard_normal((batch, 512)).astype(np.float32))
    out, grad = be.empty((batch, 512), np.float32), be.empty((batch, 512), np.float32)

    def step():
        be.activation_forward("relu", z, None, out)
        be.activation_backward("relu", out, z, grad)
    return step, be.synchronize


def rounds_of(steps, sync, rounds, per_round=100):
    for step in steps.values():
        for _ in range(20):
            step()
    sync()
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(per_round):
                step()
            sync()
            times[name].append((time.perf_counter() - start) / per_round * 1e3)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    models = {kind: build(kind, args.device) for kind in ("plain", "batchnorm", "frozen_first")}
    steps = {kind: step_of(model, args.batch) for kind, model in models.items()}
    for kind in ("plain", "batchnorm"):
        steps[f"{kind}, GEMMs left out"] = without_gemms(models[kind], args.batch)
    steps["elementwise"], sync = elementwise_pass(args.device, args.batch)
    times = rounds_of(steps, sync, args.rounds)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"Step, ms, batch {args.batch}, device {args.device} (median of {args.rounds} rounds of "
          f"100 steps, min-max)")
    print("| step | ms | min-max |")
    print("|---|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {med[name]:.3f} | {min(t):.3f}-{max(t):.3f} |")
    added = med["batchnorm"] - med["plain"]
    limit = 2 * med["elementwise"]
    print(f"BatchNormalization x2 adds {added:.3f} ms; the limit, two element-wise passes "
          f"(relu forward + backward), is {limit:.3f} ms: {added / limit:.2f}x the limit")
    added = med["batchnorm, GEMMs left out"] - med["plain, GEMMs left out"]
    print(f"The same without the GEMMs (the same in both models): BatchNormalization x2 adds "
          f"{added:.3f} ms, {added / limit:.2f}x the limit")
    print(f"Frozen first layer: {med['frozen_first']:.3f} ms against {med['plain']:.3f} ms "
          f"({med['frozen_first'] / med['plain']:.2f}x)")
    return med


if __name__ == "__main__":
    main()
