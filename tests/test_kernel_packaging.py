"""kernels/*.cu ship inside the wheel as gpudnn.kernels and load from an install of it."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from gpudnn.backend.kernel_source import FAMILIES

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_and_loads_the_kernels(tmp_path):
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = (tmp_path / "dist").glob("gpudnn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for family in FAMILIES:
        assert f"gpudnn/kernels/{family}.cu" in names
    assert "gpudnn/kernels/__init__.py" in names
    assert "gpudnn/backend/cuda_shim.h" in names  # the compiled CPU backend includes it

    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--target",
         str(site), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    probe = ("import gpudnn.backend.kernel_source as ks, importlib.resources as r\n"
             "print(ks.__file__)\n"
             "print(r.files('gpudnn.kernels'))\n"
             "print(len(ks.load_kernels()))\n")
    env = dict(os.environ, PYTHONPATH=str(site))  # the install only, not this checkout
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    module, folder, count = run.stdout.split("\n")[:3]
    assert module.startswith(str(site)) and folder.startswith(str(site))
    assert int(count) == len(_checkout_kernels())


def test_pyproject_lists_every_package_of_the_checkout():
    """pyproject names the packages one by one: a new one left out is missing from a wheel
    built on a clean clone. (A wheel built here would not show it: the checkout's egg-info
    lists every file, so the test above cannot catch it.)"""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {init.parent.relative_to(ROOT).as_posix().replace("/", ".")
             for init in (ROOT / "gpudnn").rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


def _checkout_kernels():
    from gpudnn.backend.kernel_source import load_kernels

    return load_kernels()
