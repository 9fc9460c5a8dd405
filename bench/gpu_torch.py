"""The PyTorch side of the GPU results, run in the PyTorch worker process: the course step
(eager and CUDA graph), the scaling rows' steps, Fashion-MNIST epochs and the optimizer updates,
each written as PyTorch's users write it."""

import gc
import time

import numpy as np

from bench.gpu_results_tables import OPTIMIZER_KEYS, TORCH_VARIANTS
from bench.gpu_timing import per_call_seconds

BATCH = 128


def torch_course_steps(torch, device, reps, round_s):
    """{"torch_eager": [s...], "torch_graph": [s...] or a reason} at batch 128."""
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 784), dtype=np.float32)
    return torch_step_times(torch, device, x, rng.integers(0, 10, BATCH), 512, reps, round_s)


def torch_step_times(torch, device, x, labels, hidden, reps, round_s):
    """{"torch_eager": [s...], "torch_graph": [s...] or a reason}: PyTorch's step of 784 ->
    Linear(hidden) -> ReLU -> Linear(10) on the batch (x, labels), eager (bench.peers) and
    captured whole as a CUDA graph (CUDA only); the GPU memory it took is given back."""
    from bench import peers

    gpu = device == "cuda"
    step, sync = peers.torch_step(x, labels, gpu, hidden=hidden)
    out = {"torch_eager": per_call_seconds({"s": step}, sync or _noop, reps, round_s)["s"]}
    del step
    if not gpu:
        out["torch_graph"] = "torch.cuda.graph needs a CUDA device (this run: --device cpu)"
        return out
    net, opt, loss_fn = _torch_net(torch, "cuda", capturable=True, hidden=hidden)
    tx = torch.as_tensor(x, device="cuda")
    ty = torch.as_tensor(labels, device="cuda")
    graph = capture_step(torch, lambda net=net, tx=tx, ty=ty, loss_fn=loss_fn: loss_fn(net(tx), ty), opt)
    out["torch_graph"] = per_call_seconds({"s": graph.replay}, torch.cuda.synchronize, reps,
                                          round_s)["s"]
    del graph, net, opt, loss_fn, tx, ty
    gc.collect()
    torch.cuda.empty_cache()
    return out


def _noop():
    pass


def _torch_net(torch, device, capturable=False, hidden=512):
    """The course model (``hidden`` units in its hidden layer), fused Adam (``capturable``: its
    step count on the device, so that a CUDA graph can replay its step), CrossEntropyLoss."""
    nn = torch.nn
    net = nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7, fused=True,
                           capturable=capturable)
    return net, opt, nn.CrossEntropyLoss()


def capture_step(torch, loss_of, opt):
    """A CUDA graph of zero_grad / loss_of().backward() / opt.step(), after 3 warm-up steps on a
    side stream (PyTorch's whole-network capture recipe); replay() runs one step."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            opt.zero_grad(set_to_none=True)
            loss_of().backward()
            opt.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss_of().backward()
        opt.step()
    return graph


def torch_fashion(torch, device, data, epochs, graph):
    """(epoch seconds, test accuracy) of the course model in PyTorch, data on the device; with
    ``graph`` the full batches replay one captured step that gathers its rows through an index
    buffer, the partial last batch runs eagerly."""
    torch.manual_seed(0)
    net, opt, loss_fn = _torch_net(torch, device, capturable=graph)
    x = torch.as_tensor(data.x_train, device=device)
    y = torch.as_tensor(data.y_train.argmax(axis=1), device=device)
    n = len(x)
    generator = torch.Generator(device=device).manual_seed(0)
    sync = torch.cuda.synchronize if device == "cuda" else _noop
    replay = None
    if graph:
        index = torch.zeros(BATCH, dtype=torch.int64, device=device)
        replay = capture_step(torch, lambda: loss_fn(net(x.index_select(0, index)),
                                                 y.index_select(0, index)), opt).replay
        torch.manual_seed(0)  # the warm-up steps moved the weights: start afresh, same graph
        with torch.no_grad():
            for layer in (net[0], net[2]):
                layer.reset_parameters()
        for state in opt.state.values():
            for value in state.values():
                value.zero_()
    times = []
    for _ in range(epochs):
        sync()
        start = time.perf_counter()
        order = torch.randperm(n, device=device, generator=generator)
        for i in range(0, n, BATCH):
            rows = order[i:i + BATCH]
            if replay is not None and len(rows) == BATCH:
                index.copy_(rows)
                replay()
            else:
                opt.zero_grad(set_to_none=True)
                loss_fn(net(x[rows]), y[rows]).backward()
                opt.step()
        sync()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = net(torch.as_tensor(data.x_test, device=device)).argmax(dim=1).cpu().numpy()
    return times, float(np.mean(predicted == data.y_test.argmax(axis=1)))


def torch_updates(torch, device, n_params, reps, round_s):
    """{key: {variant: [copy s / update s...] or a reason}} for torch.optim over one flat
    parameter, against ``dst.copy_(src)`` of the same bytes in this process."""
    from bench import peers
    from bench.test_update import OPTIMIZERS, bytes_per_param

    gpu = device == "cuda"
    sync = torch.cuda.synchronize if gpu else _noop
    out = {}
    for key, name in OPTIMIZER_KEYS.items():
        count = bytes_per_param(OPTIMIZERS[name]()) * n_params // 8
        src = torch.ones(count, device=device)
        dst = torch.zeros(count, device=device)
        out[key] = {}
        for variant in TORCH_VARIANTS:
            peer = peers.torch_update(name, variant, n_params, gpu)
            if peer is None:
                out[key][variant] = f"torch.optim.{name.split()[0]}({variant}=True) is not " \
                                    f"available for this device in torch {torch.__version__}"
                continue
            times = per_call_seconds({"torch": peer[0], "copy": lambda dst=dst, src=src: dst.copy_(src)}, sync,
                                     reps, round_s)
            out[key][variant] = [c / t for c, t in zip(times["copy"], times["torch"])]
            del peer
        del src, dst
    return out
