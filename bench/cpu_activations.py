"""Why the compiled CPU backend leaves tanh, sigmoid, elu, selu, softplus, exponential and silu to NumPy
(gpudnn/backend/native_routing.py): each activation's forward and backward pass at (batch,
width) float32, by its compiled kernel (the CUDA body built for the host) and by NumPy, side by
side in one run.

    python -m bench.cpu_activations [--batch 128] [--width 512] [--rounds 7]

Microseconds per pass: the median of ``--rounds`` rounds (each the mean of enough calls to fill
about 20 ms), with min and max. The gaps are 6 to 30 times, far above this machine's noise.
"""

import argparse
import statistics
import time

import numpy as np

KINDS = ("relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "hard_sigmoid", "relu6",
         "exponential", "silu", "gelu")


def kernel_calls(be, kind, z, bias, out, y, dy, dx):
    """(forward, backward) calling the compiled kernels directly (the backend's routing
    bypassed), as the backend's own call sites call them."""
    k = z.shape[1]
    fwd_fn, n, pz, pb, po = be._site(f"{kind}_fwd", (z, bias, out), 1)
    bwd_fn, _, py, pdy, pdx = be._site(f"{kind}_bwd", (y, dy, dx), 1)
    alpha = (1.0,) if kind == "elu" else ()
    return (lambda: fwd_fn(n, pz, pb, k, *alpha, po),
            lambda: bwd_fn(n, py, pdy, *alpha, pdx))


def per_call_us(fn, rounds, round_s=0.02):
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < round_s / 4:
        fn()
        calls += 1
    reps = max(1, int(calls * 4))
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - start) / reps * 1e6)
    return times


def main(argv=None):
    from gpudnn.backend import NumpyBackend
    from gpudnn.backend.native_backend import CompiledCpuBackend

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    be, ref = CompiledCpuBackend(), NumpyBackend()
    be.load(np.float32)
    rng = np.random.default_rng(0)
    shape = (args.batch, args.width)
    z = rng.standard_normal(shape).astype(np.float32)
    bias = rng.standard_normal(args.width).astype(np.float32)
    out, y, dy, dx = (np.empty(shape, np.float32) for _ in range(4))
    dy[...] = rng.standard_normal(shape)
    print(f"Activation passes at {shape} float32, us (median of {args.rounds} rounds, min-max)")
    print("| activation | forward kernel | forward NumPy | backward kernel | backward NumPy |")
    print("|---|---:|---:|---:|---:|")
    for kind in KINDS:
        alpha = 1.0 if kind == "elu" else 0.0
        ref.activation_forward(kind, z, bias, y, alpha)
        fwd, bwd = kernel_calls(be, kind, z, bias, out, y, dy, dx)
        cells = []
        for kernel, numpy_pass in (
                (fwd, lambda kind=kind, alpha=alpha: ref.activation_forward(kind, z, bias, out,
                                                                             alpha)),
                (bwd, lambda kind=kind, alpha=alpha: ref.activation_backward(kind, y, dy, dx,
                                                                              alpha))):
            for fn in (kernel, numpy_pass):
                t = per_call_us(fn, args.rounds)
                cells.append(f"{statistics.median(t):.1f} ({min(t):.1f}-{max(t):.1f})")
        print(f"| {kind} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
