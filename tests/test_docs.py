"""The docs cannot rot: every ```python block of README.md and of docs/*.md runs.

Each file's blocks run in order, in one namespace, in a fresh Python on the CPU
(GPUDNN_DEVICE=cpu) whose working folder is the test's tmp_path, so whatever they write lands
there. A failure names the file, the line of the block that failed and the child's stderr.
Blocks marked ``` or ```bash are output or shell commands and are not run. README.md also
stays a README: at most 250 lines, with at least one Python block.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import subprocess_env

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

# Runs the blocks one by one, so a failure can name the block's first line in its file.
RUNNER = """\
import sys, traceback
namespace = {"__name__": "__main__"}
for line, source in BLOCKS:
    try:
        exec(compile(source, f"{FILE}, block at line {line}", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"{FILE}: the python block at line {line} failed")
"""


def python_blocks(path):
    """``[(line, source)]`` of the ```python blocks of ``path``; ``line`` is the fence's line."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_python_blocks_run(path, tmp_path):
    blocks = python_blocks(path)
    if not blocks:
        pytest.skip(f"{path.name} has no python block")
    name = path.relative_to(ROOT).as_posix()
    script = f"BLOCKS = {blocks!r}\nFILE = {name!r}\n{RUNNER}"
    env = {**subprocess_env(), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{name}: exit {done.returncode}\n{done.stderr[-6000:]}"


def test_readme_fits_on_a_few_screens():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move reference text to docs/"


def test_the_collector_finds_the_readme_blocks():
    assert python_blocks(ROOT / "README.md"), "no ```python block found in README.md"
