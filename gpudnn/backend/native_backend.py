"""The compiled CPU backend: NumPy, with the elementwise ops run by the kernels of ``kernels/``.

:class:`CompiledCpuBackend` is :class:`~gpudnn.backend.numpy_backend.NumpyBackend` whose
activations (bias fused), loss and logit gradients, penalty gradient and optimizer updates call
the CUDA bodies of ``kernels/*.cu`` compiled for the host by :mod:`~gpudnn.backend.host_kernels`
(g++ -O3, OpenMP over both cores for large arrays): one pass over memory where NumPy makes
several through temporaries. Matmul, reductions and gathers stay NumPy (OpenBLAS); the weighted
loss ops are :mod:`~gpudnn.backend.native_weighted`'s. Every op does NumPy's operations in
NumPy's order: the updates and the piecewise-linear ops agree with NumPy to the bit. The
activations that need ``tanh``/``exp``/``expm1`` on every element are NumPy's (native_routing.py:
its SIMD loops beat the C library's calls many times over); softmax and the loss kernels call the
C library on a model's output (few columns) and agree with NumPy to a few ulp.

An op whose arrays the kernels cannot take (not C-contiguous, mixed or non-float dtypes, sizes
that disagree, partly overlapping buffers) is done by NumPy instead, so the result is always
right. A call site is validated once: its arrays' pointers, the bound kernel and the element
count are cached under the arrays' ids, and a repeated call costs a dictionary look-up and one
ctypes call, a few microseconds. The cache holds weak references whose callbacks drop a site
when one of its arrays dies, before that id can name another array; an ndarray's pointer, dtype,
size and contiguity never change while it lives.
"""

import warnings
import weakref

import numpy as np

from ..dtype_policies import is_half
from ..errors import KernelCompileError
from . import host_kernels, native_routing
from .mixed_precision import is_half_cast
from .base import ACTIVATION_KINDS, dropout_threshold, smoothing_terms
from .native_metrics import NativeMetrics
from .native_normalization import NativeBatchNorm
from .native_noise import NativeNoise
from .native_weighted import GRAD_KERNELS, NativeWeightedLosses, grad_scalars
from .numpy_backend import NumpyBackend

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_F32 = np.dtype(np.float32)
_ELEMENTWISE = tuple(kind for kind in ACTIVATION_KINDS if kind != "softmax")
_WITH_ALPHA = ("leaky_relu", "elu")
#: without a bias, NumPy's: linear (a copy) and the activations left to it (native_routing)
_UNBIASED_NUMPY = ("linear",) + native_routing.LIBM_FORWARD
def _owner(array):
    """The array that owns ``array``'s memory (itself, or the base of a view, recursively)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


#: Call sites cached before the cache is emptied (arrays of a finished model are then freed).
_MAX_SITES = 4096


class CompiledCpuBackend(NativeBatchNorm, NativeNoise, NativeWeightedLosses, NativeMetrics,
                         NumpyBackend):
    """The CPU backend with compiled elementwise kernels; ``name`` stays ``"cpu"``.

    Creating it compiles nothing; :meth:`load` builds (or finds cached) the library of a dtype
    and raises :class:`~gpudnn.errors.KernelCompileError` when that fails.
    """

    def __init__(self, openmp=True, parallel_min=host_kernels.PARALLEL_MIN):
        super().__init__()
        self.openmp = openmp
        self.parallel_min = parallel_min
        self._libs = {}
        self._sites = {}
        self._half_failed = set()  # 16-bit dtypes whose library did not compile

    def load(self, dtype=np.float32):
        """The compiled kernels for ``dtype`` (float32 or float64), built on first use."""
        dtype = np.dtype(dtype)
        lib = self._libs.get(dtype)
        if lib is None:
            lib = self._libs[dtype] = host_kernels.load(dtype, self.openmp, self.parallel_min)
        return lib

    # ----------------------------------------------------------------- call-site cache
    def _site(self, kernel, arrays, outputs, dtypes=None):
        """``(fn, n, ptr...)`` for ``kernel`` on ``arrays`` (the last ``outputs`` are written),
        or None when NumPy must do the op. ``n`` is the element count of the first array.
        ``dtypes``: each array's dtype, for a 16-bit form or a cast (their 16-bit dtype picks
        the library); by default every array has the first's float dtype."""
        first = arrays[0]
        dtype = first.dtype
        if dtypes is not None:
            dtype = next((d for d in dtypes if is_half(d)), dtype)
        elif dtype not in _FLOATS:
            return None
        expected = dtypes or (dtype,) * len(arrays)
        spans = []
        for j, a in enumerate(arrays):
            if (not isinstance(a, np.ndarray) or a.dtype != expected[j]
                    or not a.flags.c_contiguous
                    or (j >= len(arrays) - outputs and not a.flags.writeable)):
                return None
            start = a.ctypes.data
            spans.append((start, start + a.nbytes, j >= len(arrays) - outputs))
        for j, (s1, e1, out1) in enumerate(spans):
            for s2, e2, out2 in spans[:j]:
                same = s1 == s2 and e1 == e2
                if (same and out1 and out2) or (not same and s1 < e2 and s2 < e1):
                    return None
        if dtype not in _FLOATS:  # a 16-bit library: NumPy does its ops if it cannot be built
            if dtype in self._half_failed:
                return None
            try:
                lib = self.load(dtype)
            except KernelCompileError as exc:
                if dtype not in self._half_failed:
                    self._half_failed.add(dtype)
                    warnings.warn(f"gpudnn: the {dtype} kernels did not compile; NumPy does the "
                                  f"{dtype} ops ({str(exc)[:300]})", RuntimeWarning,
                                  stacklevel=4)
                return None
        else:
            lib = self.load(dtype)
        fn = getattr(lib, kernel)
        return (fn, first.size) + tuple(s for s, _, _ in spans)

    def _cached(self, key, arrays, bind, *args):
        """The site cached under ``key``, else ``bind(*args)`` stored until one of ``arrays`` is
        garbage-collected; None when the kernels cannot take the call (NumPy then does it)."""
        site = self._sites.get(key)
        if site is not None:
            return site
        site = bind(*args)
        if site is None:
            return None
        sites = self._sites
        if len(sites) >= _MAX_SITES:
            sites.clear()

        def drop(_ref, key=key):
            sites.pop(key, None)

        refs = tuple(weakref.ref(a, drop) for a in arrays if a is not None)
        sites[key] = site = site + (refs,)
        return site

    # ----------------------------------------------------------------- activations
    def activation_forward(self, kind, z, bias, out, alpha=0.0):
        # no bias: the kernel reads a cached zero vector, among the site's arrays so that the
        # site dies with it (a scratch array can be evicted and freed)
        given = self._zero_bias(z.shape[1], z.dtype) if bias is None and getattr(z, "ndim", 0) \
            == 2 and z.dtype in _FLOATS and kind not in _UNBIASED_NUMPY else bias
        site = self._cached(("fwd", kind, id(z), id(given), id(out), z.shape), (z, given, out),
                            self._bind_forward, kind, z, given, out)
        if site is None:
            return super().activation_forward(kind, z, bias, out, alpha)
        fn, n, pz, pb, k, po = site[:6]
        if kind in _WITH_ALPHA:
            fn(n, pz, pb, k, alpha, po)
        else:
            fn(n, pz, pb, k, po)

    def _bind_forward(self, kind, z, bias, out):
        if kind not in _ELEMENTWISE and kind != "softmax":
            return None  # NumPy raises the error for an unknown kind
        if (kind == "linear" and bias is None) or getattr(z, "ndim", 0) != 2 or \
                getattr(out, "shape", None) != z.shape:
            return None
        n, k = z.shape
        if kind in native_routing.LIBM_FORWARD and not is_half(z.dtype):
            return None  # NumPy's SIMD tanh / exp beat the C library's per-element calls
        if is_half(z.dtype):  # the 16-bit form: z and out 16-bit, a float32 bias
            if kind == "softmax" or bias is None or getattr(bias, "shape", None) != (k,):
                return None
            site = self._site(f"{kind}_fwd_h", (z, bias, out), 1, (z.dtype, _F32, z.dtype))
            return None if site is None else (site[0], site[1], site[2], site[3], k, site[4])
        if getattr(bias, "shape", None) != (k,):
            return None
        site = self._site(f"{kind}_fwd", (z, bias, out), 1)
        if site is None:
            return None
        fn, size, pz, pb, po = site
        return (fn, n if kind == "softmax" else size, pz, pb, k, po)

    def activation_backward(self, kind, y, dy, out, alpha=0.0):
        site = self._cached(("bwd", kind, id(y), id(dy), id(out), y.shape), (y, dy, out),
                            self._bind_backward, kind, y, dy, out)
        if site is None:
            return super().activation_backward(kind, y, dy, out, alpha)
        fn, n, py, pdy, k, po = site[:6]
        if kind == "softmax":
            fn(n, py, pdy, k, po)
        elif kind in _WITH_ALPHA:
            fn(n, py, pdy, alpha, po)
        else:
            fn(n, py, pdy, po)

    def _bind_backward(self, kind, y, dy, out):
        if kind not in _ELEMENTWISE and kind != "softmax":
            return None
        if kind == "linear" or getattr(y, "ndim", 0) != 2 or \
                getattr(dy, "shape", None) != y.shape or getattr(out, "shape", None) != y.shape:
            return None  # linear is a copy (or nothing): NumPy's
        if kind in native_routing.LIBM_BACKWARD and not is_half(y.dtype):
            return None  # as LIBM_FORWARD
        if is_half(y.dtype):  # the 16-bit form: every array 16-bit
            site = None if kind == "softmax" else \
                self._site(f"{kind}_bwd_h", (y, dy, out), 1, (y.dtype,) * 3)
        else:
            site = self._site(f"{kind}_bwd", (y, dy, out), 1)
        if site is None:
            return None
        fn, size, py, pdy, po = site
        n, k = y.shape
        return (fn, n if kind == "softmax" else size, py, pdy, k, po)

    # ----------------------------------------------------------------- losses
    def loss_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        if weights is not None:
            return self._weighted_loss_grad(kind, y_pred, y_true, out, smoothing, weights)
        kernel = GRAD_KERNELS.get(kind)
        site = self._elementwise(kernel, (y_pred, y_true, out), 1) if kernel else None
        if site is None or y_pred.ndim != 2:
            return super().loss_grad(kind, y_pred, y_true, out, smoothing)
        fn, size, pp, py, po = site[:5]
        n, k = y_pred.shape
        scalars = grad_scalars(kind, smoothing, n, k)
        if kind == "cce_logits":  # a row kernel, one call per row
            fn(n, pp, py, *scalars, k, po)
        else:
            fn(size, pp, py, *scalars, po)

    def logit_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        if weights is not None:
            return self._weighted_logit_grad(kind, y_pred, y_true, out, smoothing, weights)
        site = self._elementwise("smoothed_diff", (y_pred, y_true, out), 1)
        if site is None or kind not in ("bce", "cce") or y_pred.ndim != 2:
            return super().logit_grad(kind, y_pred, y_true, out, smoothing)
        fn, size, pp, py, po = site[:5]
        keep, shift = smoothing_terms(kind, smoothing, y_pred.shape[1])
        fn(size, pp, py, keep, shift, 1.0 / (y_pred.shape[0] if kind == "cce" else size), po)

    def add_penalty_grad(self, param, grad, l1, l2):
        site = self._elementwise("penalty_grad", (param, grad), 1)
        if site is None:
            return super().add_penalty_grad(param, grad, l1, l2)
        fn, size, pw, pg = site[:4]
        fn(size, pw, l1, 2.0 * l2, pg)

    def _elementwise(self, kernel, arrays, outputs):
        """The cached site of an elementwise ``kernel`` over same-shaped ``arrays``, or None."""
        return self._cached((kernel,) + tuple(map(id, arrays)), arrays, self._bind_elementwise,
                            kernel, arrays, outputs)

    def _bind_elementwise(self, kernel, arrays, outputs):
        shape = getattr(arrays[0], "shape", None)
        if any(getattr(a, "shape", None) != shape for a in arrays):
            return None
        return self._site(kernel, arrays, outputs)

    # ----------------------------------------------------------------- 16-bit casts
    def _cast_into(self, dst, src):
        """float32 <-> 16 bits with the cast kernels (``to_half``, ``from_half``): vector
        conversions, where NumPy converts float16 one element at a time."""
        if isinstance(src, np.ndarray) and dst.shape == src.shape and \
                is_half_cast(dst.dtype, src.dtype):
            kernel = "to_half" if is_half(dst.dtype) else "from_half"
            half = dst.dtype if is_half(dst.dtype) else src.dtype
            # keyed on the memory, kept while the arrays owning it live: a transposed operand
            # is a new view object at every call (x.T), the same cast site
            # (with the strides: a square W and W.T share their memory and shape)
            key = ("cast", src.ctypes.data, dst.ctypes.data, src.shape, src.strides,
                   dst.strides, src.dtype, dst.dtype)
            site = self._cached(key, (_owner(src), _owner(dst)), self._bind_cast, kernel, src,
                                dst, half)
            if site is not None:
                fn, n, ps, pd = site[:4]
                fn(n, ps, pd)
                return
        super()._cast_into(dst, src)

    def _bind_cast(self, kernel, src, dst, half):
        dtypes = (_F32, half) if kernel == "to_half" else (half, _F32)
        if (src.dtype, dst.dtype) != dtypes:
            return None
        return self._site(kernel, (src, dst), 1, dtypes)

    # ----------------------------------------------------------------- dropout
    def dropout(self, x, seed, step, rate, out):
        site = self._cached(("dropout", id(x), id(step), id(out)), (x, step, out),
                            self._bind_dropout, x, step, out)
        if site is None:
            return super().dropout(x, seed, step, rate, out)
        fn, n, px, pout, pstep = site[:5]
        fn(n, px, pstep, int(seed), dropout_threshold(rate), 1.0 / (1.0 - rate), pout)

    def _bind_dropout(self, x, step, out):
        if not (isinstance(step, np.ndarray) and step.dtype == np.int64 and step.size >= 1
                and step.flags.c_contiguous) or getattr(out, "shape", None) != x.shape:
            return None
        site = self._site("dropout", (x, out), 1)
        return None if site is None else site + (step.ctypes.data,)

    # ----------------------------------------------------------------- optimizer updates
    def _update(self, kernel, hyper, arrays, outputs, rate=None):
        """``(fn, n, hyper_ptr, grad_ptr, out_ptrs..., rate_ptr)`` of an update ``kernel`` over
        the flat same-shaped ``arrays`` (grad first, the last ``outputs`` written) reading
        ``hyper`` (and in an EMA form ``rate``; rate_ptr None without), or None when NumPy must
        do it. ``hyper`` and ``rate`` are checked like the arrays: C-contiguous, same dtype, not
        overlapping an output."""
        key = (kernel, id(hyper), id(rate)) + tuple(map(id, arrays))
        return self._cached(key, arrays + (hyper,) + (() if rate is None else (rate,)),
                            self._bind_update, kernel, hyper, arrays, outputs, rate)

    def _bind_update(self, kernel, hyper, arrays, outputs, rate):
        site = self._bind_elementwise(kernel, arrays, outputs)
        read = (hyper,) if rate is None else (hyper, rate)
        if site is None or any(self._site(kernel, (a,) + arrays, outputs) is None for a in read):
            return None
        return site[:2] + (hyper.ctypes.data,) + site[2:] + \
            (None if rate is None else rate.ctypes.data,)

    def _run_update(self, kernel, hyper, arrays, outputs, scalars, ema=None):
        """Run the compiled update ``kernel(n, grad, hyper, *scalars, *outputs)`` over
        ``arrays`` (grad first, the last ``outputs`` written); with ``ema=(average, rate)``
        its EMA form ``kernel_ema(n, grad, hyper, *scalars, rate, *outputs, average)``. False
        when NumPy must do it."""
        rate = None
        if ema is not None:
            average, rate = ema
            kernel, arrays, outputs = f"{kernel}_ema", arrays + (average,), outputs + 1
        site = self._update(kernel, hyper, arrays, outputs, rate)
        if site is None:
            return False
        fn, n, ph, pg, *outs, pr = site[:-1]
        fn(n, pg, ph, *scalars, *(() if pr is None else (pr,)), *outs)
        return True

    def sgd_update(self, param, grad, hyper, ema=None):
        if not self._run_update("sgd_update", hyper, (grad, param), 1, (), ema):
            super().sgd_update(param, grad, hyper, ema=ema)

    def momentum_update(self, param, grad, velocity, hyper, momentum, nesterov, ema=None):
        if not self._run_update("momentum_update", hyper, (grad, param, velocity), 2,
                                (momentum, 1 if nesterov else 0), ema):
            super().momentum_update(param, grad, velocity, hyper, momentum, nesterov, ema=ema)

    def rmsprop_update(self, param, grad, velocity, hyper, rho, epsilon, momentum=0.0, mom=None,
                       average=None, ema=None):
        scalars = (rho, 1 - rho, epsilon) if mom is None else (rho, 1 - rho, epsilon, momentum)
        if average is None and mom is None:
            done = self._run_update("rmsprop_update", hyper, (grad, param, velocity), 2, scalars,
                                    ema)
        elif average is None:
            done = self._run_update("rmsprop_momentum_update", hyper,
                                    (grad, param, velocity, mom), 3, scalars, ema)
        else:  # centered: the kernel always carries the increment in ``mom``
            done = mom is not None and self._run_update(
                "rmsprop_centered_update", hyper, (grad, param, velocity, average, mom), 4,
                scalars, ema)
        if not done:
            super().rmsprop_update(param, grad, velocity, hyper, rho, epsilon, momentum, mom,
                                   average, ema=ema)

    def adam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, vhat=None, ema=None):
        scalars = (1 - beta1, 1 - beta2, epsilon)
        if vhat is None:
            done = self._run_update("adam_update", hyper, (grad, param, m, v), 3, scalars, ema)
        else:
            done = self._run_update("amsgrad_update", hyper, (grad, param, m, v, vhat), 4,
                                    scalars, ema)
        if not done:
            super().adam_update(param, grad, m, v, hyper, beta1, beta2, epsilon, vhat, ema=ema)

    def nadam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, ema=None):
        if not self._run_update("nadam_update", hyper, (grad, param, m, v), 3,
                                (1 - beta1, 1 - beta2, epsilon), ema):
            super().nadam_update(param, grad, m, v, hyper, beta1, beta2, epsilon, ema=ema)

    def adamax_update(self, param, grad, m, u, hyper, beta1, beta2, epsilon, ema=None):
        if not self._run_update("adamax_update", hyper, (grad, param, m, u), 3,
                                (1 - beta1, beta2, epsilon), ema):
            super().adamax_update(param, grad, m, u, hyper, beta1, beta2, epsilon, ema=ema)

    def adagrad_update(self, param, grad, accumulator, hyper, epsilon, ema=None):
        if not self._run_update("adagrad_update", hyper, (grad, param, accumulator), 2,
                                (epsilon,), ema):
            super().adagrad_update(param, grad, accumulator, hyper, epsilon, ema=ema)

    # ----------------------------------------------------------------- EMA, accumulation
    def ema_update(self, param, average, rate):
        if not self._run_update("ema_update", rate, (param, average), 1, ()):
            super().ema_update(param, average, rate)

    def accumulate_gradients(self, grad, accumulator, steps, apply):
        kernel = "average_gradients" if apply else "accumulate_gradients"
        site = self._elementwise(kernel, (grad, accumulator), 2 if apply else 1)
        if site is None:
            return super().accumulate_gradients(grad, accumulator, steps, apply)
        fn, n, pg, pa = site[:4]
        if apply:
            fn(n, float(steps), pg, pa)
        else:
            fn(n, pg, pa)
