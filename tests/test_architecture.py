"""The architecture's limits (docs/architecture.md): every module of gpudnn/ stays under 400
lines, the import contracts of pyproject.toml are kept (import-linter, where installed: CI installs
it with the ``lint`` extra), and layers rebuild a nested model through the registry alone."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from gpudnn import layers, models
from gpudnn.layers import serialization

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400


def test_no_module_of_the_library_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "gpudnn").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by job (docs/architecture.md): {long}"


@pytest.mark.skipif(importlib.util.find_spec("importlinter") is None,
                    reason="import-linter is not installed (pip install -e '.[lint]')")
def test_the_import_contracts_are_kept():
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command;"
                           "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_nested_models_round_trip_through_the_registry():
    assert serialization.model_class("Sequential") is models.Sequential
    inner = models.Sequential([layers.Dense(4, input_shape=(3,))], name="inner")
    outer = models.Sequential([inner, layers.Dense(2)])
    config = layers.serialize(outer.layers[0])
    assert config == {"class_name": "Sequential",
                      "config": {"name": "inner", "layers": [layers.serialize(inner.layers[0])],
                                 "dtype": "float32"}}
    again = layers.deserialize(config)
    assert isinstance(again, models.Sequential) and again.name == "inner"
    assert [type(layer) for layer in again.layers] == [layers.Dense]


def test_importing_gpudnn_imports_no_optional_extra():
    code = ("import sys, gpudnn, gpudnn.cli, gpudnn.tune; "
            "print(sorted(m for m in ('ray', 'optuna', 'cupy', 'matplotlib', 'torch') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
