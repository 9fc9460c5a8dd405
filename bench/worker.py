"""What the benchmark scripts that run PyTorch in a process of its own share: whether a Python
can import torch, the worker's environment (this checkout first on its path), and the one
tagged JSON line a worker prints its result on."""

import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def torch_problem(python):
    """Why ``python`` cannot import torch, or None when it can."""
    try:
        done = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
    except OSError as exc:
        return f"{python} cannot import torch ({exc})"
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["import torch failed"])[-1]
    return f"{python} cannot import torch ({last})"


def worker_env():
    """The environment of a worker process: this checkout first on PYTHONPATH."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))


def tagged_result(stdout, tag):
    """The JSON a worker printed after ``tag`` on its last such line, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(tag):
            return json.loads(line[len(tag):])
    return None
