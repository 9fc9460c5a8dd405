"""Reads the CUDA kernel sources in ``kernels/*.cu`` into :class:`KernelSpec` records.

The file format is documented at the top of ``kernels/activations.cu``: a file preamble, then for
each kernel one header line::

    // kernel: NAME | in: IN PARAMS | out: OUT PARAMS | scalars: NAMES

followed by its body up to the next header. This module knows nothing of CuPy: it only parses,
so the CPU harness, the NVRTC check and the CuPy backend all read the same records.

The sources are the ``kernels/`` folder next to ``gpudnn/`` in a source checkout, else the
package ``gpudnn.kernels`` found with ``importlib.resources`` (a wheel maps ``kernels/`` there).
"""

import importlib.resources
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: The kernel families, one ``.cu`` file each.
FAMILIES = ("activations", "losses", "optimizers", "random", "data")

_HEADER = re.compile(r"^//\s*kernel:\s*(?P<fields>.*)$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: dtype names a parameter may have besides a one-letter type placeholder such as ``T``.
FIXED_TYPES = ("bool", "int32", "int64", "float32", "float64")


@dataclass(frozen=True)
class Param:
    """One kernel parameter: ``[raw] TYPE NAME`` in CuPy's notation."""

    name: str
    type: str  # "T" (the arrays' dtype) or one of FIXED_TYPES
    raw: bool
    scalar: bool  # passed as a Python scalar (listed in the header's `scalars` field)


@dataclass(frozen=True)
class KernelSpec:
    """A kernel as written in ``kernels/FAMILY.cu``."""

    name: str
    family: str
    in_params: str  # CuPy's in-params string, verbatim
    out_params: str  # CuPy's out-params string, verbatim
    scalars: tuple  # names of the in-params passed as scalars
    body: str
    preamble: str  # the file's preamble, shared by its kernels

    @property
    def inputs(self):
        return _parse_params(self.in_params, self.scalars, self.name)

    @property
    def outputs(self):
        return _parse_params(self.out_params, (), self.name)

    @property
    def is_row_kernel(self):
        """True when every array is ``raw``: CuPy needs ``size=`` (the number of rows)."""
        return all(p.raw or p.scalar for p in self.inputs + self.outputs)


def _parse_params(text, scalars, kernel):
    params = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        words = item.split()
        raw = words[0] == "raw"
        if raw:
            words = words[1:]
        if len(words) != 2 or not _NAME.match(words[1]):
            raise ValueError(f"kernel {kernel}: bad parameter {item!r}")
        type_, name = words
        if not (len(type_) == 1 or type_ in FIXED_TYPES):
            raise ValueError(f"kernel {kernel}: parameter {name} has unknown type {type_!r}")
        params.append(Param(name, type_, raw, name in scalars))
    return tuple(params)


def parse(text, family):
    """The kernels of one ``.cu`` file's ``text``, in file order."""
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if _HEADER.match(line)]
    if not headers:
        raise ValueError(f"{family}.cu has no '// kernel:' header")
    preamble = "\n".join(lines[: headers[0]]).strip() + "\n"
    specs = []
    for start, end in zip(headers, headers[1:] + [len(lines)]):
        fields = {}
        for field in _HEADER.match(lines[start]).group("fields").split("|"):
            key, sep, value = field.partition(":")
            if not sep and not fields:  # the first field is the name
                key, value = "name", key
            fields[key.strip()] = value.strip()
        name = fields.get("name", "")
        if not _NAME.match(name) or "in" not in fields or "out" not in fields:
            raise ValueError(f"{family}.cu line {start + 1}: header must read "
                             "'// kernel: NAME | in: ... | out: ... [| scalars: ...]'")
        scalars = tuple(s.strip() for s in fields.get("scalars", "").split(",") if s.strip())
        body = "\n".join(lines[start + 1: end]).strip()
        if not body:
            raise ValueError(f"kernel {name} in {family}.cu has an empty body")
        spec = KernelSpec(name, family, fields["in"], fields["out"], scalars, body, preamble)
        unknown = set(scalars) - {p.name for p in spec.inputs}
        if unknown:
            raise ValueError(f"kernel {name}: scalars {sorted(unknown)} are not in-params")
        spec.outputs  # validates the out-params
        specs.append(spec)
    return specs


def _source_dir():
    """The folder (a Traversable) holding the ``.cu`` files: ``kernels/`` beside ``gpudnn/``
    in a source checkout (so that a second checkout, e.g. a git worktree, reads its own
    kernels even while another is installed in editable mode), else the package."""
    checkout = Path(__file__).resolve().parents[2] / "kernels"
    if (checkout / "activations.cu").is_file():
        return checkout
    try:
        return importlib.resources.files("gpudnn.kernels")
    except ModuleNotFoundError:
        raise FileNotFoundError(
            "gpudnn's CUDA kernel sources are missing: neither the package gpudnn.kernels nor "
            f"{checkout} exists; reinstall gpudnn") from None


def read_family(family):
    """The text of ``kernels/FAMILY.cu``."""
    return (_source_dir() / f"{family}.cu").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def load_kernels():
    """Every kernel of every family: ``{name: KernelSpec}``, parsed once and cached."""
    specs = {}
    for family in FAMILIES:
        for spec in parse(read_family(family), family):
            if spec.name in specs:
                raise ValueError(f"kernel {spec.name} is defined twice")
            specs[spec.name] = spec
    return specs
