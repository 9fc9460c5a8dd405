"""The peers a user would pick instead of gpudnn, written as they would write them.

- ``naive_update``: the obvious NumPy (or CuPy) code of Keras's formulas, with temporaries;
- ``torch_update``: ``torch.optim`` over one flat parameter tensor (foreach and fused variants);
- ``torch_matmul`` and ``torch_step``: the same GEMM and the course model's training step in
  PyTorch. Every torch peer returns None where ``import torch`` fails or the variant is missing.
"""

import math

#: Keras's defaults, shared by gpudnn's optimizers, the naive code and the torch peers
LR = {"SGD": 0.01, "SGD momentum": 0.01}
B1, B2, EPS, RHO, MOM, WD = 0.9, 0.999, 1e-7, 0.9, 0.9, 0.004
EMA_MOMENTUM = 0.99  # Keras's ema_momentum


def torch_or_none():
    try:
        import torch
    except Exception:
        return None
    return torch


def naive_update(name, xp, p, g, size):
    """A closure doing one update of optimizer ``name`` as the obvious array code of Keras's
    formulas: new slot arrays each step (rebinding) and a temporary per operator; ``p`` in place."""
    lr = LR.get(name, 0.001)
    s = {"a": xp.zeros(size, p.dtype), "b": xp.zeros(size, p.dtype), "t": 0,
         "e": xp.zeros(size, p.dtype)}
    if name == "Adagrad":
        s["a"] += 0.1

    def adam(decay):
        s["t"] += 1
        t = s["t"]
        alpha = lr * math.sqrt(1 - B2 ** t) / (1 - B1 ** t)
        if decay:
            p[...] -= lr * WD * p
        s["a"] = B1 * s["a"] + (1 - B1) * g
        s["b"] = B2 * s["b"] + (1 - B2) * g * g
        p[...] -= alpha * s["a"] / (xp.sqrt(s["b"]) + EPS)

    def sgd():
        p[...] -= lr * g

    def momentum():
        s["a"] = MOM * s["a"] - lr * g
        p[...] += s["a"]

    def rmsprop():
        s["a"] = RHO * s["a"] + (1 - RHO) * g * g
        p[...] -= lr * g / xp.sqrt(s["a"] + EPS)

    def adagrad():
        s["a"] = s["a"] + g * g
        p[...] -= lr * g / xp.sqrt(s["a"] + EPS)

    def adam_ema():  # Keras's use_ema: the moving average of the weights after the update
        adam(False)
        s["e"] = EMA_MOMENTUM * s["e"] + (1 - EMA_MOMENTUM) * p

    return {"SGD": sgd, "SGD momentum": momentum, "RMSprop": rmsprop, "Adagrad": adagrad,
            "Adam": lambda: adam(False), "AdamW": lambda: adam(True), "Adam EMA": adam_ema}[name]


def _torch_optimizer(torch, name, params, **variant):
    lr = LR.get(name, 0.001)
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, **variant)
    if name == "SGD momentum":
        return torch.optim.SGD(params, lr=lr, momentum=MOM, **variant)
    if name == "RMSprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=RHO, eps=EPS, **variant)
    if name == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=EPS, **variant)
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, betas=(B1, B2), eps=EPS, **variant)
    if name == "AdamW":
        return torch.optim.AdamW(params, lr=lr, betas=(B1, B2), eps=EPS, weight_decay=WD,
                                 **variant)
    raise ValueError(f"torch.optim has no {name}")  # Adam EMA: no one-call peer


def torch_device(torch, gpu):
    """The torch device matching the backend, or None when torch cannot use it."""
    if not gpu:
        return torch.device("cpu")
    return torch.device("cuda") if torch.cuda.is_available() else None


def torch_sync(torch, device):
    return (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None


def torch_update(name, variant, size, gpu):
    """(step, sync) of ``torch.optim`` ``name`` with ``variant`` ("foreach"/"fused") over one flat
    parameter of ``size`` float32, or None where torch or the variant is unavailable."""
    torch = torch_or_none()
    device = torch and torch_device(torch, gpu)
    if device is None:
        return None
    p = torch.nn.Parameter(torch.randn(size, device=device) * 0.05)
    p.grad = torch.randn(size, device=device) * 0.01
    try:
        opt = _torch_optimizer(torch, name, [p], **{variant: True})
        opt.step()
    except (RuntimeError, TypeError, ValueError):
        return None
    return opt.step, torch_sync(torch, device)


def torch_matmul(a, b, out, gpu):
    """(call, sync) of ``torch.matmul(a, b, out=out)`` on the very memory of the array operands."""
    torch = torch_or_none()
    device = torch and torch_device(torch, gpu)
    if device is None:
        return None
    wrap = torch.as_tensor if gpu else torch.from_numpy
    ta, tb, tout = wrap(a), wrap(b), wrap(out)
    with torch.no_grad():
        torch.matmul(ta, tb, out=tout)
    return (lambda: torch.matmul(ta, tb, out=tout)), torch_sync(torch, device)


def torch_step(x, labels, gpu, hidden=512):
    """(step, sync) of the course model in PyTorch: Linear(784, 512) + ReLU + Linear(512, 10),
    CrossEntropyLoss (softmax + CCE on logits), Adam(fused=True), the usual zero_grad/backward/step;
    x (n, 784) float32 and labels (n,) int64 as NumPy arrays."""
    torch = torch_or_none()
    device = torch and torch_device(torch, gpu)
    if device is None:
        return None
    nn = torch.nn
    model = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10)).to(device)
    try:
        opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=EPS, fused=True)
    except (RuntimeError, TypeError, ValueError):
        opt = torch.optim.Adam(model.parameters(), lr=0.001, eps=EPS)
    loss_fn = nn.CrossEntropyLoss()
    tx, ty = torch.as_tensor(x, device=device), torch.as_tensor(labels, device=device)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(tx), ty)
        loss.backward()
        opt.step()

    return step, torch_sync(torch, device)
