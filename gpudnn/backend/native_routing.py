"""Which ops the compiled CPU backend (native_backend.py) leaves to NumPy by choice, and why.

Its kernels are the CUDA bodies of ``kernels/*.cu`` compiled for the host: one pass over memory
where NumPy makes several. Where a body calls the C library on every element, that per-element
call costs more than NumPy's extra passes.
"""

#: Activations whose float32 / float64 kernels call the C library's tanh, exp or expm1 on each
#: element (forward; softplus's backward too): glibc's scalar calls are 6 to 30 times slower
#: than NumPy's SIMD loops, so the compiled CPU backend leaves these to NumPy. Measured by
#: ``python -m bench.cpu_activations`` at (128, 512) float32, compiled against NumPy, us, in
#: one run (docs/performance.md has another): sigmoid 1233 / 70, tanh 1250 / 42, elu 738 / 111,
#: selu 716 / 123, softplus 1138 / 133, softplus backward 790 / 53 (their other backward passes
#: are arithmetic on y and stay compiled: 10-15 us).
#: Keras's further kinds, same command, same run (2026-12-08): exponential forward 178 / 45,
#: silu forward 475 / 158 and backward 484 / 206 go to NumPy; gelu stays compiled both ways
#: (forward 921 / 7402, backward 650 / 7067: NumPy has no erf, its reference calls math.erf per
#: element); softsign, hard_sigmoid and relu6 are arithmetic (6-11 us compiled).
LIBM_FORWARD = ("sigmoid", "tanh", "elu", "selu", "softplus", "exponential", "silu")
LIBM_BACKWARD = ("softplus", "silu")
