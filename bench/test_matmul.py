"""GEMM throughput at the course model's shapes and one large square.

Each case is ``out = a @ b`` with a (m, k), b (k, n): 2 m k n flops, GFLOP/s = flops / seconds.
The five GEMMs of the course model's training step (Dense(512) on 784 inputs, Dense(10)), as the
step reads them (x^T and W^T are transposed views, not copies):

- forward ``x@W1`` (B,784)@(784,512) and ``h@W2`` (B,512)@(512,10);
- weight gradients ``x^T@dz1`` (784,B)@(B,512) and ``h^T@dz2`` (512,B)@(B,10);
- input gradient ``dz2@W2^T`` (B,10)@(10,512) (the first layer's input gradient is never computed);

for batch B = 32, 128, 1024, and a square (N,N)@(N,N) (2048 on the CPU, 8192 on a GPU) whose raw
GFLOP/s is the machine's BLAS peak estimate. ours: ``backend.matmul``; limit: the raw
``numpy.matmul`` / ``cupy.matmul(a, b, out=out)`` on the same operands; peer: ``torch.matmul``
on the same memory where PyTorch is installed.
"""

import pytest

from bench import peers
from bench.figures import record

#: name: (a's stored shape, a read transposed, b's stored shape, b read transposed), B = batch
STEP_GEMMS = {
    "x@W1": ((None, 784), False, (784, 512), False),
    "h@W2": ((None, 512), False, (512, 10), False),
    "x^T@dz1": ((None, 784), True, (None, 512), False),
    "h^T@dz2": ((None, 512), True, (None, 10), False),
    "dz2@W2^T": ((None, 10), False, (512, 10), True),
}


def _operand(backend, rng, stored, transposed, batch):
    shape = tuple(batch if d is None else d for d in stored)
    array = backend.from_host(rng.standard_normal(shape, dtype="float32"))
    return array.T if transposed else array


def _measure(benchmark, backend, xp, timer, a, b, figure, **more):
    m, k = a.shape
    n = b.shape[1]
    out = backend.empty((m, n), a.dtype)
    ours_s = timer.bench(benchmark, lambda: backend.matmul(a, b, out=out))
    limit_s = timer.median(lambda: xp.matmul(a, b, out=out))
    peers_s = {}
    torch_peer = peers.torch_matmul(a, b, out, backend.is_gpu)
    if torch_peer is not None:
        peers_s["torch.matmul"] = timer.median(*torch_peer)
    raw = "cupy.matmul" if backend.is_gpu else "numpy.matmul"
    return record(benchmark, figure=figure, device=backend.name.split(":")[0], unit="GFLOP/s",
                  amount=2.0 * m * k * n, ours_s=ours_s, limit_s=limit_s, limit_name=raw,
                  peers_s=peers_s, flops=2 * m * k * n, shape=[m, k, n], **more)


@pytest.mark.parametrize("gemm", list(STEP_GEMMS))
def test_step_gemm(benchmark, backend, xp, timer, rng, batch, gemm):
    a_stored, a_t, b_stored, b_t = STEP_GEMMS[gemm]
    a = _operand(backend, rng, a_stored, a_t, batch)
    b = _operand(backend, rng, b_stored, b_t, batch)
    benchmark.group = f"matmul B={batch}"
    figure = f"GEMM {gemm} ({a.shape[0]},{a.shape[1]})@({b.shape[0]},{b.shape[1]})"
    _measure(benchmark, backend, xp, timer, a, b, figure, gemm=gemm, batch=batch)


def test_square_gemm(benchmark, backend, xp, timer, rng, square):
    a = _operand(backend, rng, (square, square), False, 0)
    b = _operand(backend, rng, (square, square), False, 0)
    benchmark.group = "matmul square"
    info = _measure(benchmark, backend, xp, timer, a, b, f"GEMM {square}^3 (BLAS peak)",
                    gemm="square")
    info["peak_gflops"] = max(info["ours"], info["limit"])
