"""The CUDA bodies of ``kernels/*.cu`` compiled by g++ into a host shared library, for the CPU.

One library per dtype holds every kernel of every family. Each kernel becomes::

    extern "C" void NAME(ptrdiff_t n, params...)

running its body for every ``i`` in ``[0, n)`` with ``cupy.ElementwiseKernel``'s meaning: a
non-raw array param is the element at ``i`` (``const T& x`` for an in-param, ``T& y`` for an
out-param, the call passing the array's pointer), a ``raw`` param is the pointer itself, indexed
by hand, and a scalar param is a value; ``T`` is ``float`` or ``double``. A row kernel (every
array raw) runs ``i`` over the ``n`` rows. The body sits in a lambda, so a ``return`` in it ends
that index only, as it ends one CUDA thread. In a kernel over an (n, k) batch with an int32
scalar ``k``, the idioms ``i % k`` (the column) and ``i / k`` (the row: a per-sample weight)
are replaced by counters kept by a loop over rows: the same values, without an integer division
per element that stops vectorisation.

With ``openmp`` the loop is split in equal static chunks over the OpenMP threads when its work
(``n``, times ``k`` for a row kernel) is at least ``parallel_min`` elements, and runs serially
below that, where starting the threads would cost more than it saves.

Each call runs with subnormal floats flushed to zero (x86-64: MXCSR FTZ|DAZ, ``0x8040``;
AArch64: FPCR FZ) while :func:`gpudnn.set_flush_denormal` is on, the default: the entry point
saves the calling thread's mode, sets the bits, runs, and restores it, and every OpenMP thread of
the parallel branch does the same with its own register (each thread has one), so the caller's
floating-point mode is never changed. x86 arithmetic on subnormals is ~40x slower, and they pile
up in optimizer state. ``gpudnn_set_flush_denormal(int)`` switches it per library and
``gpudnn_fp_control()`` reads the calling thread's register (tests). Other CPUs compile it out.

The flags keep the arithmetic NumPy's, operation for operation: ``-ffp-contract=off`` (no fused
multiply-add) and no fast-math; ``-fno-math-errno`` only lets ``sqrt`` compile to the (correctly
rounded) vector instruction; ``-march=native`` widens the vectors on the machine that compiles.

The library is cached on disk under ``$GPUDNN_CACHE_DIR`` (default ``~/.cache/gpudnn/host-kernels``)
named by a hash of its source, the shim, the flags, the compiler's version and this CPU, and is
written atomically, so concurrent processes never load half a file and only the first pays the
compile (about half a second).
"""

import ctypes
import hashlib
import os
import platform
import re
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from .. import config
from ..errors import KernelCompileError
from .kernel_half import HALF_DTYPES, load_ema_kernels, load_gated_kernels, load_half_kernels
from .kernel_source import FAMILIES, VECTOR_HELPERS, load_kernels

SHIM = Path(__file__).with_name("cuda_shim.h")
#: Always used; ``-fno-math-errno`` vectorises sqrt without changing any result.
BASE_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off", "-fno-math-errno")
OPENMP_FLAGS = ("-fopenmp",)
#: GCC's (not clang's): enough runtime alias checks to vectorise a loop over many arrays. An
#: update's EMA form has seven pointers; with GCC's default of 10 checks it stays scalar and
#: runs 3x slower (Adam over 407,050 params: 1.42 ms against 0.46 ms, 2 cores).
GCC_FLAGS = ("--param=vect-max-version-for-alias-checks=64",)
#: Loops with at least this many elements run on all OpenMP threads. Waking the sleeping second
#: thread (libgomp's passive wait, see ``_open``) costs tens of microseconds, more than it saves
#: while the buffers sit in cache. Measured on 2 cores (float32, median of 9): Adam over 407,050
#: params 137 us serial vs 274 us on 2 threads, over 2M 0.90 vs 1.14 ms, over 4M 3.66 vs 2.26 ms,
#: over 10M 10.1 vs 5.9 ms; SGD crosses over near 2M as well.
PARALLEL_MIN = 3_000_000

_CTYPE_NAMES = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
                "bool": "bool", "float16": "gpudnn_float16", "bfloat16": "gpudnn_bfloat16"}
_CTYPES = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int32": ctypes.c_int32,
           "int64": ctypes.c_int64, "bool": ctypes.c_bool}
_loaded = {}
_lock = threading.Lock()


def compiler():
    """The C++ compiler command: ``$GPUDNN_CXX``, default ``g++``."""
    return os.environ.get("GPUDNN_CXX", "").strip() or "g++"


def _arch_flags():
    return ("-march=native",) if platform.machine().lower() in ("x86_64", "amd64", "aarch64") else ()


def flags(openmp=True):
    """The full g++ flag list of a build."""
    gcc = () if "clang" in os.path.basename(compiler()) else GCC_FLAGS
    return BASE_FLAGS + gcc + _arch_flags() + (OPENMP_FLAGS if openmp else ())


def _dtype_name(dtype):
    name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if name not in ("float32", "float64") + HALF_DTYPES:
        raise TypeError(f"host kernels are built for float32, float64, float16 and bfloat16, "
                        f"not {name}")
    return name


def _placeholders(name):
    """The C types of the type placeholders in the library of dtype ``name``: ``T`` the float
    type; in a 16-bit library (kernel_half.py's forms) ``T`` is float and ``H`` the 16 bits."""
    if name in HALF_DTYPES:
        return {"T": "float", "H": _CTYPE_NAMES[name]}
    return {"T": _CTYPE_NAMES[name]}


def kernels_of(dtype):
    """The kernels a library of ``dtype`` holds: every kernel and its EMA and gated forms, or
    the 16-bit forms."""
    if _dtype_name(dtype) in HALF_DTYPES:
        return load_half_kernels()
    return {**load_kernels(), **load_ema_kernels(), **load_gated_kernels()}


#: ``i % k`` and ``i / k``, the column and the row of element i of an (n, k) batch seen flat.
_COLUMN = re.compile(r"\bi\s*%\s*k\b")
_ROW = re.compile(r"\bi\s*/\s*k\b")


def _is_column_kernel(spec):
    """An elementwise kernel over an (n, k) batch that indexes by column (``bias[i % k]``) or
    by row (``w[i / k]``)."""
    return (not spec.is_row_kernel and "k" in spec.scalars
            and (_COLUMN.search(spec.body) or _ROW.search(spec.body)) is not None
            and all(p.type == "int32" for p in spec.inputs if p.name == "k"))


def _kernel_source(spec, placeholders, openmp, parallel_min):
    args, names, refs = ["ptrdiff_t _n"], [], []
    for p in spec.inputs + spec.outputs:
        const = "const " if p in spec.inputs else ""
        t = placeholders.get(p.type) or _CTYPE_NAMES[p.type]
        if p.scalar:
            args.append(f"const {t} {p.name}")
            names.append(p.name)
        elif p.raw:
            args.append(f"{const}{t}* {p.name}")
            names.append(p.name)
        else:
            args.append(f"{const}{t}* _raw_{p.name}")
            names.append(f"_raw_{p.name}")
            refs.append(f"    {const}{t}& {p.name} = _raw_{p.name}[i];")
    text, columns = spec.body, _is_column_kernel(spec)
    if columns:
        text = _ROW.sub("_rowi", _COLUMN.sub("_col", text))
    body = "\n".join("    " + line for line in text.splitlines())
    # The loop over [_lo, _hi) is a function of its own, its pointers plain arguments: GCC
    # vectorises it, where it would not vectorise the body inside OpenMP's outlined loop.
    if columns:  # row by row, so that the column is a counter, not a division per element
        loop = ("  if (k <= 0) return;\n"
                "  for (ptrdiff_t _row = _lo - _lo % k; _row < _hi; _row += k) {\n"
                "    const ptrdiff_t _first = _row < _lo ? _lo - _row : 0;\n"
                "    const ptrdiff_t _last = _hi - _row < k ? _hi - _row : k;\n"
                "    const ptrdiff_t _rowi = _row / k;\n"
                "    for (ptrdiff_t _col = _first; _col < _last; ++_col)\n"
                "      _body(_row + _col, _col, _rowi);\n"
                "  }")
    else:
        loop = "  for (ptrdiff_t i = _lo; i < _hi; ++i) _body(i, 0, 0);"
    ranged = (f"static void {spec.name}_range(const ptrdiff_t _lo, const ptrdiff_t _hi, "
              f"{', '.join(args[1:])}) {{\n"
              "  auto _body = [&](const ptrdiff_t i, const ptrdiff_t _col,\n"
              "                   const ptrdiff_t _rowi) {\n" +
              "\n".join(refs) + f"\n{body}\n    ;\n  }};\n{loop}\n}}")
    call = ", ".join(names)
    serial = (f"  {{\n    const gpudnn_fp_scope _fp(_mode);\n"
              f"    {spec.name}_range(0, _n, {call});\n  }}")
    if openmp:
        row_k = " * (ptrdiff_t)k" if spec.is_row_kernel and "k" in spec.scalars else ""
        run = (f"  if (_n{row_k} >= {int(parallel_min)}) {{\n"
               "    // one static chunk per thread, a multiple of 16 elements (64-byte lines)\n"
               "    const ptrdiff_t _chunks = omp_get_max_threads();\n"
               "    const ptrdiff_t _step = ((_n + _chunks - 1) / _chunks + 15) / 16 * 16;\n"
               "#pragma omp parallel\n"
               "    {\n"
               "      const gpudnn_fp_scope _fp(_mode);  // each thread's own register\n"
               "#pragma omp for schedule(static)\n"
               "      for (ptrdiff_t _c = 0; _c < _chunks; ++_c) {\n"
               "        const ptrdiff_t _end = (_c + 1) * _step;\n"
               f"        {spec.name}_range(_c * _step, _end < _n ? _end : _n, {call});\n"
               "      }\n"
               "    }\n"
               f"  }} else\n{serial}")
    else:
        run = serial
    return (f'{ranged}\n\nextern "C" void {spec.name}({", ".join(args)}) {{\n'
            f"  const gpudnn_fp_word _mode = gpudnn_fp_mode();\n{run}\n}}")


#: The floating-point mode of a call: the calling thread's, with subnormals flushed while
#: ``gpudnn_flush_denormal`` is set; ``gpudnn_fp_scope`` holds it on one thread and restores.
#: The empty asm statements with a memory clobber keep the loop's loads and stores between the
#: two register writes.
FP_MODE_SOURCE = r"""
#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
typedef unsigned int gpudnn_fp_word;
static const gpudnn_fp_word GPUDNN_FLUSH_BITS = 0x8040;  // MXCSR FTZ (bit 15) | DAZ (bit 6)
static inline gpudnn_fp_word gpudnn_fp_get() { return _mm_getcsr(); }
static inline void gpudnn_fp_set(gpudnn_fp_word m) { _mm_setcsr(m); }
#elif defined(__aarch64__)
typedef unsigned long long gpudnn_fp_word;
static const gpudnn_fp_word GPUDNN_FLUSH_BITS = 1ull << 24;  // FPCR FZ: inputs and results
static inline gpudnn_fp_word gpudnn_fp_get() {
  gpudnn_fp_word m;
  __asm__ __volatile__("mrs %0, fpcr" : "=r"(m));
  return m;
}
static inline void gpudnn_fp_set(gpudnn_fp_word m) {
  __asm__ __volatile__("msr fpcr, %0" : : "r"(m));
}
#else  // subnormals are kept on other CPUs (gpudnn.config.FLUSH_SUPPORTED is False there)
typedef unsigned long long gpudnn_fp_word;
static const gpudnn_fp_word GPUDNN_FLUSH_BITS = 0;
static inline gpudnn_fp_word gpudnn_fp_get() { return 0; }
static inline void gpudnn_fp_set(gpudnn_fp_word) {}
#endif

static int gpudnn_flush_denormal = 1;
extern "C" void gpudnn_set_flush_denormal(int on) { gpudnn_flush_denormal = on; }
extern "C" unsigned long long gpudnn_fp_control() { return gpudnn_fp_get(); }

static inline gpudnn_fp_word gpudnn_fp_mode() {
  const gpudnn_fp_word m = gpudnn_fp_get();
  return gpudnn_flush_denormal ? (m | GPUDNN_FLUSH_BITS) : m;
}

struct gpudnn_fp_scope {
  gpudnn_fp_word saved, mode;
  explicit gpudnn_fp_scope(gpudnn_fp_word wanted) : saved(gpudnn_fp_get()), mode(wanted) {
    if (mode != saved) gpudnn_fp_set(mode);
    __asm__ __volatile__("" : : : "memory");
  }
  ~gpudnn_fp_scope() {
    __asm__ __volatile__("" : : : "memory");
    if (mode != saved) gpudnn_fp_set(saved);
  }
};
"""


def translation_unit(dtype, openmp=True, parallel_min=PARALLEL_MIN):
    """The C++ source of every kernel with ``T`` bound to ``dtype`` (a 16-bit dtype: the 16-bit
    forms, ``H`` bound to it); each family's preamble and kernels sit in a namespace of their
    own (the kernels keep their C names)."""
    placeholders = _placeholders(_dtype_name(dtype))
    specs = kernels_of(dtype)
    half = ["#define GPUDNN_HALF_TYPES"] if "H" in placeholders else []
    if placeholders.get("H") == _CTYPE_NAMES["float16"]:
        half.append("#define GPUDNN_FLOAT16")
    parts = (half + ['#include "cuda_shim.h"'] + (["#include <omp.h>"] if openmp else []) +
             [FP_MODE_SOURCE.strip()])
    generated = sorted({s.family for s in specs.values()} - set(FAMILIES))  # the casts
    for family in FAMILIES + tuple(generated):
        members = [s for s in specs.values() if s.family == family]
        if not members:
            continue
        types = "".join(f"typedef {c} {t};\n" for t, c in placeholders.items())
        parts.append(f"namespace gpudnn_{family} {{\n{types}{members[0].preamble}")
        if any(s.lanes > 1 for s in members):  # the vector forms' preamble adds their helpers
            parts.append(VECTOR_HELPERS)
        parts.extend(_kernel_source(s, placeholders, openmp, parallel_min) for s in members)
        parts.append(f"}}  // namespace gpudnn_{family}")
    return "\n\n".join(parts) + "\n"


def argtypes(spec, dtype):
    """The ctypes argument types of kernel ``spec`` for ``dtype``: ``ssize_t n``, then a pointer
    per array param and a value per scalar, in the kernel's in-then-out order."""
    name = _dtype_name(dtype)
    scalar_t = "float32" if name in HALF_DTYPES else name  # T is float in a 16-bit library
    types = [ctypes.c_ssize_t]
    for p in spec.inputs + spec.outputs:
        types.append(_CTYPES[scalar_t if p.type == "T" else p.type] if p.scalar
                     else ctypes.c_void_p)
    return types


def cache_dir():
    """Where compiled libraries are kept (created on demand)."""
    root = os.environ.get("GPUDNN_CACHE_DIR")
    if root:
        return Path(root) / "host-kernels"
    return Path.home() / ".cache" / "gpudnn" / "host-kernels"


def _compiler_version(cxx):
    try:
        done = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KernelCompileError(
            f"the C++ compiler {cxx!r} is not usable ({type(exc).__name__}: {exc}); install g++ "
            "(e.g. `apt-get install g++`) or point GPUDNN_CXX at one") from None
    if done.returncode != 0:
        raise KernelCompileError(f"`{cxx} --version` failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _cpu_identity():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    lines = [ln for ln in text.splitlines() if ln.split(":")[0].strip() in
             ("model name", "flags", "Features", "CPU part")]
    return "\n".join(sorted(set(lines)))


def build(dtype, openmp=True, parallel_min=PARALLEL_MIN):
    """Compile (or find in the cache) the library for ``dtype``; returns its path.

    Raises :class:`~gpudnn.errors.KernelCompileError` naming the cause when the compiler is
    missing or rejects the source (its log is in the message).
    """
    name = _dtype_name(dtype)
    source = translation_unit(name, openmp, parallel_min)
    cxx = compiler()
    all_flags = flags(openmp)
    key = "\0".join([source, SHIM.read_text(), " ".join(all_flags), _compiler_version(cxx),
                     _cpu_identity()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    folder = cache_dir()
    so = folder / f"gpudnn-{name}-{'omp' if openmp else 'serial'}-{digest}.so"
    if so.exists():
        return so
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".build-", dir=folder)
    except OSError as exc:
        raise KernelCompileError(f"cannot write the kernel cache {folder} ({exc}); set "
                                 "GPUDNN_CACHE_DIR to a writable folder") from None
    try:
        cpp, out = Path(tmp) / "kernels.cpp", Path(tmp) / "kernels.so"
        cpp.write_text(source)
        done = subprocess.run([cxx, *all_flags, f"-I{SHIM.parent}", str(cpp), "-o", str(out)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise KernelCompileError(
                f"{cxx} rejected the host kernels for {name} (their source is "
                f"gpudnn.backend.host_kernels.translation_unit({name!r})):\n{done.stderr}")
        os.replace(out, so)  # atomic: a concurrent process sees no file or the whole file
    finally:
        for leftover in Path(tmp).iterdir():
            leftover.unlink()
        os.rmdir(tmp)
    return so


def _open(path, openmp):
    """``ctypes.CDLL(path)``; an OpenMP build loads with libgomp told to sleep, not spin, when
    idle (``OMP_WAIT_POLICY=passive``, unless the user set a policy), restoring the environment
    after. libgomp reads the policy when it is first loaded. Spinning (its default) keeps a core
    busy for about a millisecond after each loop, which starves OpenBLAS's GEMM threads: a
    training step took 15x longer on 2 cores."""
    user_set = any(os.environ.get(v) for v in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))
    if not openmp or user_set:
        return ctypes.CDLL(str(path))
    os.environ["OMP_WAIT_POLICY"] = "passive"
    try:
        return ctypes.CDLL(str(path))
    finally:
        del os.environ["OMP_WAIT_POLICY"]


def load(dtype, openmp=True, parallel_min=PARALLEL_MIN):
    """The loaded library for ``dtype`` (built on first use, once per process), every kernel's
    ``argtypes`` set, ``restype`` None; loops of ``parallel_min`` elements or more use OpenMP."""
    key = (_dtype_name(dtype), bool(openmp), int(parallel_min))
    lib = _loaded.get(key)
    if lib is None:
        with _lock:
            lib = _loaded.get(key)
            if lib is None:
                lib = _open(build(key[0], openmp, parallel_min), openmp)
                for spec in kernels_of(key[0]).values():
                    fn = getattr(lib, spec.name)
                    fn.argtypes = argtypes(spec, key[0])
                    fn.restype = None
                lib.gpudnn_set_flush_denormal.argtypes = [ctypes.c_int]
                lib.gpudnn_set_flush_denormal.restype = None
                lib.gpudnn_fp_control.argtypes = []
                lib.gpudnn_fp_control.restype = ctypes.c_ulonglong
                lib.gpudnn_set_flush_denormal(int(config.flush_denormal()))
                _loaded[key] = lib
    return lib


def set_flush_denormal(on):
    """Switch flushing in every loaded library (libraries loaded later read
    :func:`gpudnn.config.flush_denormal`); called by :func:`gpudnn.set_flush_denormal`
    through the hook registered below."""
    with _lock:
        for lib in _loaded.values():
            lib.gpudnn_set_flush_denormal(int(bool(on)))


config.on_flush_denormal_change(set_flush_denormal)
