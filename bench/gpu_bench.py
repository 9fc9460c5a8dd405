"""Short GPU benchmark of gpudnn's CuPy backend; writes gpu_bench.json and gpu_bench.md to --out.

Measures, each against its limit on the same device:
- matmul at the course model's shapes (forward and backward of 784-512-10, batch 128) through
  ``CupyBackend.matmul`` vs ``cupy.matmul`` directly, in GFLOP/s (2 m k n / time);
- each optimizer update over 407,050 (the course model), 10M and 100M float32 parameters, in
  GB/s of buffer traffic (bytes read + written) vs a plain device copy moving the same bytes;
- the course model's training step (Dense 512 relu -> Dense 10 softmax, Adam, batch 128) in ms,
  from a timed ``fit`` epoch on synthetic data resident on the device.

``--fake`` runs every code path on the CPU backend with tiny sizes (to test this script without
a GPU); its numbers mean nothing.
"""

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import gpudnn
from gpudnn.backend import NumpyBackend, backend_for, cuda_problem

F32 = np.float32
#: update name -> (optimizer slots, float32 buffers read + written per parameter, call)
UPDATES = {
    "sgd": (0, 3, lambda b, p, g, s: b.sgd_update(p, g, 0.01)),
    "momentum": (1, 5, lambda b, p, g, s: b.momentum_update(p, g, s[0], 0.01, 0.9, False)),
    "nesterov": (1, 5, lambda b, p, g, s: b.momentum_update(p, g, s[0], 0.01, 0.9, True)),
    "rmsprop": (1, 5, lambda b, p, g, s: b.rmsprop_update(p, g, s[0], 1e-3, 0.9, 1e-7)),
    "rmsprop_momentum": (2, 7, lambda b, p, g, s: b.rmsprop_update(
        p, g, s[0], 1e-3, 0.9, 1e-7, momentum=0.9, mom=s[1])),
    "adam": (2, 7, lambda b, p, g, s: b.adam_update(p, g, s[0], s[1], 1e-3, 0.9, 0.999, 1e-7)),
    "adamw": (2, 7, lambda b, p, g, s: b.adam_update(p, g, s[0], s[1], 1e-3, 0.9, 0.999, 1e-7,
                                                     decay=4e-6)),
    "amsgrad": (3, 9, lambda b, p, g, s: b.adam_update(p, g, s[0], s[1], 1e-3, 0.9, 0.999, 1e-7,
                                                       vhat=s[2])),
    "adagrad": (1, 5, lambda b, p, g, s: b.adagrad_update(p, g, s[0], 0.01, 1e-7)),
}
#: (name, m, k, n, transpose a, transpose b) of the course model's products, batch 128
MATMULS = [("fwd1 x@W1", 128, 784, 512, False, False), ("fwd2 h@W2", 128, 512, 10, False, False),
           ("dW2 h.T@dz", 512, 128, 10, True, False), ("dh dz@W2.T", 128, 10, 512, False, True),
           ("dW1 x.T@dz", 784, 128, 512, True, False)]


class Timer:
    """Median seconds per call of ``fn`` (after warm-up), with CUDA events on a GPU."""

    def __init__(self, backend, fake):
        self.backend, self.fake = backend, fake

    def __call__(self, fn, repeat=20, warmup=3):
        for _ in range(warmup):
            fn()
        times = []
        if self.fake:
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
        else:
            import cupy

            start, stop = cupy.cuda.Event(), cupy.cuda.Event()
            for _ in range(repeat):
                start.record()
                fn()
                stop.record()
                stop.synchronize()
                times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
        return float(np.median(times))


def bench_matmul(be, timer, xp):
    rows = []
    rng = np.random.default_rng(0)
    for name, m, k, n, ta, tb in MATMULS:
        a = be.from_host(rng.standard_normal((k, m) if ta else (m, k)), F32)
        b = be.from_host(rng.standard_normal((n, k) if tb else (k, n)), F32)
        a, b = (a.T if ta else a), (b.T if tb else b)
        out = be.empty((m, n), F32)
        t_gpudnn = timer(lambda: be.matmul(a, b, out), repeat=50)
        t_direct = timer(lambda: xp.matmul(a, b, out=out), repeat=50)
        flops = 2 * m * k * n
        rows.append({"shape": name, "m": m, "k": k, "n": n,
                     "gflops": flops / t_gpudnn / 1e9, "direct_gflops": flops / t_direct / 1e9,
                     "ratio": t_direct / t_gpudnn})
    return rows


def bench_updates(be, timer, sizes, xp):
    rows = []
    for size in sizes:
        g = be.from_host(np.full(size, 1e-3, F32))
        param = be.zeros((size,), F32)
        for name, (slots, buffers, step) in UPDATES.items():
            state = [be.zeros((size,), F32) for _ in range(slots)]
            traffic = buffers * size * 4
            t = timer(lambda: step(be, param, g, state), repeat=10)
            src = be.zeros((traffic // 8,), F32)  # a copy moves 2 x its size
            dst = be.empty((traffic // 8,), F32)
            t_copy = timer(lambda: xp.copyto(dst, src), repeat=10)
            rows.append({"update": name, "params": size, "ms": t * 1e3,
                         "gbps": traffic / t / 1e9, "copy_gbps": 2 * src.nbytes / t_copy / 1e9,
                         "vs_copy": (traffic / t) / (2 * src.nbytes / t_copy)})
            del state, src, dst
        del g, param
    return rows


def bench_train_step(device, n):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (n, 784)).astype(F32)
    y = np.eye(10, dtype=F32)[rng.integers(0, 10, n)]
    gpudnn.set_seed(0)
    model = gpudnn.models.Sequential(device=device)
    model.add(gpudnn.layers.Dense(512, activation="relu", input_shape=(784,)))
    model.add(gpudnn.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=gpudnn.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1280], y[:1280], epochs=1, batch_size=128, verbose=0)  # warm-up: compile, pools
    model.backend.synchronize()
    t = time.perf_counter()
    history = model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    model.backend.synchronize()
    seconds = time.perf_counter() - t
    steps = math.ceil(n / 128)
    return {"samples": n, "steps": steps, "epoch_s": seconds, "step_ms": seconds / steps * 1e3,
            "loss": float(history.history["loss"][0])}


def table(results):
    lines = [f"# gpudnn GPU benchmark: {results['device']}", ""]
    lines += ["| matmul (batch 128) | GFLOP/s gpudnn | GFLOP/s cupy.matmul | ratio |",
              "|---|---:|---:|---:|"]
    lines += [f"| {r['shape']} ({r['m']}x{r['k']}x{r['n']}) | {r['gflops']:.0f} | "
              f"{r['direct_gflops']:.0f} | {r['ratio']:.2f} |" for r in results["matmul"]]
    lines += ["", "| update | params | ms | GB/s | copy GB/s | vs copy |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['update']} | {r['params']:,} | {r['ms']:.3f} | {r['gbps']:.0f} | "
              f"{r['copy_gbps']:.0f} | {r['vs_copy']:.2f} |" for r in results["updates"]]
    s = results["train_step"]
    lines += ["", f"Course model train step (784-512-10, Adam, batch 128): {s['step_ms']:.3f} ms "
              f"({s['steps']} steps, {s['epoch_s']:.2f} s per {s['samples']:,}-sample epoch, "
              f"loss {s['loss']:.4f})", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--fake", action="store_true", help="CPU backend, tiny sizes (script test)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.fake:
        be, xp, device, sizes, samples = NumpyBackend(), np, "cpu", [407_050, 100_000], 2560
        name = "cpu (--fake: numbers mean nothing)"
    else:
        problem = cuda_problem(0)
        if problem is not None:
            print(f"gpu_bench: no usable CUDA device: {problem}", file=sys.stderr)
            return 2
        import cupy

        be, xp, device = backend_for("cuda"), cupy, "cuda"
        sizes, samples = [407_050, 10_000_000, 100_000_000], 60_032
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = f"{props['name'].decode()} (CuPy {cupy.__version__}, TF32 off)"
    timer = Timer(be, args.fake)
    results = {"device": name, "matmul": bench_matmul(be, timer, xp)}
    print("matmul done", flush=True)
    results["updates"] = bench_updates(be, timer, sizes, xp)
    print("updates done", flush=True)
    results["train_step"] = bench_train_step(device, samples)
    (args.out / "gpu_bench.json").write_text(json.dumps(results, indent=2))
    text = table(results)
    (args.out / "gpu_bench.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
