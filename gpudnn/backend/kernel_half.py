"""The generated forms of kernels (16-bit, master, EMA and gated), from the bodies in
``kernels/*.cu``.

Mixed precision stores activations and their gradients in 16 bits (``H``: float16 or bfloat16)
and computes in float32. Rather than a second copy of each body, this module derives from a
kernel ``NAME`` written for one float type ``T``:

- its **16-bit form** ``NAME_h`` (the element-wise activations and dropout): every per-element
  array param of type ``T`` becomes an ``H`` array ``x_h``, read once into a float ``x`` before
  the body (``const float x = (float)x_h;``); every out-param is a float ``y`` the body
  computes, rounded once into ``y_h`` after it (``y_h = (H)y;``, round to nearest even); a
  ``raw T`` array (an activation's bias) and a ``T`` scalar become float32; ``T`` in the body
  is ``float``. So the body runs unchanged, entirely in float32, between one widening load and
  one rounding store per element: the rounding points of the NumPy reference
  (``numpy_mixed.py``).
- its **master form** ``NAME_h`` (the optimizer updates): the update of the float32 master
  weights as written, plus an out-param ``H param_h`` that receives the updated weight rounded
  to 16 bits in the same launch (``param_h = (H)param;``), so that the copy the layers compute
  on costs no pass of its own.
- its **EMA form** ``NAME_ema`` (the optimizer updates): the update as written, then Keras's
  moving average of the updated weight (``use_ema``) in the same launch, the body of kernel
  ``ema_update`` on an out-param ``T ema`` with ``m = ema_rate[0]`` (a ``raw T`` in-param):
  the same arithmetic as the update followed by an ``ema_update`` pass, in one pass.
- its **gated form** ``NAME_g`` (the updates, the EMA and gradient accumulation, and their
  vector forms): an in-param ``raw float32 gate`` read first, and nothing written when
  ``gate[0]`` is 0: loss scaling's skip of a step whose gradients overflowed, decided on the
  device (``gate`` is the finite flag of the LossScaleOptimizer's state).

CuPy binds ``H`` from the arrays (``numpy.float16`` is CuPy's ``float16``, ``ml_dtypes.bfloat16``
its ``bfloat16``); the host build (host_kernels.py) compiles these forms into one library per
16-bit dtype, with ``H`` a host type of the same format (cuda_shim.h), for the CPU harness and
the compiled CPU backend.
"""

import re
from functools import lru_cache

from .kernel_source import KernelSpec, load_kernels, vector_form

#: The element-wise kernels that get a 16-bit form (softmax, a row kernel, runs on the
#: float32 output layer).
HALF_FORM_KERNELS = ("linear_fwd", "relu_fwd", "sigmoid_fwd", "tanh_fwd", "leaky_relu_fwd",
                     "elu_fwd", "selu_fwd", "softplus_fwd", "linear_bwd", "relu_bwd",
                     "sigmoid_bwd", "tanh_bwd", "leaky_relu_bwd", "elu_bwd", "selu_bwd",
                     "softplus_bwd", "softsign_fwd", "hard_sigmoid_fwd", "relu6_fwd",
                     "exponential_fwd", "silu_fwd", "gelu_fwd", "softsign_bwd",
                     "hard_sigmoid_bwd", "relu6_bwd", "exponential_bwd", "silu_bwd", "gelu_bwd",
                     "dropout", "dropout_shared")
#: The optimizer updates that get a master form.
MASTER_FORM_KERNELS = ("sgd_update", "momentum_update", "rmsprop_update",
                       "rmsprop_momentum_update", "rmsprop_centered_update", "adam_update",
                       "amsgrad_update", "nadam_update", "adamax_update", "adagrad_update")
#: The updates' EMA forms.
EMA_FORM_KERNELS = tuple(f"{name}_ema" for name in MASTER_FORM_KERNELS)
#: The kernels that get a gated form (each vector form too).
GATED_FORM_KERNELS = frozenset(MASTER_FORM_KERNELS + EMA_FORM_KERNELS + (
    "ema_update", "accumulate_gradients", "average_gradients"))
#: The 16-bit dtypes the forms are built for.
HALF_DTYPES = ("float16", "bfloat16")

_T = re.compile(r"\bT\b")


def _reads(name, body):
    """True when ``body``'s code (comments aside) reads ``name``: anything but a plain
    ``name = ...`` (an out-param only written needs no load)."""
    code = "\n".join(line.split("//")[0] for line in body.splitlines())
    return re.search(rf"\b{name}\b(?!\s*=[^=])", code) is not None


def half_form(spec):
    """The 16-bit form ``NAME_h`` of the element-wise kernel ``spec`` (see the module)."""
    if spec.is_row_kernel or re.search(r"\breturn\b", spec.body):
        raise ValueError(f"kernel {spec.name}: a 16-bit form needs an element-wise body "
                         f"without return")
    ins, outs, before, after = [], [], [], []
    for p in spec.inputs:
        if p.type != "T":
            ins.append(f"{'raw ' if p.raw else ''}{p.type} {p.name}")
        elif p.scalar or p.raw:
            ins.append(f"{'raw ' if p.raw else ''}float32 {p.name}")
        else:
            ins.append(f"H {p.name}_h")
            before.append(f"const float {p.name} = (float){p.name}_h;")
    for p in spec.outputs:
        if p.type != "T" or p.raw:
            raise ValueError(f"kernel {spec.name}: out-param {p.name} is not an element of T")
        outs.append(f"H {p.name}_h")
        read = _reads(p.name, spec.body)
        before.append(f"float {p.name}" + (f" = (float){p.name}_h;" if read else ";"))
        after.append(f"{p.name}_h = (H){p.name};")
    body = "\n".join(before + [_T.sub("float", spec.body)] + after)
    return KernelSpec(f"{spec.name}_h", spec.family, ", ".join(ins), ", ".join(outs),
                      spec.scalars, body, spec.preamble)


def master_form(spec):
    """The master form ``NAME_h`` of the optimizer update ``spec``: the update, then its
    16-bit copy ``param_h = (H)param`` in the same launch."""
    if "param" not in {p.name for p in spec.outputs}:
        raise ValueError(f"kernel {spec.name}: a master form needs an out-param 'param'")
    body = spec.body + "\n// the 16-bit copy of the updated weight, in the same launch\n" \
                       "param_h = (H)param;"
    return KernelSpec(f"{spec.name}_h", spec.family, spec.in_params,
                      spec.out_params + ", H param_h", spec.scalars, body, spec.preamble)


def ema_form(spec):
    """The EMA form ``NAME_ema`` of the optimizer update ``spec``: the update, then the body
    of ``ema_update`` on the updated ``param`` (its ``average``, ``rate`` and ``momentum`` named
    ``ema``, ``ema_rate`` and ``ema_momentum`` here), in a block of its own."""
    if "param" not in {p.name for p in spec.outputs}:
        raise ValueError(f"kernel {spec.name}: an EMA form needs an out-param 'param'")
    average = "\n".join(line for line in load_kernels()["ema_update"].body.splitlines()
                        if not line.lstrip().startswith("//"))
    for old, new in (("average", "ema"), ("rate", "ema_rate"), ("momentum", "ema_momentum")):
        average = re.sub(rf"\b{old}\b", new, average)
    body = f"{spec.body}\n// Keras use_ema: the moving average of the updated weight\n{{\n{average}\n}}"
    name = f"{spec.name}_ema"
    return KernelSpec(name, spec.family, spec.in_params + ", raw T ema_rate",
                      spec.out_params + ", T ema", spec.scalars, body, spec.preamble,
                      vector=f"{name}_x{load_kernels()[spec.vector].lanes}" if spec.vector else "")


@lru_cache(maxsize=None)
def load_ema_kernels():
    """Every EMA form, and its vector form: ``{name: KernelSpec}``."""
    kernels = load_kernels()
    forms = {}
    for base in MASTER_FORM_KERNELS:
        spec = ema_form(kernels[base])
        forms[spec.name] = spec
        if spec.vector:
            vector = vector_form(spec, kernels[kernels[base].vector].lanes)
            forms[vector.name] = vector
    return forms


def gated_form(spec):
    """The gated form ``NAME_g`` of ``spec``: nothing happens unless ``gate[0]`` is not 0."""
    body = "// loss scaling: a step whose gradients overflowed changes nothing\n" \
           "if (gate[0] == 0.0f) return;\n" + spec.body
    return KernelSpec(f"{spec.name}_g", spec.family, spec.in_params + ", raw float32 gate",
                      spec.out_params, spec.scalars, body, spec.preamble, lanes=spec.lanes,
                      vector=f"{spec.vector}_g" if spec.vector else "")


@lru_cache(maxsize=None)
def load_gated_kernels():
    """Every gated form (scalar and vector): ``{name: KernelSpec}``."""
    kernels = {**load_kernels(), **load_ema_kernels()}
    names = [n for base in sorted(GATED_FORM_KERNELS) for n in (base, kernels[base].vector) if n]
    return {f"{name}_g": gated_form(kernels[name]) for name in names}


def find_kernel(name):
    """The KernelSpec called ``name``: written in kernels/, or a generated form."""
    spec = load_kernels().get(name)
    if spec is None:
        spec = load_ema_kernels().get(name) or load_gated_kernels().get(name) or \
            load_half_kernels().get(name)
    if spec is None:
        raise KeyError(f"no kernel {name!r} in kernels/ nor among the generated forms")
    return spec


@lru_cache(maxsize=None)
def input_count(name):
    """How many in-params kernel ``name`` has (where a launch puts a gate or an EMA's rate),
    worked out once per kernel: parsing the params costs more than a launch."""
    return len(find_kernel(name).inputs)


#: The two casts a mixed model makes between float32 and its 16-bit dtype (a float32 operand of
#: a 16-bit GEMM, the input of a float32 layer, the weights' 16-bit copy): round to nearest even,
#: and widening, which is exact.
CASTS = (KernelSpec("to_half", "casts", "float32 x", "H y", (), "y = (H)x;", ""),
         KernelSpec("from_half", "casts", "H x", "float32 y", (), "y = (float)x;", ""))


@lru_cache(maxsize=None)
def load_half_kernels():
    """Every generated 16-bit and master form, and the casts: ``{name: KernelSpec}``."""
    kernels = load_kernels()
    forms = [half_form(kernels[name]) for name in HALF_FORM_KERNELS]
    forms += [master_form(kernels[name]) for name in MASTER_FORM_KERNELS]
    return {spec.name: spec for spec in forms + list(CASTS)}
