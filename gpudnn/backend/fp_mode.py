"""Flush-to-zero for NumPy code on the calling thread, set from Python without a compiler.

On x86-64 Linux with glibc, ``fegetenv``/``fesetenv`` of the C library (through ctypes) read and
write the whole floating-point environment, MXCSR included: glibc's ``fenv_t`` there is 32 bytes
with MXCSR in the last four. :func:`enter` sets MXCSR's flush-to-zero and denormals-are-zero bits
(``0x8040``, the mode the compiled kernels run in) and returns the environment to give back to
:func:`leave`; NumPy's float loops run on the calling thread, so they then compute what the
kernels compute, at full speed (about 1 us per enter/leave pair). Elsewhere (another CPU or C
library) :func:`enter` returns None and the NumPy backend emulates the flush op by op instead.
The environment is checked once on first use: the bits must read back set, and restoring must
give the environment back unchanged; otherwise this is treated as unavailable.
"""

import ctypes
import ctypes.util
import platform
import threading

FLUSH_BITS = 0x8040
_FENV_BYTES = 32
_MXCSR_OFFSET = 28
_state = {}
_lock = threading.Lock()


def _mxcsr(env):
    return int.from_bytes(env.raw[_MXCSR_OFFSET:_MXCSR_OFFSET + 4], "little")


def _with_mxcsr(env, value):
    raw = env.raw[:_MXCSR_OFFSET] + value.to_bytes(4, "little") + env.raw[_MXCSR_OFFSET + 4:]
    return ctypes.create_string_buffer(raw, _FENV_BYTES)


def _load():
    """libm's (fegetenv, fesetenv) when they are glibc's on x86-64 and pass the check, else None."""
    if platform.machine().lower() not in ("x86_64", "amd64") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        get, put = libm.fegetenv, libm.fesetenv
    except (OSError, AttributeError):
        return None
    for fn in (get, put):
        fn.argtypes, fn.restype = [ctypes.c_char_p], ctypes.c_int
    saved, probe, back = (ctypes.create_string_buffer(_FENV_BYTES) for _ in range(3))
    if get(saved) != 0:
        return None
    try:
        ok = put(_with_mxcsr(saved, _mxcsr(saved) | FLUSH_BITS)) == 0 and get(probe) == 0 and \
            _mxcsr(probe) & FLUSH_BITS == FLUSH_BITS
    finally:
        put(saved)
    if not ok or get(back) != 0 or _mxcsr(back) != _mxcsr(saved):
        return None
    return get, put


def _functions():
    if "fns" not in _state:
        with _lock:
            if "fns" not in _state:
                _state["fns"] = _load()
    return _state["fns"]


def available():
    """True when :func:`enter` can set the mode on this machine."""
    return _functions() is not None


def enter():
    """Set FTZ|DAZ on the calling thread; returns the environment to restore with :func:`leave`,
    or None (nothing changed) where that is not possible."""
    fns = _functions()
    if fns is None:
        return None
    get, put = fns
    saved = ctypes.create_string_buffer(_FENV_BYTES)
    get(saved)
    put(_with_mxcsr(saved, _mxcsr(saved) | FLUSH_BITS))
    return saved


def leave(saved):
    """Restore the calling thread's environment saved by :func:`enter`."""
    _functions()[1](saved)
