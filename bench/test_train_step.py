"""One training step of the course model at batch 128: ms per step and its share in GEMMs.

Model: Dense(512, relu, input 784) -> Dense(10, softmax), Adam, categorical cross-entropy,
metric accuracy, 407,050 params. ours: ``model._train_batch`` on a preallocated batch (forward,
loss and accuracy accumulated on the device, backward, Adam over the flat buffer), what ``fit``
runs per batch minus the row gather: ``recorded`` as fit runs it (the step's backend calls
recorded once and replayed, gpudnn/training/recorded_steps.py), ``eager`` walking the layers every step. limit: the step's own five GEMMs alone (x@W1, h@W2,
h^T@dz2, dz2@W2^T, x^T@dz1: 2*128*(784*512*2 + 512*10*3) = 0.21 GFLOP) through
``backend.matmul`` on the same operands, in the same run. peer: the same model in PyTorch
(nn.Linear x2, CrossEntropyLoss on logits, Adam fused; zero_grad/backward/step) where installed.
"""

import numpy as np
import pytest

from bench import peers
from bench.figures import record
from gpudnn import experiments

BATCH = 128


def course_model(device, hidden=512):
    """784 -> Dense(hidden, relu) -> Dense(10, softmax), Adam, categorical cross-entropy,
    accuracy: the course model (``gpudnn.experiments.course_model``) at width ``hidden``."""
    return experiments.course_model(width=hidden, optimizer="adam", device=device)


def batch_in_workspace(model, x, y):
    """``(ws, totals)``: the batch (x, y) in the model's workspace of its size, and fresh
    accumulators: one training step's buffers as fit fills them, without the row gather."""
    ws = model._workspace(x.shape[0], with_grads=True)
    model.backend.copy_into(ws.x, x)
    model.backend.copy_into(ws.y, y)
    return ws, model._new_totals()


def step_gemms(model, ws):
    """The five GEMMs of one step as a closure, writing into separate outputs; and their flops."""
    be = model.backend
    (l1, l2), (h, _), (_, dz2) = model.layers, ws.outputs, ws.grads
    calls = [(ws.x, l1.kernel), (h, l2.kernel), (h.T, dz2), (dz2, l2.kernel.T), (ws.x.T, ws.grads[0])]
    outs = [be.empty((a.shape[0], b.shape[1]), a.dtype) for a, b in calls]

    def run():
        for (a, b), out in zip(calls, outs):
            be.matmul(a, b, out=out)

    return run, sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in calls)


@pytest.mark.parametrize("mode", ["recorded", "eager"])
def test_train_step(benchmark, backend, timer, rng, device, mode):
    model = course_model(device)
    x = rng.random((BATCH, 784), dtype=np.float32)
    labels = rng.integers(0, 10, BATCH)
    ws, totals = batch_in_workspace(model, x, np.eye(10, dtype=np.float32)[labels])
    benchmark.group = "train step"
    record_step = mode == "recorded"
    with backend.training_stream():  # as fit runs the step (a CUDA graph's stream on CUDA)
        ours_s = timer.bench(benchmark,
                             lambda: model._train_batch(ws, totals, record=record_step))
    assert (model._steps.replays > 0) == record_step
    gemms, flops = step_gemms(model, ws)
    gemm_s = timer.median(gemms)
    peers_s = {}
    torch_peer = peers.torch_step(x, labels, backend.is_gpu)
    if torch_peer is not None:
        peers_s["torch, Adam fused"] = timer.median(*torch_peer)
    record(benchmark, figure=f"train step B={BATCH} (784-512-10, Adam), {mode}",
           device=backend.name.split(":")[0], unit="ms", amount=None, ours_s=ours_s,
           limit_s=gemm_s, limit_name="its 5 GEMMs", peers_s=peers_s, gemm_share=gemm_s / ours_s,
           gemm_flops=flops, gemm_gflops=flops / gemm_s / 1e9, batch=BATCH)
