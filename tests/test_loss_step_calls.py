"""Which backend calls and kernel launches a training step makes for its loss.

A softmax output with categorical cross-entropy and no metric but one categorical accuracy makes
one call, ``softmax_cce_step`` (one kernel launch on a GPU), where other models keep the loss,
accuracy and gradient ops. The step is recorded with RecordingBackend (the calls) around the CuPy
backend routed to the CPU harness (the launches: each kernel body runs in g++), so the GPU's own
call sites are what is counted, and its results are checked against the NumPy backend.
"""

import contextlib

import numpy as np
import pytest

import kernel_harness
from gpudnn import layers, losses, models, optimizers, regularizers
from gpudnn.backend import NumpyBackend
from gpudnn.backend.capture import RecordedStep, record_calls
from gpudnn.training.step import ONE_CALL_MAX_CLASSES

#: The launches softmax_cce_step replaces.
OLD_LAUNCHES = {"cce_terms", "add_chunk_sums", "add_argmax_hits", "smoothed_diff"}
OLD_CALLS = {"accumulate_loss", "accumulate_correct", "logit_grad"}


@pytest.fixture(scope="module")
def harness_backend_class():
    from kernel_harness.backend import host_routed_backend

    class HostStepBackend(type(host_routed_backend())):
        """The CuPy backend's kernel launches run in the harness; its few CuPy/cuBLAS
        routines (matmul, the bias gradient's reduction, copies) are NumPy's here."""

        def __init__(self):
            super().__init__()
            self.launches = []

        def _launch(self, name, *args, **kwargs):
            self.launches.append(name)
            super()._launch(name, *args, **kwargs)

        def matmul(self, a, b, out):
            np.matmul(np.asarray(a), np.asarray(b), out=out)

        def sum_rows(self, a, out):
            np.sum(a, axis=0, out=out)

        def copy_into(self, dst, src):
            np.copyto(dst, np.asarray(src, dtype=dst.dtype))

        def write_step_values(self, dst, values):
            np.copyto(dst, np.asarray(values, dtype=dst.dtype))

        def fill(self, array, value):
            array.fill(value)

        def from_host(self, array, dtype=None):
            return kernel_harness.host(np.array(array, dtype=dtype, copy=True))

        def to_host(self, array):
            return np.array(np.asarray(array).view(np.ndarray))

        def graphs(self):
            return None

        def training_stream(self):
            return contextlib.nullcontext()

    return HostStepBackend


def build(backend, output="softmax", loss="categorical_crossentropy", metrics=("accuracy",),
          hidden=512, features=784, classes=10, kernel_regularizer=None, seed=0):
    """The course model (Dense(512, relu) -> Dense(10, softmax), Adam) on ``backend``, with
    weights drawn from ``seed``, so that two backends hold the same model."""
    model = models.Sequential(device="cpu")
    model.backend = backend
    model._dropout_step = backend.zeros((1,), np.int64)
    model.add(layers.Dense(hidden, activation="relu", input_shape=(features,)))
    model.add(layers.Dense(classes, activation=output, kernel_regularizer=kernel_regularizer))
    model.compile(optimizer=optimizers.Adam(), loss=loss, metrics=list(metrics))
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.standard_normal(w.shape) * 0.05).astype(np.float32)
                       for w in model.get_weights()])
    return model


def batch(backend, model, n=128, seed=1):
    """A batch of size n in the model's workspace, and fit's accumulators."""
    rng = np.random.default_rng(seed)
    ws = model._workspace(n, with_grads=True)
    backend.copy_into(ws.x, rng.random((n, model.input_dim), dtype=np.float32))
    labels = rng.integers(0, model.output_dim, n)
    y = np.eye(model.output_dim, dtype=np.float32)[labels] if model.output_dim > 1 else \
        labels[:, None].astype(np.float32) % 2
    backend.copy_into(ws.y, y)
    return ws, model._epoch_totals()


def record_step(model, ws, totals):
    """One step run under RecordingBackend: (the step's backend calls, its kernel launches)."""
    inner = model.backend
    inner.launches = []
    recorder = record_calls(model, lambda: model._device_step(ws, totals))
    assert recorder.unusable is None  # every call writes into given buffers
    return recorder, list(inner.launches)


@pytest.mark.parametrize("metrics", [("accuracy",), ("categorical_accuracy",), ()])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_the_course_models_loss_is_one_launch(harness_backend_class, metrics, smoothing):
    """The loss, the accuracy and the output gradient of the course model's step: one call and
    one launch, none of the four it replaces; the results are the NumPy backend's."""
    gpu = harness_backend_class()
    loss = losses.CategoricalCrossentropy(label_smoothing=smoothing)
    model = build(gpu, loss=loss, metrics=metrics)
    ws, totals = batch(gpu, model)
    recorder, launches = record_step(model, ws, totals)
    names = [call.func.__name__ for call in recorder.calls]
    assert names.count("softmax_cce_step") == 1 and not OLD_CALLS & set(names)
    assert launches.count("softmax_cce_step") == 1 and not OLD_LAUNCHES & set(launches)
    # the loss part is the one launch between the output's softmax and the first gradient GEMM
    assert launches[launches.index("softmax_fwd") + 1] == "softmax_cce_step"

    cpu = NumpyBackend()
    reference = build(cpu, loss=losses.CategoricalCrossentropy(label_smoothing=smoothing),
                      metrics=metrics)
    ref_ws, ref_totals = batch(cpu, reference)
    reference._device_step(ref_ws, ref_totals)
    np.testing.assert_allclose(np.asarray(ws.grads[-1]), ref_ws.grads[-1], rtol=1e-5,
                               atol=1e-9)
    np.testing.assert_allclose(float(np.asarray(totals[0])), float(ref_totals[0]), rtol=1e-5)
    for got, want in zip(totals[1:], ref_totals[1:]):
        assert float(np.asarray(got)) == float(want)
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)

    # the recorded call list replays as the step (the recorded-step contract)
    before = np.asarray(totals[0]).copy()
    RecordedStep(recorder.calls).replay()
    assert float(np.asarray(totals[0])) > float(before)


def test_weight_penalties_are_still_added_to_the_one_launch_loss(harness_backend_class):
    gpu = harness_backend_class()
    model = build(gpu, kernel_regularizer=regularizers.L2(0.01))
    ws, totals = batch(gpu, model)
    recorder, launches = record_step(model, ws, totals)
    names = [call.func.__name__ for call in recorder.calls]
    assert names.index("softmax_cce_step") < names.index("accumulate_penalty")
    assert "add_penalty_grad" in names
    assert not {"cce_terms", "add_argmax_hits", "smoothed_diff"} & set(launches)
    assert launches.count("add_chunk_sums") == 1  # the penalty's sum (penalty_terms) only
    cpu = NumpyBackend()
    reference = build(cpu, kernel_regularizer=regularizers.L2(0.01))
    ref_ws, ref_totals = batch(cpu, reference)
    reference._device_step(ref_ws, ref_totals)
    np.testing.assert_allclose(float(np.asarray(totals[0])), float(ref_totals[0]), rtol=1e-5)
    assert float(np.asarray(totals[1])) == float(ref_totals[1])


@pytest.mark.parametrize("output,loss,metrics,old_launches", [
    ("linear", "mse", ("accuracy",), {"mse_terms", "add_chunk_sums", "add_argmax_hits",
                                      "scaled_diff"}),
    ("softmax", "categorical_crossentropy", ("binary_accuracy",),
     {"cce_terms", "add_chunk_sums", "add_threshold_hits", "smoothed_diff"}),
    ("softmax", "categorical_crossentropy", ("accuracy", "categorical_accuracy"),
     {"cce_terms", "add_chunk_sums", "add_argmax_hits", "smoothed_diff"}),
    ("sigmoid", "binary_crossentropy", ("accuracy",),
     {"bce_terms", "add_chunk_sums", "add_threshold_hits", "smoothed_diff"}),
    ("linear", losses.CategoricalCrossentropy(from_logits=True), ("accuracy",),
     {"cce_logits_terms", "add_chunk_sums", "add_argmax_hits", "cce_logits_grad"}),
])
def test_other_models_keep_the_separate_calls(harness_backend_class, output, loss, metrics,
                                              old_launches):
    gpu = harness_backend_class()
    model = build(gpu, output=output, loss=loss, metrics=metrics, hidden=16, features=12,
                  classes=5)
    ws, totals = batch(gpu, model, n=20)
    recorder, launches = record_step(model, ws, totals)
    names = {call.func.__name__ for call in recorder.calls}
    assert "softmax_cce_step" not in names and "softmax_cce_step" not in launches
    assert old_launches <= set(launches), set(launches)


@pytest.mark.parametrize("classes", [ONE_CALL_MAX_CLASSES, ONE_CALL_MAX_CLASSES + 1])
def test_many_classes_keep_the_element_wise_ops(harness_backend_class, classes):
    """softmax_cce_step walks whole rows per thread: above ONE_CALL_MAX_CLASSES classes the
    separate element-wise ops serve."""
    gpu = harness_backend_class()
    model = build(gpu, hidden=16, features=12, classes=classes)
    ws, totals = batch(gpu, model, n=20)
    recorder, launches = record_step(model, ws, totals)
    one_call = classes <= ONE_CALL_MAX_CLASSES
    assert ("softmax_cce_step" in launches) == one_call
    assert ("cce_terms" in launches) == (not one_call)


def test_the_cpu_step_makes_the_one_call_with_the_three_ops_results():
    """On the CPU the one call runs the three ops (the default): the numbers do not change."""
    cpu = NumpyBackend()
    model = build(cpu, hidden=16, features=12)
    ws, totals = batch(cpu, model, n=20)
    recorder = record_calls(model, lambda: model._device_step(ws, totals))
    names = [call.func.__name__ for call in recorder.calls]
    assert "softmax_cce_step" in names and not OLD_CALLS & set(names)

    reference = build(cpu, hidden=16, features=12)
    ref_ws, ref_totals = batch(cpu, reference, n=20)
    reference._loss_in_one_call = lambda: False  # the separate calls, as before
    reference._device_step(ref_ws, ref_totals)
    np.testing.assert_array_equal(ws.grads[-1], ref_ws.grads[-1])
    assert [float(t) for t in totals] == [float(t) for t in ref_totals]
    for got, want in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)
