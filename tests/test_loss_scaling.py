"""LossScaleOptimizer: Keras 3's dynamic rule against hand-computed steps, the skip of a
non-finite step (weights and moments untouched), compile's automatic wrapping under
mixed_float16, saving, and float16 training that must lower its scale."""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, mixed_precision, models, optimizers
from gpudnn.backend.numpy_backend import NumpyBackend
from gpudnn.utils import to_categorical

from conftest import blobs


@pytest.fixture(autouse=True)
def _no_global_policy():
    yield
    mixed_precision.set_global_policy(None)


def built(optimizer, size=4):
    be = NumpyBackend()
    params = np.arange(1, size + 1, dtype=np.float32)
    optimizer.build(be, size, np.float32)
    return be, params


def test_finite_steps_unscale_count_and_double_the_scale_after_the_growth_steps():
    lso = optimizers.LossScaleOptimizer(optimizers.SGD(0.5), initial_scale=8.0,
                                        dynamic_growth_steps=3)
    be, params = built(lso)
    expected = params.copy()
    for step, scale in enumerate([8.0, 8.0, 8.0, 16.0, 16.0], start=1):
        g = np.full(4, 0.25, np.float32)
        assert lso.dynamic_scale == scale
        lso.apply(be, params, g)  # apply_gradients takes the true gradients
        expected -= 0.5 * 0.25
        np.testing.assert_array_equal(params, expected)
        assert lso.iterations == step
    assert lso.dynamic_scale == 16.0 and lso.skipped_steps == 0  # doubled after 3 good steps
    assert lso.slots["loss_scale"][1] == 2  # two good steps since


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_step_is_skipped_whole_and_halves_the_scale(bad):
    inner = optimizers.Adam(0.1)
    lso = optimizers.LossScaleOptimizer(inner, initial_scale=1024.0, dynamic_growth_steps=2)
    be, params = built(lso)
    lso.apply(be, params, np.full(4, 0.5, np.float32))  # a good step first (counter 1)
    before = params.copy(), {k: v.copy() for k, v in inner.slots.items()}
    g = np.full(4, 0.5, np.float32)
    g[2] = bad
    lso.apply(be, params, g)
    np.testing.assert_array_equal(params, before[0])
    for name, slot in inner.slots.items():
        np.testing.assert_array_equal(slot, before[1][name])
    assert lso.dynamic_scale == 512.0 and lso.skipped_steps == 1
    assert lso.slots["loss_scale"][1] == 0  # Keras resets the counter
    lso.apply(be, params, np.full(4, 0.5, np.float32))  # finite again: an Adam step
    assert not np.array_equal(params, before[0])


def test_the_inner_step_sees_the_true_gradient():
    """Adam through the wrapper (scaled and unscaled again: the scales are powers of 2) equals
    plain Adam, to the bit."""
    plain, lso = optimizers.Adam(0.01), optimizers.LossScaleOptimizer(optimizers.Adam(0.01))
    be, p1 = built(plain)
    _, p2 = built(lso)
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = rng.normal(size=4).astype(np.float32)
        plain.apply(be, p1, g.copy())
        lso.apply(be, p2, g.copy())
    np.testing.assert_array_equal(p1, p2)


def test_arguments_config_and_reads_through_to_the_inner_optimizer():
    lso = optimizers.LossScaleOptimizer(optimizers.Adam(0.003, beta_1=0.8), initial_scale=64,
                                        dynamic_growth_steps=10)
    assert (lso.learning_rate, lso.beta_1, lso.initial_scale, lso.dynamic_scale) == \
        (0.003, 0.8, 64.0, 64.0)
    lso.learning_rate = 0.001
    assert lso.inner_optimizer.learning_rate == 0.001
    again = optimizers.deserialize(optimizers.serialize(lso))
    assert type(again) is optimizers.LossScaleOptimizer and again.get_config() == \
        lso.get_config()
    assert again.inner_optimizer.beta_1 == 0.8
    assert lso.scale_loss(2.0) == 128.0
    for bad in [dict(initial_scale=0), dict(initial_scale=float("inf")),
                dict(dynamic_growth_steps=0), dict(dynamic_growth_steps=1.5), dict(lr=0.1)]:
        with pytest.raises(gpudnn.InvalidInputError):
            optimizers.LossScaleOptimizer("sgd", **bad)
    with pytest.raises(gpudnn.InvalidInputError, match="another LossScaleOptimizer"):
        optimizers.LossScaleOptimizer(lso)
    assert mixed_precision.LossScaleOptimizer is optimizers.LossScaleOptimizer


def course_like(policy):
    return models.Sequential([layers.Dense(32, activation="relu", input_shape=(6,), dtype=policy),
                              layers.Dense(3, activation="softmax", dtype=policy)])


def test_compile_wraps_the_optimizer_under_mixed_float16_only():
    f16, bf16 = course_like("mixed_float16"), course_like("mixed_bfloat16")
    f16.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    bf16.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    assert isinstance(f16.optimizer, optimizers.LossScaleOptimizer)
    assert isinstance(f16.optimizer.inner_optimizer, optimizers.RMSprop)
    assert isinstance(bf16.optimizer, optimizers.RMSprop)
    mine = optimizers.LossScaleOptimizer("sgd", initial_scale=4)
    f16.compile(optimizer=mine, loss="categorical_crossentropy")
    assert f16.optimizer is mine
    f16.compile(optimizer="sgd", loss="categorical_crossentropy", auto_scale_loss=False)
    assert isinstance(f16.optimizer, optimizers.SGD)


def test_a_float32_model_trains_the_same_with_and_without_loss_scaling():
    x, labels = blobs(n=120)
    y = to_categorical(labels, 3)
    weights = []
    for optimizer in (optimizers.Adam(0.01), optimizers.LossScaleOptimizer(optimizers.Adam(0.01))):
        gpudnn.set_seed(2)
        model = course_like(None)
        model.compile(optimizer=optimizer, loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=30, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_a_float16_run_whose_scale_must_drop_still_trains_and_reports_the_skips():
    x, labels = blobs(n=400)
    y = to_categorical(labels, 3)
    model = course_like("mixed_float16")
    model.compile(optimizer=optimizers.LossScaleOptimizer(optimizers.Adam(0.01),
                                                          initial_scale=2.0 ** 40),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    opt = model.optimizer
    assert opt.skipped_steps >= 15  # 2^40 * dL/dy overflows float16 (65504) until it drops
    assert opt.dynamic_scale <= 2.0 ** 25
    assert opt.iterations == 6 * 13  # every batch counts (see loss_scale.py)
    assert history.history["accuracy"][-1] > 0.9
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_the_loss_scale_state_is_saved_and_resumed_exactly(tmp_path):
    x, labels = blobs(n=128)
    y = to_categorical(labels, 3)
    model = course_like("mixed_float16")
    model.compile(optimizer=optimizers.LossScaleOptimizer("adam", initial_scale=2.0 ** 30,
                                                          dynamic_growth_steps=3),
                  loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "f16.gpudnn")
    loaded = models.load_model(tmp_path / "f16.gpudnn")
    assert loaded.optimizer.dynamic_scale == model.optimizer.dynamic_scale
    assert loaded.optimizer.skipped_steps == model.optimizer.skipped_steps > 0
    assert loaded.optimizer.dynamic_growth_steps == 3
    for m in (model, loaded):
        m.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert loaded.optimizer.dynamic_scale == model.optimizer.dynamic_scale



@pytest.fixture(scope="module")
def gpu():
    """The CuPy backend with its kernels run on the CPU (tests/kernel_harness)."""
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


@pytest.mark.parametrize("make", [lambda: optimizers.Adam(0.1),
                                  lambda: optimizers.SGD(0.1, momentum=0.9),
                                  lambda: optimizers.RMSprop(0.01, use_ema=True)])
def test_the_cuda_kernels_scale_skip_and_grow_as_numpy_does(gpu, make, monkeypatch):
    """kernels/loss_scaling.cu and the gated update forms, through the CuPy backend's own
    launches (run by g++ on the CPU), against the NumPy backend: the same weights, slots and
    state to the bit, over finite steps, an overflow, a NaN and a growth of the scale."""
    from kernel_harness import host

    # the per-step values go through pinned memory on a GPU; here straight into the array
    monkeypatch.setattr(gpu, "write_step_values",
                        lambda dst, values: dst.__setitem__(slice(None), values), raising=False)
    size = 37  # not a multiple of 4: the vector forms' tail too
    runs = []
    for backend in (NumpyBackend(), gpu):
        lso = optimizers.LossScaleOptimizer(make(), initial_scale=256.0, dynamic_growth_steps=2)
        lso.build(backend, size, np.float32)
        params = backend.from_host(np.linspace(-1, 1, size, dtype=np.float32))
        for step in range(6):
            g = np.random.default_rng(step).standard_normal(size).astype(np.float32) * 256
            if step == 2:
                g[5] = np.inf
            if step == 4:
                g[-1] = np.nan
            grads = backend.from_host(g) if backend is not gpu else host(g)
            lso.apply(backend, params, grads)
        runs.append((np.asarray(params).copy(),
                     {k: np.asarray(v).copy() for k, v in lso.slots.items()}))
    (p1, s1), (p2, s2) = runs
    np.testing.assert_array_equal(p1, p2)
    assert set(s1) == set(s2)
    for name in s1:
        np.testing.assert_array_equal(s1[name], s2[name], err_msg=name)
    assert s1["loss_scale"][2] == 2  # two skipped steps


def test_the_scale_is_what_lets_tiny_float16_gradients_through():
    """Gradients near 1e-8 underflow to 0 in float16: without loss scaling the weights do not
    move; with it they do (so a wrapper that never scaled would fail here)."""
    x = np.random.default_rng(0).random((64, 6)).astype(np.float32)
    moved = []
    for auto in (False, True):
        gpudnn.set_seed(4)
        model = models.Sequential([layers.Dense(8, input_shape=(6,), dtype="mixed_float16"),
                                   layers.Dense(1, dtype="mixed_float16")])
        model.compile(optimizer=optimizers.SGD(1.0), loss="mse", auto_scale_loss=auto)
        y = model.predict(x, verbose=0) + np.float32(1e-7)  # errors of 1e-7: tiny gradients
        before = model.get_weights()
        model.fit(x, y, epochs=1, batch_size=64, verbose=0, shuffle=False)
        moved.append(any(not np.array_equal(a, b) for a, b in
                         zip(before[:1], model.get_weights()[:1])))
    assert moved == [False, True]


def test_replay_equals_eager_while_the_scale_drops(monkeypatch):
    x, labels = blobs(n=160)
    y = to_categorical(labels, 3)
    results = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        gpudnn.set_seed(7)
        model = course_like("mixed_float16")
        model.compile(optimizer=optimizers.LossScaleOptimizer("adam", initial_scale=2.0 ** 40),
                      loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, verbose=0)
        results.append((model.get_weights(), model.optimizer.skipped_steps))
    assert results[0][1] == results[1][1] > 5
    for a, b in zip(results[0][0], results[1][0]):
        np.testing.assert_array_equal(a, b)


def test_a_custom_loop_applies_the_true_gradients_through_the_wrapper():
    """model.gradients gives the true gradients; apply_gradients on the wrapper applies them
    as the inner optimizer would (Keras's would divide them by the scale: gpudnn has no tape
    to differentiate a scaled loss)."""
    x, labels = blobs(n=64)
    y = to_categorical(labels, 3)
    weights = []
    for wrap in (False, True):
        gpudnn.set_seed(3)
        model = course_like(None)
        opt = optimizers.SGD(0.5)
        opt = optimizers.LossScaleOptimizer(opt) if wrap else opt
        model.compile(optimizer=opt, loss="categorical_crossentropy")
        for _ in range(3):
            opt.apply_gradients(zip(model.gradients(x, y), model.trainable_weights))
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_settings_written_through_the_wrapper_reach_the_inner_optimizer():
    lso = optimizers.LossScaleOptimizer(optimizers.AdamW(0.1, weight_decay=0.5))
    lso.weight_decay = 0.25
    lso.clipnorm = 1.0
    assert (lso.inner_optimizer.weight_decay, lso.inner_optimizer.clipnorm) == (0.25, 1.0)
    assert lso.slot_names == ("m", "v") and lso.hyper_size == lso.inner_optimizer.hyper_size
    plain = optimizers.AdamW(0.1, weight_decay=0.25, clipnorm=1.0)
    x, labels = blobs(n=32)
    y = to_categorical(labels, 3)
    weights = []
    for opt in (lso, plain):
        opt.exclude_from_weight_decay(var_names=["bias"])
        gpudnn.set_seed(5)
        model = course_like(None)
        model.compile(optimizer=opt, loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):  # the same exclusion, decay and clipping through the wrapper
        np.testing.assert_array_equal(a, b)


def test_what_the_wrapper_refuses():
    with pytest.raises(gpudnn.InvalidInputError, match="gradient_accumulation_steps"):
        optimizers.LossScaleOptimizer(optimizers.SGD(gradient_accumulation_steps=2))
    with pytest.raises(gpudnn.InvalidInputError, match="pass an instance"):
        optimizers.get(optimizers.LossScaleOptimizer)


def test_a_saved_model_loads_with_the_optimizer_it_was_saved_with(tmp_path):
    x, labels = blobs(n=32)
    y = to_categorical(labels, 3)
    model = course_like("mixed_float16")
    model.compile(optimizer="adam", loss="categorical_crossentropy", auto_scale_loss=False)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "plain.gpudnn")
    loaded = models.load_model(tmp_path / "plain.gpudnn")
    assert type(loaded.optimizer) is optimizers.Adam
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("noise", [lambda: layers.Dropout(0.2),
                                   lambda: layers.Dropout(0.2, noise_shape=(None, 1)),
                                   lambda: layers.GaussianDropout(0.2)])
def test_an_overflowing_float16_step_warns_nothing_on_the_numpy_backend(noise):
    """The overflow is loss scaling's business (skip, halve): inf * 0 in a float32 noise
    layer's backward pass raises no RuntimeWarning."""
    import warnings

    x, labels = blobs(n=128)
    model = models.Sequential([layers.Dense(32, activation="relu", input_shape=(6,),
                                            dtype="mixed_float16"), noise(),
                               layers.Dense(3, activation="softmax", dtype="mixed_float16")])
    model.backend = NumpyBackend()
    model.build((6,))
    model.compile(optimizer=optimizers.LossScaleOptimizer("sgd", initial_scale=2.0 ** 40),
                  loss="categorical_crossentropy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, to_categorical(labels, 3), epochs=1, batch_size=16, verbose=0)
    assert model.optimizer.skipped_steps > 0
