"""Seconds per epoch and test accuracy of the course model on Fashion-MNIST: gpudnn vs PyTorch.

    python -m bench.fashion_epoch [--epochs 5] [--optimizers adam rmsprop] [--device cpu] [--torch]

Both train 784 -> Dense(512, relu) -> Dense(10, softmax) with categorical cross-entropy, batch
128, shuffled, learning rate 0.001, the same data (pixels / 255); PyTorch uses ``nn.Linear`` and
``torch.optim.Adam(fused=True)`` / ``RMSprop`` with Keras's epsilon (1e-7) and ``alpha`` = rho
(0.9). Seconds per epoch is the median over the epochs of wall time inside the training loop
(data already in memory, evaluation excluded). Prints one line per run and a Markdown table.
"""

import argparse
import statistics
import time

import numpy as np

import gpudnn
from gpudnn.experiments import course_model, load_data, run


def run_gpudnn(data, optimizer, epochs, device, seed):
    model = course_model(optimizer=optimizer, lr=0.001, device=device, seed=seed)
    result = run(optimizer, model, data, epochs, batch_size=128, verbose=0)
    return result.seconds_per_epoch, result.test_accuracy


def run_torch(data, optimizer, epochs, seed):
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    if optimizer == "adam":
        opt = torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7, fused=True)
    else:
        opt = torch.optim.RMSprop(net.parameters(), lr=0.001, alpha=0.9, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.from_numpy(data.x_train)
    y = torch.from_numpy(data.y_train.argmax(axis=1))
    generator = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), 128):
            idx = order[i:i + 128]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = net(torch.from_numpy(data.x_test)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == data.y_test.argmax(axis=1)))
    return statistics.median(times), accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--optimizers", nargs="+", default=["adam", "rmsprop"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch", action="store_true", help="also train the PyTorch peer (CPU)")
    args = parser.parse_args(argv)
    data = load_data("fashion-mnist")
    rows = []
    for name in args.optimizers:
        seconds, accuracy = run_gpudnn(data, name, args.epochs, args.device, args.seed)
        rows.append((f"gpudnn {gpudnn.backend.backend_for(args.device).name}", name, seconds, accuracy))
        print(*rows[-1], flush=True)
        if args.torch:
            seconds, accuracy = run_torch(data, name, args.epochs, args.seed)
            rows.append(("pytorch cpu", name, seconds, accuracy))
            print(*rows[-1], flush=True)
    print(f"\n| library | optimizer | s/epoch (median of {args.epochs}) | test accuracy |")
    print("|---|---|---:|---:|")
    for library, name, seconds, accuracy in rows:
        print(f"| {library} | {name} | {seconds:.2f} | {accuracy * 100:.2f} % |")


if __name__ == "__main__":
    main()
