"""Weight constraints on the device (gpudnn/constraints.py states the math): a mixin of Backend,
written once for NumPy and CuPy (``xp``, the arrays' module; the CuPy backend passes
``cupy``). Each projects the weight in place after the optimizer's update."""

import numpy as np

#: Keras's backend.epsilon(), as backend.base.EPSILON (which imports this module)
EPSILON = 1e-7


class ConstraintOps:
    """Mixin of Backend: ``constrain``."""

    def constrain(self, kind, w, axis, min_value, max_value, rate, xp=np):
        """Project ``w`` in place: ``kind`` one of max_norm, min_max_norm, non_neg,
        unit_norm; ``axis`` the axis whose slices' norms are bounded."""
        dtype = w.dtype.type
        if kind == "non_neg":
            w *= w >= 0
            return
        norms = xp.sqrt(xp.sum(xp.square(w), axis=axis, keepdims=True))
        if kind == "unit_norm":
            w /= dtype(EPSILON) + norms
            return
        if kind == "max_norm":
            desired = xp.clip(norms, dtype(0), dtype(max_value))
        elif kind == "min_max_norm":
            desired = dtype(rate) * xp.clip(norms, dtype(min_value), dtype(max_value)) + \
                dtype(1 - rate) * norms
        else:
            raise ValueError(f"unknown constraint kind {kind!r}")
        w *= desired / (dtype(EPSILON) + norms)
