"""The kernels/*.cu format: parsing, and what the backend relies on from every kernel."""

import pytest

from gpudnn.backend import kernel_source
from gpudnn.backend.kernel_source import FAMILIES, load_kernels, parse

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "softmax",
               "softsign", "hard_sigmoid", "relu6", "exponential", "silu", "gelu")
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
                 "penalty_grad", "huber_grad", "huber_terms", "log_cosh_grad", "log_cosh_terms",
                 "kld_grad", "kld_terms", "poisson_grad", "poisson_terms", "mape_grad",
                 "mape_terms", "msle_grad", "msle_terms", "hinge_grad", "hinge_terms",
                 "squared_hinge_grad", "squared_hinge_terms"}
    expected |= {"dropout", "increment_counter", "take_rows_at"}
    expected |= {"dropout_shared", "gaussian_noise", "gaussian_dropout"}
    expected |= {"add_chunk_sums", "add_argmax_hits", "add_threshold_hits", "softmax_cce_step"}
    # the compiled metrics (kernels/metrics.cu)
    expected |= {"add_matches", "add_top_k_hits", "add_error_sums", "add_confusion",
                 "add_class_counts", "add_buckets"}
    # batch normalization (kernels/normalization.cu)
    expected |= {"batchnorm_forward", "batchnorm_inference", "batchnorm_backward",
                 "batchnorm_inference_backward", "batchnorm_forward_rows",
                 "batchnorm_backward_rows"}
    # the optimizer options (use_ema, gradient_accumulation_steps), with their vector forms
    expected |= {"ema_update", "ema_update_x4", "accumulate_gradients",
                 "accumulate_gradients_x4", "average_gradients", "average_gradients_x4"}
    # the weighted twins (per-sample weights) of the loss gradients, loss terms and hit counts
    expected |= {f"{name}_w" for name in (
        "scaled_diff", "smoothed_diff", "mae_grad", "cce_grad", "bce_grad", "bce_logits_grad",
        "cce_logits_grad", "mse_terms", "mae_terms", "cce_terms", "bce_terms",
        "bce_logits_terms", "cce_logits_terms", "add_argmax_hits", "add_threshold_hits",
        "softmax_cce_step", "huber_grad", "huber_terms", "log_cosh_grad", "log_cosh_terms",
        "kld_grad", "kld_terms", "poisson_grad", "poisson_terms", "mape_grad", "mape_terms",
        "msle_grad", "msle_terms", "hinge_grad", "hinge_terms", "squared_hinge_grad",
        "squared_hinge_terms")}
    # the 4-lane vector forms of the updates and the norm clips
    expected |= {f"{u}_update_x4" for u in UPDATES}
    expected |= {"clip_by_norm_x4", "clip_by_global_norm_x4"}
    # dynamic loss scaling (kernels/loss_scaling.cu)
    expected |= {"scale_by_loss_scale", "reset_finite_flag", "unscale_gradients",
                 "update_loss_scale"}
    assert set(specs) == expected
    assert {s.family for s in specs.values()} == set(FAMILIES)


def test_every_kernel_types_T_from_an_array():
    """CuPy cannot deduce T from scalars alone (CuPy issue 2091). (A kernel with no T at all,
    the int64 step counter and the loss scale's float32 state, has nothing to deduce.)"""
    for spec in load_kernels().values():
        if all(p.type != "T" for p in spec.inputs + spec.outputs):
            assert spec.name in ("increment_counter", "reset_finite_flag",
                                 "update_loss_scale"), spec.name
            continue
        assert any(p.type == "T" and not p.scalar for p in spec.inputs + spec.outputs), spec.name
        assert all(p.scalar for p in spec.inputs if p.name in ("lr", "alpha", "k", "scale"))


def test_updates_write_only_their_buffers_in_place():
    for name, spec in load_kernels().items():
        if name.endswith("_update") and name != "ema_update":  # that one writes the average
            assert spec.outputs[0].name == "param" and not spec.outputs[0].raw
            # the gradient, and the per-step values read when the kernel runs (never scalars)
            assert [(p.name, p.raw) for p in spec.inputs if not p.scalar] == [("g", False),
                                                                             ("hyper", True)]


def test_every_update_has_a_vector_form_running_its_own_body():
    """The formula is written once: the vector form runs the scalar kernel's body verbatim
    (indented) on each lane, with the same parameters as raw arrays plus the count n."""
    specs = load_kernels()
    for u in UPDATES:
        scalar = specs[f"{u}_update"]
        vector = specs[scalar.vector]
        assert scalar.vector == f"{u}_update_x4" and scalar.lanes == 1
        assert vector.lanes == 4 and vector.family == "optimizers" and not vector.vector
        assert vector.is_row_kernel  # every array raw: launched with size = ceil(n / 4)
        indented = "\n".join(("  " + line).rstrip() for line in scalar.body.splitlines())
        assert indented in vector.body
        assert vector.preamble == scalar.preamble + kernel_source.VECTOR_HELPERS
        assert [p.name for p in vector.inputs] == [
            p.name + ("_buf" if not (p.raw or p.scalar) else "") for p in scalar.inputs] + ["n"]
        assert [p.name for p in vector.outputs] == [p.name + "_buf" for p in scalar.outputs]
        assert vector.scalars == scalar.scalars + ("n",)


def test_parse_makes_a_vector_form_for_lanes():
    text = ("// kernel: axpy | in: T x, raw T a, T b | out: T y | scalars: b | lanes: 8\n"
            "y += a[0] * x + b;\n")
    axpy, axpy_x8 = parse(text, "test")
    assert axpy.vector == "axpy_x8" and axpy.lanes == 1
    assert axpy_x8.name == "axpy_x8" and axpy_x8.lanes == 8
    assert axpy_x8.in_params == "raw T x_buf, raw T a, T b, int64 n"
    assert axpy_x8.out_params == "raw T y_buf"
    assert "load_lanes(&x_buf[first], x_lanes);" in axpy_x8.body
    assert "store_lanes(&y_buf[first], y_lanes);" in axpy_x8.body
    assert "  y += a[0] * x + b;" in axpy_x8.body


@pytest.mark.parametrize("header,body,message", [
    ("in: T x | out: T y | lanes: 3", "y = x;", "multiple of 4"),
    ("in: T x | out: T y | lanes: four", "y = x;", "must be a number"),
    ("in: T x | out: T y | lanes: 4", "y = x * i;", "uses 'i'"),
    ("in: T x | out: T y | lanes: 4", "if (x > 0) return;\ny = x;", "uses 'return'"),
    ("in: T x, int32 k | out: T y | lanes: 4", "y = x;", "all of type T"),
    ("in: raw T x | out: raw T y | lanes: 4", "y[i] = x[i];", "element-wise arrays"),
])
def test_parse_rejects_kernels_a_vector_form_cannot_take(header, body, message):
    with pytest.raises(ValueError, match=message):
        parse(f"// kernel: f | {header}\n{body}\n", "test")


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
