"""Optimizer-update bandwidth over flat float32 buffers of 407,050 params (the course model),
10 M and, on a GPU, 100 M params.

GB/s counts the bytes each update must move, 4 bytes per float32 read or written per param:

============  ==========================  =========================  ============
optimizer     reads                       writes                     bytes/param
============  ==========================  =========================  ============
SGD           p, g                        p                          12
SGD momentum  p, g, velocity              p, velocity                20
RMSprop       p, g, velocity              p, velocity                20
Adagrad       p, g, accumulator           p, accumulator             20
Adam          p, g, m, v                  p, m, v                    28
AdamW         p, g, m, v                  p, m, v                    28
Adam EMA      p, g, m, v, average         p, m, v, average           36
============  ==========================  =========================  ============

ours: the gpudnn optimizer's step (``optimizer.apply`` -> the backend's in-place update).
limit: a plain copy of the same bytes, measured in the same run: ``copyto`` of a buffer of half
those bytes into another (its read + write count as the bytes moved); on the CPU numpy's copy is
single-threaded, so the copy is also timed split over two threads (numpy releases the GIL), and
the faster of the two is the limit (the "2-thread copy floor"). An update can beat it (ratio > 1):
it writes buffers it has just read, while a copy's destination is also read for ownership into
the cache before it is written, unseen in the bytes counted.
peers: the obvious NumPy/CuPy code of Keras's formulas with temporaries, and ``torch.optim``
(foreach and fused) over one flat parameter where PyTorch is installed.

The subnormal cases (issue 11): each optimizer with decaying state, its slots ~30 % subnormal
(float32 values below 1.2e-38, where x86 arithmetic is ~40x slower unless flushed), against the
same update on normal values, the gradient zero where the state is subnormal (a rarely active
input: the state decays, so the results are subnormal too, the slow case); both refill the slots from a pristine copy before every call (a
flushed update zeroes them), so both pay the same copy. ratio = normal-state time / subnormal-
state time (target >= 0.9, i.e. subnormals cost at most ~10 %); "flush off" is the same
subnormal update with ``gpudnn.set_flush_denormal(False)``, shown as a peer on the CPU. On CUDA
nothing is flushed: the case shows that the GPU takes subnormals at full speed.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gpudnn
from bench import peers
from bench.figures import record
from gpudnn import optimizers

OPTIMIZERS = {
    "SGD": lambda: optimizers.SGD(),
    "SGD momentum": lambda: optimizers.SGD(momentum=peers.MOM),
    "RMSprop": lambda: optimizers.RMSprop(),
    "Adagrad": lambda: optimizers.Adagrad(),
    "Adam": lambda: optimizers.Adam(),
    "AdamW": lambda: optimizers.AdamW(),
    "Adam EMA": lambda: optimizers.Adam(use_ema=True),
}


def bytes_per_param(optimizer):
    """float32 bytes one update moves per parameter (the table above): p and g read, p
    written, each slot read and written (the EMA's average too)."""
    return 4 * (3 + 2 * len(optimizer.slot_names) + 2 * bool(optimizer.use_ema))

_POOL = ThreadPoolExecutor(1)


def _two_thread_copy(dst, src):
    """Copy the first half in a worker thread while this thread copies the second half."""
    half = src.shape[0] // 2
    job = _POOL.submit(np.copyto, dst[:half], src[:half])
    np.copyto(dst[half:], src[half:])
    job.result()


def _copy_limits(backend, xp, timer, nbytes):
    """Seconds per copy moving ``nbytes`` (read + write), by name."""
    count = nbytes // 8  # float32 elements of each half-size buffer
    src, dst = xp.ones(count, xp.float32), xp.zeros(count, xp.float32)
    times = {"copy": timer.median(lambda: xp.copyto(dst, src))}
    if not backend.is_gpu:
        times["2-thread copy"] = timer.median(lambda: _two_thread_copy(dst, src))
    return times


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_update(benchmark, backend, xp, timer, rng, n_params, name):
    make = OPTIMIZERS[name]
    host = rng.standard_normal(n_params, dtype=np.float32)
    params = backend.from_host(host * 0.05)
    grads = backend.from_host(host * 0.01)
    opt = make()
    opt.build(backend, n_params, params.dtype)
    per_param = bytes_per_param(opt)
    benchmark.group = f"update {n_params:,} params"
    ours_s = timer.bench(benchmark, lambda: opt.apply(backend, params, grads))

    nbytes = per_param * n_params
    copies = _copy_limits(backend, xp, timer, nbytes)
    limit_name = min(copies, key=copies.get)

    peer_p, peer_g = params.copy(), grads.copy()
    peers_s = {"numpy naive" if not backend.is_gpu else "cupy naive":
               timer.median(peers.naive_update(name, xp, peer_p, peer_g, n_params))}
    for variant in ("foreach", "fused"):
        torch_peer = peers.torch_update(name, variant, n_params, backend.is_gpu)
        if torch_peer is not None:
            peers_s[f"torch {variant}"] = timer.median(*torch_peer)
            del torch_peer
    record(benchmark, figure=f"{name} update {n_params:,} params", device=backend.name.split(":")[0],
           unit="GB/s", amount=nbytes, ours_s=ours_s, limit_s=copies[limit_name],
           limit_name=limit_name, peers_s=peers_s, bytes=nbytes, bytes_per_param=per_param,
           n_params=n_params, optimizer=name,
           copy_gbs={k: nbytes / s / 1e9 for k, s in copies.items()})


#: Optimizers whose state decays (slots of rarely active parameters sink into the subnormals).
DECAYING = {
    "SGD momentum": lambda: optimizers.SGD(momentum=peers.MOM),
    "RMSprop": lambda: optimizers.RMSprop(),
    "RMSprop momentum": lambda: optimizers.RMSprop(momentum=peers.MOM),
    "Adam": lambda: optimizers.Adam(),
    "AMSGrad": lambda: optimizers.Adam(amsgrad=True),
    "AdamW": lambda: optimizers.AdamW(),
    "Adagrad": lambda: optimizers.Adagrad(),
}
SUBNORMAL_SHARE = 0.3


def _state(rng, picked, subnormal):
    """Slot values: positive normals around 1e-4, or with ``subnormal`` those at ``picked``
    random float32 subnormals (second moments and accumulators stay non-negative either way)."""
    values = rng.uniform(0.5, 1.5, picked.size).astype(np.float32) * np.float32(1e-4)
    if subnormal:
        tiny = np.finfo(np.float32).tiny
        values[picked] = (rng.uniform(0.01, 0.99, picked.sum()) * tiny).astype(np.float32)
    return values


@pytest.mark.parametrize("name", list(DECAYING))
def test_update_subnormal_state(benchmark, backend, xp, timer, rng, n_params, name):
    # ~30 % of the parameters are rarely active inputs: no gradient, their state decaying
    picked = rng.random(n_params) < SUBNORMAL_SHARE
    host = rng.standard_normal(n_params, dtype=np.float32)
    params = backend.from_host(host * 0.05)
    grads = backend.from_host(np.where(picked, np.float32(0), host * np.float32(0.01)))
    opt = DECAYING[name]()
    opt.build(backend, n_params, params.dtype)
    states = {case: {slot: _state(rng, picked, case == "subnormal") for slot in opt.slots}
              for case in ("normal", "subnormal")}
    share = float(np.mean([np.mean((a > 0) & (a < np.finfo(np.float32).tiny))
                           for a in states["subnormal"].values()]))
    pristine = {case: {slot: backend.from_host(a) for slot, a in slots.items()}
                for case, slots in states.items()}

    def step(case):
        def run():
            for slot, buf in opt.slots.items():
                xp.copyto(buf, pristine[case][slot])
            opt.apply(backend, params, grads)
        return run

    benchmark.group = f"update, {SUBNORMAL_SHARE:.0%} subnormal state, {n_params:,} params"
    ours_s = timer.bench(benchmark, step("subnormal"))
    normal_s = timer.median(step("normal"))
    peers_s = {}
    if not backend.is_gpu:
        gpudnn.set_flush_denormal(False)
        try:
            peers_s["flush off"] = timer.median(step("subnormal"))
        finally:
            gpudnn.set_flush_denormal(True)
    per_param = bytes_per_param(opt)
    nbytes = per_param * n_params
    record(benchmark, figure=f"{name} update, {SUBNORMAL_SHARE:.0%} subnormal state "
                             f"{n_params:,} params", device=backend.name.split(":")[0],
           unit="GB/s", amount=nbytes, ours_s=ours_s, limit_s=normal_s,
           limit_name="normal state", peers_s=peers_s, bytes=nbytes,
           n_params=n_params, optimizer=name, subnormal_share=share,
           note="each call refills the slots from a pristine copy (both cases)")
