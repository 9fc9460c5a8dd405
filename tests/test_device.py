"""The device flag: set_device, the context manager, GPUDNN_DEVICE, Sequential(device=...)."""

import os
import subprocess
import sys

import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.backend import cuda_problem
from gpudnn.errors import DeviceUnavailableError, InvalidInputError

NO_GPU = cuda_problem() is not None


def test_cpu_is_the_default_and_models_use_the_current_device():
    assert gpudnn.get_device() == "cpu"
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    assert model.backend.name == "cpu"


def test_context_manager_restores_the_previous_device():
    with gpudnn.device("cpu") as backend:
        assert backend.name == "cpu"
    assert gpudnn.get_device() == "cpu"


def test_auto_picks_cpu_without_a_usable_gpu():
    with gpudnn.device("auto"):
        expected = "cpu" if NO_GPU else "cuda:0"
        assert gpudnn.get_device() == expected


@pytest.mark.skipif(not NO_GPU, reason="a GPU is usable here")
@pytest.mark.parametrize("request_", ["cuda", "cuda:1", "gpu"])
def test_cuda_without_a_gpu_says_why_and_what_to_install(request_):
    with pytest.raises(DeviceUnavailableError) as info:
        gpudnn.set_device(request_)
    message = str(info.value)
    assert request_ in message
    index = int(request_.split(":")[1]) if ":" in request_ else 0
    assert cuda_problem(index) in message   # the reason (CuPy missing, driver, no device) and fix
    assert "gpudnn[cuda1" in message or "driver" in message or "nvidia-smi" in message
    assert gpudnn.get_device() == "cpu"   # nothing changed, no silent fallback
    with pytest.raises(DeviceUnavailableError):
        models.Sequential(device=request_)


def test_missing_cupy_is_reported_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)   # makes `import cupy` raise ImportError
    assert "CuPy is not installed" in cuda_problem()
    assert "pip install gpudnn[cuda12]" in cuda_problem()


@pytest.mark.parametrize("bad", ["tpu", "cuda:x", "", 3])
def test_unknown_device_strings(bad):
    with pytest.raises(InvalidInputError, match="cpu.*cuda"):
        gpudnn.set_device(bad)


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env})


def test_gpudnn_device_environment_variable_is_read_at_import():
    done = run_python("import gpudnn; print(gpudnn.get_device())", GPUDNN_DEVICE="cpu")
    assert done.stdout.strip() == "cpu"
    bad = run_python("import gpudnn", GPUDNN_DEVICE="tpu")
    assert "unknown device 'tpu'" in bad.stderr


def test_import_never_needs_cupy():
    done = run_python("import sys; sys.modules['cupy'] = None; import gpudnn; "
                      "from gpudnn import models, layers; print('ok')")
    assert done.stdout.strip() == "ok", done.stderr
