"""Data already on the GPU, and streamed data, on a real GPU (skipped without one;
bench/gpu_check.sh runs it): a CuPy array or a DLPack CUDA tensor on the model's device is used
in place, without a transfer; model(x) of a device array returns a device array; a streamed
(memory-mapped) fit matches the same array on the device; sample weights work there."""


import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models
from gpudnn.training.data_adapters import adapt
from gpudnn.utils import to_categorical
from conftest import require_cuda

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cupy():
    require_cuda()
    import cupy
    return cupy


def _data(n=512, features=20, classes=4):
    rng = np.random.default_rng(0)
    x = rng.random((n, features), dtype=np.float32)
    y = to_categorical(rng.integers(0, classes, n), classes)
    return x, y


def _model(features=20, classes=4):
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(features,)),
                               layers.Dense(classes, activation="softmax")], device="cuda:0")
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_cupy_array_on_the_model_device_is_used_in_place(cupy):
    x, y = _data()
    x_gpu = cupy.asarray(x)
    model = _model()
    data = adapt(model, "fit", x_gpu, y, batch_size=64)
    assert data.x.data.ptr == x_gpu.data.ptr  # the step gathers from the caller's array
    history = model.fit(x_gpu, cupy.asarray(y), epochs=2, batch_size=64, verbose=0)
    reference = _model()
    expected = reference.fit(x, y, epochs=2, batch_size=64, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)


def test_a_dlpack_cuda_tensor_is_used_in_place(cupy):
    torch = pytest.importorskip("torch")
    x, y = _data()
    x_torch = torch.from_numpy(x).cuda()
    model = _model()
    data = adapt(model, "fit", x_torch, y, batch_size=64)
    assert data.x.data.ptr == x_torch.data_ptr()
    model.fit(x_torch, y, epochs=1, batch_size=64, verbose=0)


def test_model_call_on_a_device_array_returns_a_device_array(cupy):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, verbose=0)
    out = model(cupy.asarray(x[:8]))
    assert isinstance(out, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(out), model.predict(x[:8]), rtol=1e-5, atol=1e-6)


def test_nan_in_a_device_array_is_refused_on_the_device(cupy):
    x, y = _data()
    x[3, 2] = np.nan
    with pytest.raises(gpudnn.errors.InvalidInputError, match="NaN"):
        _model().fit(cupy.asarray(x), y, epochs=1, verbose=0)


def test_a_memory_mapped_fit_matches_the_array_on_the_gpu(cupy, tmp_path):
    x, y = _data()
    np.save(tmp_path / "x.npy", x)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    streamed = _model().fit(mapped, y, epochs=2, batch_size=64, verbose=0)
    resident = _model().fit(x, y, epochs=2, batch_size=64, verbose=0)
    np.testing.assert_allclose(streamed.history["loss"], resident.history["loss"], rtol=1e-5)


def test_sample_weights_on_the_gpu_match_the_cpu(cupy):
    x, y = _data()
    w = np.where(np.arange(len(x)) % 2 == 0, 0.0, 2.0)
    gpu = _model().fit(x, y, sample_weight=w, epochs=2, batch_size=64, verbose=0, shuffle=False)
    gpudnn.set_seed(0)
    cpu_model = models.Sequential([layers.Dense(16, activation="relu", input_shape=(20,)),
                                   layers.Dense(4, activation="softmax")], device="cpu")
    cpu_model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    cpu = cpu_model.fit(x, y, sample_weight=w, epochs=2, batch_size=64, verbose=0,
                        shuffle=False)
    np.testing.assert_allclose(gpu.history["loss"], cpu.history["loss"], rtol=1e-4)
