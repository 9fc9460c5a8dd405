"""Options and fixtures of the benchmark suites.

``--device cpu|cuda|cpu,cuda`` (default cpu): the devices the suites run on; a CUDA case skips
with ``gpudnn.backend.cuda_problem()``'s reason where no GPU is usable.
``--quick``: few rounds and small sizes only (407,050 params, batch 32 and 128, a 512^3 square);
CI runs ``python3 -m pytest -q bench --quick`` so the suites cannot rot. Nothing asserts a speed.
"""

import os

import numpy as np
import pytest

from bench.timing import Timer
from gpudnn.backend import backend_for, cuda_problem

DEVICES = ("cpu", "cuda")
BATCHES = {False: (32, 128, 1024), True: (32, 128)}
SQUARE = {False: {"cpu": 2048, "cuda": 8192}, True: {"cpu": 512, "cuda": 512}}
COURSE_PARAMS = 407_050  # Dense(512, input 784) + Dense(10): 401,920 + 5,130
UPDATE_SIZES = {False: {"cpu": (COURSE_PARAMS, 10_000_000),
                        "cuda": (COURSE_PARAMS, 10_000_000, 100_000_000)},
                True: {"cpu": (COURSE_PARAMS,), "cuda": (COURSE_PARAMS,)}}


def pytest_addoption(parser):
    group = parser.getgroup("gpudnn bench")
    group.addoption("--device", default="cpu",
                    help="cpu, cuda, or both as cpu,cuda (default cpu)")
    group.addoption("--quick", action="store_true", default=False,
                    help="few rounds, small sizes only (CI)")


def _devices(config):
    names = [d.strip().lower() for d in config.getoption("--device").split(",") if d.strip()]
    names = ["cuda" if d in ("gpu", "cuda:0") else d for d in names]
    bad = [d for d in names if d not in DEVICES]
    if bad or not names:
        raise pytest.UsageError(f"--device takes cpu, cuda or cpu,cuda, not {bad or names}")
    return list(dict.fromkeys(names))


def pytest_configure(config):
    if hasattr(config.option, "device"):
        _devices(config)  # a bad --device fails before collection


def _ids(pairs):
    return [f"{d}-{v}" for d, v in pairs]


def pytest_generate_tests(metafunc):
    """Parametrize ``device`` (with ``n_params`` or ``square`` sized per device) and ``batch``."""
    names = metafunc.fixturenames
    if "device" not in names:
        return
    quick = metafunc.config.getoption("--quick")
    devices = _devices(metafunc.config)
    if "n_params" in names:
        pairs = [(d, n) for d in devices for n in UPDATE_SIZES[quick][d]]
        metafunc.parametrize("device,n_params", pairs, ids=_ids(pairs))
    elif "square" in names:
        pairs = [(d, SQUARE[quick][d]) for d in devices]
        metafunc.parametrize("device,square", pairs, ids=_ids(pairs))
    else:
        metafunc.parametrize("device", devices)
    if "batch" in names:
        metafunc.parametrize("batch", BATCHES[quick])


@pytest.fixture
def quick(request):
    return request.config.getoption("--quick")


@pytest.fixture
def backend(device):
    """The gpudnn backend of ``device``; skips with the reason when CUDA is not usable."""
    if device == "cuda":
        problem = cuda_problem(0)
        if problem is not None:
            pytest.skip(f"cuda: {problem}")
    return backend_for(device)


@pytest.fixture
def xp(backend):
    """The array module under the backend: numpy, or cupy on a GPU."""
    if backend.is_gpu:
        import cupy

        return cupy
    return np


@pytest.fixture
def timer(backend, quick):
    return Timer(backend.synchronize, quick)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def pytest_sessionfinish(session, exitstatus):
    """Collecting nothing (e.g. every case deselected) is not a failure of the suites."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


def pytest_benchmark_update_machine_info(config, machine_info):
    """What else shapes the figures: load, thread settings, library versions."""
    info = {"load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "numpy": np.__version__}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    try:
        import torch

        info["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except Exception:
        pass
    if "cuda" in _devices(config) and cuda_problem(0) is None:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["cupy"] = cupy.__version__
    machine_info["gpudnn"] = info
