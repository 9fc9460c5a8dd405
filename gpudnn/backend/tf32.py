"""The TF32 setting of float32 matmuls, in one place that both the CuPy backend and its CUDA
graphs read (CuPy's process-wide compute type for float32 GEMMs, asked at every step)."""

import numpy as np
from cupy._core import _routines_linalg


def enable_tf32(enabled=True):
    """Let float32 matmuls use TF32 tensor cores (or turn that off again). Process-wide."""
    mode = _routines_linalg.COMPUTE_TYPE_TF32 if enabled else _routines_linalg.COMPUTE_TYPE_DEFAULT
    _routines_linalg.set_compute_type(np.float32, mode)


def tf32_enabled():
    """True when float32 matmuls are allowed to use TF32."""
    return _routines_linalg.get_compute_type(np.float32) == _routines_linalg.COMPUTE_TYPE_TF32
