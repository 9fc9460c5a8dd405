"""The kernels/*.cu format: parsing, and what the backend relies on from every kernel."""

import pytest

from gpudnn.backend import kernel_source
from gpudnn.backend.kernel_source import FAMILIES, load_kernels, parse

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax")
UPDATES = ("sgd", "momentum", "rmsprop", "rmsprop_momentum", "rmsprop_centered", "adam", "amsgrad",
           "nadam", "adamax", "adagrad")
CLIPS = ("clip_by_value", "clip_by_norm", "clip_by_global_norm")


def test_every_family_has_its_kernels():
    specs = load_kernels()
    expected = {f"{a}_{d}" for a in ACTIVATIONS for d in ("fwd", "bwd")}
    expected |= {f"{u}_update" for u in UPDATES} | set(CLIPS)
    expected |= {"scaled_diff", "smoothed_diff", "mae_grad", "cce_grad", "bce_grad",
                 "bce_logits_grad", "cce_logits_grad", "mse_terms", "mae_terms", "cce_terms",
                 "bce_terms", "bce_logits_terms", "cce_logits_terms", "penalty_terms",
                 "penalty_grad"}
    expected |= {"dropout", "increment_counter", "take_rows_at"}
    expected |= {"add_chunk_sums", "add_argmax_hits", "add_threshold_hits", "softmax_cce_step"}
    assert set(specs) == expected
    assert {s.family for s in specs.values()} == set(FAMILIES)


def test_every_kernel_types_T_from_an_array():
    """CuPy cannot deduce T from scalars alone (CuPy issue 2091). (A kernel with no T at all,
    the int64 step counter, has nothing to deduce.)"""
    for spec in load_kernels().values():
        if all(p.type != "T" for p in spec.inputs + spec.outputs):
            assert spec.name == "increment_counter", spec.name
            continue
        assert any(p.type == "T" and not p.scalar for p in spec.inputs + spec.outputs), spec.name
        assert all(p.scalar for p in spec.inputs if p.name in ("lr", "alpha", "k", "scale"))


def test_updates_write_only_their_buffers_in_place():
    for name, spec in load_kernels().items():
        if name.endswith("_update"):
            assert spec.outputs[0].name == "param" and not spec.outputs[0].raw
            # the gradient, and the per-step values read when the kernel runs (never scalars)
            assert [(p.name, p.raw) for p in spec.inputs if not p.scalar] == [("g", False),
                                                                             ("hyper", True)]


def test_parse_reads_header_body_and_preamble():
    text = ("// file doc\n#define TWO 2\n"
            "// kernel: twice | in: T x, raw T w, int32 k | out: T y | scalars: k\n"
            "// y = 2 x\ny = TWO * x;\n\n"
            "// kernel: copy | in: T x | out: T y\ny = x;\n")
    twice, copy = parse(text, "test")
    assert twice.name == "twice" and twice.family == "test"
    assert twice.preamble == "// file doc\n#define TWO 2\n" == copy.preamble
    assert twice.body == "// y = 2 x\ny = TWO * x;"
    assert [(p.name, p.type, p.raw, p.scalar) for p in twice.inputs] == [
        ("x", "T", False, False), ("w", "T", True, False), ("k", "int32", False, True)]
    assert copy.scalars == () and copy.body == "y = x;"
    assert not twice.is_row_kernel


@pytest.mark.parametrize("text,message", [
    ("y = x;\n", "no '// kernel:' header"),
    ("// kernel: f | in: T x\ny = x;\n", "header must read"),
    ("// kernel: f | in: T x | out: T y\n\n", "empty body"),
    ("// kernel: f | in: T x | out: T y | scalars: lr\ny = x;\n", "not in-params"),
    ("// kernel: f | in: T x, complex128 z | out: T y\ny = x;\n", "unknown type"),
    ("// kernel: f | in: T | out: T y\ny = x;\n", "bad parameter"),
])
def test_parse_rejects_malformed_files(text, message):
    with pytest.raises(ValueError, match=message):
        parse(text, "test")


def test_sources_are_found_from_this_checkout():
    assert "kernel: relu_fwd" in kernel_source.read_family("activations")


def test_import_gpudnn_does_not_import_cupy():
    import subprocess
    import sys

    code = "import sys, gpudnn, gpudnn.backend; assert 'cupy' not in sys.modules, 'cupy imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
