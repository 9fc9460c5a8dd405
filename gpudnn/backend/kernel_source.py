"""Reads the CUDA kernel sources in ``kernels/*.cu`` into :class:`KernelSpec` records.

The file format is documented at the top of ``kernels/activations.cu``: a file preamble, then for
each kernel one header line::

    // kernel: NAME | in: IN PARAMS | out: OUT PARAMS | scalars: NAMES | lanes: L

followed by its body up to the next header. This module knows nothing of CuPy: it only parses,
so the CPU harness, the NVRTC check and the CuPy backend all read the same records.

A loss kernel with ``weighted: yes`` also gets its per-sample weighted twin ``NAME_w`` (see
:func:`weighted_form`).

A kernel with ``lanes: L`` (the optimizer updates) also gets a *vector form* ``NAME_xL``,
generated here from the same body (see :func:`vector_form`): each thread updates L consecutive
elements, loading and storing them as 16-byte vectors (float4, or two double2), which keeps
enough bytes in flight per thread to reach a GPU's memory bandwidth.

The sources are the ``kernels/`` folder next to ``gpudnn/`` in a source checkout, else the
package ``gpudnn.kernels`` found with ``importlib.resources`` (a wheel maps ``kernels/`` there).
"""

import importlib.resources
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

#: The kernel families, one ``.cu`` file each.
FAMILIES = ("activations", "losses", "optimizers", "random", "data", "metrics", "normalization",
            "loss_scaling")

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
    preamble: str  # the file's preamble, shared by its kernels (+ VECTOR_HELPERS in a vector form)
    lanes: int = 1  # elements one thread handles: L in a vector form, else 1
    vector: str = ""  # the name of this kernel's vector form, if it has one

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


#: Helpers of every vector form, after its family's preamble: L lanes (a multiple of 4) moved
#: between a 16-byte-aligned address and registers as float4 or double2 accesses.
VECTOR_HELPERS = """
// 16 bytes between a 16-byte-aligned address and registers: one float4 or double2 access.
__device__ __forceinline__ void load16(const float* p, float* x) {
  const float4 q = *reinterpret_cast<const float4*>(p);
  x[0] = q.x; x[1] = q.y; x[2] = q.z; x[3] = q.w;
}
__device__ __forceinline__ void load16(const double* p, double* x) {
  const double2 q = *reinterpret_cast<const double2*>(p);
  x[0] = q.x; x[1] = q.y;
}
__device__ __forceinline__ void store16(float* p, const float* x) {
  float4 q;
  q.x = x[0]; q.y = x[1]; q.z = x[2]; q.w = x[3];
  *reinterpret_cast<float4*>(p) = q;
}
__device__ __forceinline__ void store16(double* p, const double* x) {
  double2 q;
  q.x = x[0]; q.y = x[1];
  *reinterpret_cast<double2*>(p) = q;
}
template <typename U, int L>
__device__ __forceinline__ void load_lanes(const U* p, U (&x)[L]) {
#pragma unroll
  for (int c = 0; c < L; c += 16 / (int)sizeof(U)) load16(p + c, x + c);
}
template <typename U, int L>
__device__ __forceinline__ void store_lanes(U* p, const U (&x)[L]) {
#pragma unroll
  for (int c = 0; c < L; c += 16 / (int)sizeof(U)) store16(p + c, x + c);
}
"""

#: Names the vector form's code declares around the body (the body must not use them).
_VECTOR_NAMES = re.compile(r"\b(i|n|first|whole|lane|return|\w+_lanes|\w+_buf)\b")


def vector_form(spec, lanes):
    """The ``lanes``-wide form ``NAME_x{lanes}`` of the elementwise kernel ``spec``.

    Every array param becomes ``raw`` (``x`` is renamed ``x_buf``), an in-param ``int64 n`` (the
    element count) is appended, and it is launched with ``size = ceil(n / lanes)``. Thread ``i``
    loads elements ``[first, first + lanes)``, ``first = lanes i``, of each array into registers
    (16-byte loads when all of them are below ``n``; element by element, bounds checked, in the
    thread that holds the tail of a ``n`` that is not a multiple of ``lanes``), runs the kernel's
    own body on each lane in turn (``x`` bound to lane ``x_lanes[lane]``), then stores the
    out-params back the same way. Same body, same operations per element: the same results as
    the scalar kernel, bit for bit. The caller must pass C-contiguous arrays of n elements whose
    addresses are multiples of 16 bytes (the scalar kernel takes anything else).
    """
    params = spec.inputs + spec.outputs
    arrays = [p for p in params if not p.raw and not p.scalar]
    code = "\n".join(line.split("//")[0] for line in spec.body.splitlines())
    if lanes % 4 or lanes <= 0:
        raise ValueError(f"kernel {spec.name}: lanes must be a positive multiple of 4 "
                         f"(16-byte float32 vectors), not {lanes}")
    if not arrays or any(p.type != "T" for p in arrays):
        raise ValueError(f"kernel {spec.name}: a vector form needs element-wise arrays, "
                         "all of type T")
    clash = _VECTOR_NAMES.search(code)
    if clash:
        raise ValueError(f"kernel {spec.name}: its body uses {clash.group(0)!r}, which its "
                         "vector form needs for itself (lanes: needs a body of element-wise "
                         "code)")

    def declare(p):
        if p in arrays:
            return f"raw T {p.name}_buf"
        return f"{'raw ' if p.raw else ''}{p.type} {p.name}"

    outs = [p for p in spec.outputs if p in arrays]

    def each(line, among=arrays):
        return "\n".join(line.format(x=p.name) for p in among)

    inner = "\n".join(("  " + line).rstrip() for line in spec.body.splitlines())
    # Loops over lanes run a constant trip count (fully unrolled: the lane arrays stay in
    # registers); the tail's bounds are an if per lane.
    body = f"""// thread i: elements [first, first + {lanes}) of each array, 16 bytes at a time,
// or one by one below n in the thread that holds the tail
const ptrdiff_t first = (ptrdiff_t)i * {lanes};
const bool whole = first + {lanes} <= n;
{each("T {x}_lanes[%d] = {{}};" % lanes)}
if (whole) {{
{each("  load_lanes(&{x}_buf[first], {x}_lanes);")}
}} else {{
#pragma unroll
  for (int lane = 0; lane < {lanes}; ++lane) {{
    if (first + lane < n) {{
{each("      {x}_lanes[lane] = {x}_buf[first + lane];")}
    }}
  }}
}}
#pragma unroll
for (int lane = 0; lane < {lanes}; ++lane) {{
{each("  const T& {x} = {x}_lanes[lane];", [p for p in arrays if p not in outs])}
{each("  T& {x} = {x}_lanes[lane];", outs)}
{inner}
}}
if (whole) {{
{each("  store_lanes(&{x}_buf[first], {x}_lanes);", outs)}
}} else {{
#pragma unroll
  for (int lane = 0; lane < {lanes}; ++lane) {{
    if (first + lane < n) {{
{each("      {x}_buf[first + lane] = {x}_lanes[lane];", outs)}
    }}
  }}
}}"""
    in_params = ", ".join([declare(p) for p in spec.inputs] + ["int64 n"])
    out_params = ", ".join(declare(p) for p in spec.outputs)
    return KernelSpec(f"{spec.name}_x{lanes}", spec.family, in_params, out_params,
                      spec.scalars + ("n",), body, spec.preamble + VECTOR_HELPERS, lanes=lanes)


def weighted_form(spec):
    """The per-sample weighted twin ``NAME_w`` of the loss kernel ``spec`` (header field
    ``weighted``): a ``raw T w`` of (n,) weights after its first two params (p, y), an
    ``int32 k`` (the row length) if it had none, and its own body followed by the product of
    its one output with its row's weight: ``g = g * w[i / k]`` element-wise, each element of
    row i of a row kernel times ``w[i]``. The same operations, in the same order, as writing
    ``expression * w[i / k]``: its results bit for bit."""
    (out,) = spec.outputs
    params = [s.strip() for s in spec.in_params.split(",")]
    params.insert(2, "raw T w")
    scalars = spec.scalars
    if "k" not in {p.name for p in spec.inputs}:
        params.append("int32 k")
        scalars += ("k",)
    if spec.is_row_kernel:
        weigh = (f"for (int j = 0; j < k; ++j) {{\n"
                 f"  {out.name}[(ptrdiff_t)i * k + j] = {out.name}[(ptrdiff_t)i * k + j] * w[i];\n}}")
    else:
        weigh = f"{out.name} = {out.name} * w[i / k];"
    body = f"{spec.body}\n// weighted: times the row's sample weight\n{weigh}"
    return KernelSpec(f"{spec.name}_w", spec.family, ", ".join(params), spec.out_params, scalars,
                      body, spec.preamble)


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
        lanes = fields.get("lanes", "")
        if lanes and not lanes.isdigit():
            raise ValueError(f"kernel {name}: lanes must be a number, not {lanes!r}")
        vector = f"{name}_x{lanes}" if lanes else ""
        spec = KernelSpec(name, family, fields["in"], fields["out"], scalars, body, preamble,
                          vector=vector)
        unknown = set(scalars) - {p.name for p in spec.inputs}
        if unknown:
            raise ValueError(f"kernel {name}: scalars {sorted(unknown)} are not in-params")
        spec.outputs  # noqa: B018 (the property validates the out-params)
        specs.append(spec)
        if lanes:
            specs.append(vector_form(spec, int(lanes)))
        if fields.get("weighted"):
            specs.append(weighted_form(spec))
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
