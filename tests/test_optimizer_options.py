"""Keras 3's optimizer options: ``exclude_from_weight_decay``, ``use_ema`` / ``ema_momentum`` /
``ema_overwrite_frequency`` (+ ``finalize_variable_values``, which ``fit`` calls) and
``gradient_accumulation_steps``, each against a float64 reference written from Keras 3's
``BaseOptimizer._backend_apply_gradients`` and the ``update_step`` of SGD and Adam; their
kernels bit for bit against NumPy (the CPU harness runs the CuPy backend's call sites); recorded
steps equal eager ones; save, load and resume exact."""

import math

import re

import numpy as np
import pytest

import gpudnn
import kernel_harness
from gpudnn import layers, models, optimizers
from gpudnn.backend import NumpyBackend
from gpudnn.backend.kernel_source import load_kernels
from gpudnn.backend.native_backend import CompiledCpuBackend
from gpudnn.errors import InvalidInputError
from kernel_harness import host


class KerasRule:
    """Keras 3 in float64 over a list of variables, one ``apply(grads)`` per batch:
    accumulation (``(iterations + 1) % n``), then clipping, weight decay (``v -= v wd lr``
    except the excluded) and the update step at ``t = iterations // n + 1`` with the learning
    rate at the batch count, then the EMA (momentum 0 while ``iterations // n == 0``) and its
    overwrite when ``(iterations // n + 1) % f == 0``; ``iterations`` counts batches."""

    def __init__(self, kind, values, lr, weight_decay=None, excluded=None, momentum=0.0,
                 use_ema=False, ema_momentum=0.99, frequency=None, steps=None,
                 global_clipnorm=None, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.kind, self.lr, self.wd, self.momentum = kind, lr, weight_decay, momentum
        self.vars = [np.array(v, np.float64) for v in values]
        self.excluded = excluded or [False] * len(self.vars)
        self.use_ema, self.ema_momentum, self.frequency = use_ema, ema_momentum, frequency
        self.steps, self.clip = steps, global_clipnorm
        self.b1, self.b2, self.eps = beta_1, beta_2, epsilon
        self.m, self.v, self.acc, self.ema = ([np.zeros_like(v) for v in self.vars]
                                              for _ in range(4))
        self.iterations = 0

    def updates(self):  # Keras's ``iterations`` property
        return self.iterations // self.steps if self.steps else self.iterations

    def apply(self, grads):
        grads = [np.array(g, np.float64) for g in grads]
        if not self.steps:
            self._update(grads)
        elif (self.iterations + 1) % self.steps == 0:
            self._update([(g + a) / self.steps for g, a in zip(grads, self.acc)])
            self.acc = [np.zeros_like(a) for a in self.acc]
        else:
            self.acc = [a + g for a, g in zip(self.acc, grads)]
        if self.use_ema:
            m = self.ema_momentum if self.updates() != 0 else 0.0
            self.ema = [m * e + (1 - m) * v for e, v in zip(self.ema, self.vars)]
            if self.frequency and (self.updates() + 1) % self.frequency == 0:
                self.vars = [e.copy() for e in self.ema]
        self.iterations += 1

    def _update(self, grads):
        if self.clip:
            norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
            grads = [g * self.clip * min(1 / norm, 1 / self.clip) for g in grads]
        lr = self.lr(self.iterations) if callable(self.lr) else self.lr
        if self.wd:
            self.vars = [v if out else v - v * self.wd * lr
                         for v, out in zip(self.vars, self.excluded)]
        t = self.updates() + 1
        for i, g in enumerate(grads):
            if self.kind == "sgd":
                self.m[i] = self.momentum * self.m[i] - lr * g
                self.vars[i] = self.vars[i] + self.m[i]
            else:
                alpha = lr * math.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
                self.m[i] = self.m[i] + (g - self.m[i]) * (1 - self.b1)
                self.v[i] = self.v[i] + (g * g - self.v[i]) * (1 - self.b2)
                self.vars[i] = self.vars[i] - alpha * self.m[i] / (np.sqrt(self.v[i]) + self.eps)


def problem(seed=0, n=12):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.standard_normal((n, 3))


def network(frozen=False, seed=3):
    """Dense(4, tanh) -> Dense(4, tanh) -> Dense(3) in float64; ``frozen``: the middle layer
    (two trainable ranges of the flat buffers, apart)."""
    gpudnn.set_seed(seed)
    model = models.Sequential([layers.Dense(4, activation="tanh", input_shape=(5,), name="first"),
                               layers.Dense(4, activation="tanh", name="middle"),
                               layers.Dense(3, name="last")], dtype="float64", device="cpu")
    if frozen:
        model.layers[1].trainable = False
    return model


def trainable_index(frozen):
    return [0, 1, 4, 5] if frozen else [0, 1, 2, 3, 4, 5]


def drive(model, rule, frozen, batches=7, batch=4):
    """``batches`` train_on_batch steps; before each, the reference steps with the same
    gradients (``model.gradients`` at the same weights). Returns the frozen weights before."""
    x, y = problem()
    index = trainable_index(frozen)
    before = model.get_weights()
    for b in range(batches):
        rows = slice((b * batch) % len(x), (b * batch) % len(x) + batch)
        grads = model.gradients(x[rows], y[rows])
        rule.apply([grads[i] for i in index])
        model.train_on_batch(x[rows], y[rows])
        weights = model.get_weights()
        for got, want in zip([weights[i] for i in index], rule.vars):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    return before


def start_values(model, frozen):
    weights = model.get_weights()
    return [weights[i] for i in trainable_index(frozen)]


CASES = {  # name: (optimizer factory, reference kind and settings)
    "adamw_exclude_names": (lambda: optimizers.AdamW(learning_rate=0.02, weight_decay=0.3),
                            dict(kind="adam", lr=0.02, weight_decay=0.3), dict(var_names=["bias"])),
    "sgd_exclude_list": (lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9,
                                                weight_decay=0.2),
                         dict(kind="sgd", lr=0.05, momentum=0.9, weight_decay=0.2), "first"),
    "adam_ema": (lambda: optimizers.Adam(learning_rate=0.02, use_ema=True, ema_momentum=0.8),
                 dict(kind="adam", lr=0.02, use_ema=True, ema_momentum=0.8), None),
    "sgd_ema_overwrite": (lambda: optimizers.SGD(learning_rate=0.05, use_ema=True,
                                                 ema_momentum=0.7, ema_overwrite_frequency=2),
                          dict(kind="sgd", lr=0.05, use_ema=True, ema_momentum=0.7, frequency=2),
                          None),
    "adam_accumulate_schedule": (
        lambda: optimizers.Adam(learning_rate=optimizers.schedules.ExponentialDecay(0.03, 2, 0.5),
                                gradient_accumulation_steps=3),
        dict(kind="adam", lr=lambda it: 0.03 * 0.5 ** (it / 2), steps=3), None),
    "everything": (
        lambda: optimizers.AdamW(learning_rate=0.02, weight_decay=0.3, use_ema=True,
                                 ema_momentum=0.6, ema_overwrite_frequency=2,
                                 gradient_accumulation_steps=2, global_clipnorm=0.5),
        dict(kind="adam", lr=0.02, weight_decay=0.3, use_ema=True, ema_momentum=0.6,
             frequency=2, steps=2, global_clipnorm=0.5), dict(var_names=["^bias$", "last"])),
}


def excluded_flags(model, frozen, exclusion):
    names = [v.name for v in model.trainable_weights]
    if exclusion == "first":
        return [i == 0 for i in range(len(names))]
    if not exclusion:
        return None
    # Keras 3: re.search of the patterns in each variable's own name ("bias"), not its path
    return [any(re.search(w, n.rsplit("/", 1)[-1]) for w in exclusion["var_names"])
            for n in names]


def compiled(case, frozen):
    factory, _, exclusion = CASES[case]
    model = network(frozen)
    optimizer = factory()
    if exclusion == "first":
        optimizer.exclude_from_weight_decay(var_list=model.trainable_weights[:1])
    elif exclusion:
        optimizer.exclude_from_weight_decay(**exclusion)
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_keras_rule(case, frozen):
    model = compiled(case, frozen)
    _, settings, exclusion = CASES[case]
    rule = KerasRule(values=start_values(model, frozen),
                     excluded=excluded_flags(model, frozen, exclusion), **settings)
    before = drive(model, rule, frozen)
    optimizer = model.optimizer
    assert optimizer.step_count == 7  # every batch counts, as Keras's _iterations
    n = settings.get("steps")  # Keras's iterations property: the updates done
    assert optimizer.iterations == (7 // n if n else 7)
    assert repr(optimizer).startswith(f"{type(optimizer).__name__}(")  # a schedule in it too
    if frozen:  # the frozen layer stays bit-identical
        for a, b in zip(before[2:4], model.get_weights()[2:4]):
            np.testing.assert_array_equal(a, b)
    if settings.get("use_ema"):
        flat = np.concatenate([e.ravel() for e in rule.ema])
        np.testing.assert_allclose(optimizer.slots["ema"], flat, rtol=1e-10, atol=1e-12)
        optimizer.finalize_variable_values(model.trainable_weights)
        for got, want in zip(start_values(model, frozen), rule.ema):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    if settings.get("steps"):
        flat = np.concatenate([a.ravel() for a in rule.acc])
        np.testing.assert_allclose(optimizer.slots["gradient_accumulator"], flat, rtol=1e-10)
        assert optimizer.slots["gradient_accumulator"].shape == optimizer.slots["m"].shape


def test_the_reference_is_not_trivially_met():
    """Without its exclusion, with another EMA momentum, with no accumulation the reference
    ends elsewhere: each setting is seen by the comparison above."""
    _, settings, exclusion = CASES["everything"]
    ends = []
    for change in ({}, {"excluded": None}, {"ema_momentum": 0.5}, {"steps": None},
                   {"frequency": None}):
        model = network()
        values = start_values(model, False)
        rule = KerasRule(values=values, **{"excluded": excluded_flags(model, False, exclusion),
                                           **settings, **change})
        rng = np.random.default_rng(1)
        for _ in range(6):
            rule.apply([rng.standard_normal(v.shape) for v in values])
        ends.append(np.concatenate([v.ravel() for v in rule.vars]))
    for other in ends[1:]:
        assert not np.allclose(ends[0], other, rtol=1e-6)


# ---------------------------------------------------------------------------- fit, recording
def fit_everything(x, y, epochs=3, **kwargs):
    model = compiled("everything", frozen=True)
    model.fit(x, y, epochs=epochs, batch_size=4, shuffle=False, verbose=0, **kwargs)
    return model


def test_a_recorded_step_equals_the_eager_one(monkeypatch):
    """Frozen middle layer, exclusions, EMA with overwrites, accumulation and clipping: fit's
    recorded steps (both forms, full and partial batches) give the eager weights and slots
    bit for bit, and are replayed."""
    x, y = problem(n=10)  # batches of 4, 4, 2
    runs = []
    for record in ("1", "0"):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", record)
        runs.append(fit_everything(x, y))
    recorded, eager = runs
    # 9 batches of (size, form): (4, acc) (4, upd) (2, acc) (4, upd) (4, acc) (2, upd) (4, acc)
    # (4, upd) (2, acc): four recordings, the other five batches replayed
    assert recorded._steps.replays == 5 and eager._steps.replays == 0
    for a, b in zip(recorded.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)
    for name, slot in recorded.optimizer.slots.items():
        np.testing.assert_array_equal(slot, eager.optimizer.slots[name])


def test_the_average_moves_in_the_updates_own_launch(monkeypatch):
    """use_ema costs no pass of its own on a batch that updates: the update is called with
    ``ema=`` (one launch of its EMA form, tests/test_kernel_cpu.py) once per trainable run, and
    ``ema_update`` runs only on the batches that only accumulate, where there is no update."""
    monkeypatch.setenv("GPUDNN_RECORD_STEPS", "0")
    x, y = problem(n=8)
    model = compiled("everything", frozen=True)  # two trainable ranges, exclusions
    calls = []
    for name in ("adam_update", "ema_update"):
        method = getattr(model.backend, name)
        monkeypatch.setattr(model.backend, name, lambda *a, _m=method, _n=name, **k: (
            calls.append((_n, k.get("ema") is not None)), _m(*a, **k))[1])
    for start in (0, 4):  # accumulate, then update (gradient_accumulation_steps=2)
        calls.clear()
        model.train_on_batch(x[start:start + 4], y[start:start + 4])
        if start == 0:
            assert calls and set(calls) == {("ema_update", False)}, calls
        else:
            assert calls and set(calls) == {("adam_update", True)}, calls


def test_fit_is_train_on_batch_then_finalize_variable_values(monkeypatch):
    """fit's steps are train_on_batch's (checked against the reference above), and at its end
    it calls finalize_variable_values: the trainable weights become their moving average."""
    x, y = problem(n=10)
    calls = []
    finalize = optimizers.Optimizer.finalize_variable_values
    monkeypatch.setattr(optimizers.Optimizer, "finalize_variable_values",
                        lambda self, var_list: calls.append(var_list) or finalize(self, var_list))
    fitted = fit_everything(x, y, epochs=2)
    assert len(calls) == 1 and [v.name for v in calls[0]] == \
        [v.name for v in fitted.trainable_weights]
    stepped = compiled("everything", frozen=True)
    for _ in range(2):
        for start in (0, 4, 8):
            stepped.train_on_batch(x[start:start + 4], y[start:start + 4])
    trained = stepped.get_weights()
    stepped.optimizer.finalize_variable_values(stepped.trainable_weights)
    for a, b in zip(fitted.get_weights(), stepped.get_weights()):
        np.testing.assert_array_equal(a, b)
    ema = stepped.optimizer.slots["ema"]
    flat = np.concatenate([w.ravel() for w in start_values(stepped, True)])
    np.testing.assert_array_equal(flat, ema)
    assert not np.array_equal(trained[0], stepped.get_weights()[0])
    np.testing.assert_array_equal(trained[2], stepped.get_weights()[2])  # frozen: untouched


def test_without_use_ema_fit_leaves_the_weights():
    x, y = problem(n=8)
    model = compiled("adamw_exclude_names", frozen=False)
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    trained = model.get_weights()
    model.optimizer.finalize_variable_values(model.trainable_weights)
    for a, b in zip(trained, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert "ema" not in model.optimizer.slots


def test_accumulating_batches_leave_the_weights(monkeypatch):
    monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1")
    x, y = problem(n=8)
    model = network()
    model.compile(optimizer=optimizers.Adam(0.1, gradient_accumulation_steps=3), loss="mse")
    start = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)  # 2 batches: no update
    for a, b in zip(start, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # two batches seen, no update done: Keras's iterations property is 0
    assert model.optimizer.step_count == 2 and model.optimizer.iterations == 0
    assert np.any(model.optimizer.slots["m"] == 0)
    model.train_on_batch(x[:4], y[:4])  # the 3rd batch updates, and empties the accumulator
    assert not np.array_equal(start[0], model.get_weights()[0])
    np.testing.assert_array_equal(model.optimizer.slots["gradient_accumulator"], 0.0)


# ---------------------------------------------------------------------------- save and resume
def test_save_load_resume_is_exact(tmp_path):
    """Saved mid-accumulation with an EMA: the slots ema and gradient_accumulator and the
    count come back; re-applying the exclusions (not saved, as in Keras) the loaded model
    trains on bit for bit as the original does."""
    x, y = problem(n=10)
    model = fit_everything(x, y, epochs=1)  # 3 batches with n = 2: one gradient accumulated
    path = str(tmp_path / "options.gpudnn")
    model.save(path)
    again = models.load_model(path)
    assert again.optimizer.get_config() == model.optimizer.get_config()
    again.optimizer.exclude_from_weight_decay(var_names=["^bias$", "last"])
    assert set(again.optimizer.slots) == {"m", "v", "ema", "gradient_accumulator"}
    assert np.any(model.optimizer.slots["gradient_accumulator"] != 0)
    for name, slot in model.optimizer.slots.items():
        np.testing.assert_array_equal(again.optimizer.slots[name], slot)
    assert again.optimizer.step_count == model.optimizer.step_count == 3  # mid-window
    assert again.optimizer.iterations == model.optimizer.iterations == 1
    for m in (model, again):
        m.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    for name, slot in model.optimizer.slots.items():
        np.testing.assert_array_equal(again.optimizer.slots[name], slot)


def test_exclusions_are_set_before_the_first_step():
    x, y = problem(n=4)
    model = compiled("adamw_exclude_names", frozen=False)
    model.optimizer.exclude_from_weight_decay(var_names="bias")  # after compile: still fine
    model.train_on_batch(x, y)
    with pytest.raises(InvalidInputError, match="before the optimizer's first step"):
        model.optimizer.exclude_from_weight_decay(var_names=["kernel"])
    with pytest.raises(InvalidInputError, match="var_list"):
        optimizers.AdamW().exclude_from_weight_decay(var_list=["bias"])
    with pytest.raises(InvalidInputError, match="pattern"):
        optimizers.AdamW().exclude_from_weight_decay(var_names=["bias("])


def test_exclusion_matches_by_keras_search_and_by_variable():
    """Keras 3 searches each variable's own name ("kernel", "bias"), not its path: "^bias$"
    excludes every bias, a layer's name excludes nothing; var_list names Variables."""
    model = network()
    optimizer = optimizers.AdamW(weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_list=[model.trainable_weights[2]],
                                        var_names=["^bias$", model.layers[0].name])
    model.compile(optimizer=optimizer, loss="mse")
    sizes = [w.size for w in model.get_weights()]
    starts = np.cumsum([0] + sizes)
    assert optimizer._decay_runs == ((0, starts[1], 0, True), (starts[1], starts[4], starts[1],
                                                                False),
                                     (starts[4], starts[5], starts[4], True),
                                     (starts[5], starts[6], starts[5], False))


def test_standalone_variables_take_the_options():
    """apply_gradients on gpudnn.Variables: exclusion by the Variable itself, the EMA."""
    a, b = gpudnn.Variable(np.ones(3)), gpudnn.Variable(np.full(2, 2.0))
    optimizer = optimizers.SGD(0.1, weight_decay=0.5, use_ema=True, ema_momentum=0.5)
    optimizer.exclude_from_weight_decay(var_list=[b])
    for _ in range(2):
        optimizer.apply_gradients([(np.ones(3), a), (np.ones(2), b)])
    rule = KerasRule("sgd", [np.ones(3), np.full(2, 2.0)], 0.1, weight_decay=0.5,
                     excluded=[False, True], use_ema=True, ema_momentum=0.5)
    for _ in range(2):
        rule.apply([np.ones(3), np.ones(2)])
    np.testing.assert_allclose(a.numpy(), rule.vars[0], rtol=1e-15)
    np.testing.assert_allclose(b.numpy(), rule.vars[1], rtol=1e-15)
    optimizer.finalize_variable_values([a, b])
    np.testing.assert_allclose(b.numpy(), rule.ema[1], rtol=1e-15)


# ---------------------------------------------------------------------------- config
def test_config_round_trip_and_keras_checks():
    optimizer = optimizers.Nadam(0.01, use_ema=True, ema_momentum=0.9, ema_overwrite_frequency=5,
                                 gradient_accumulation_steps=4)
    config = optimizer.get_config()
    assert {k: config[k] for k in ("use_ema", "ema_momentum", "ema_overwrite_frequency",
                                   "gradient_accumulation_steps")} == \
        {"use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": 5,
         "gradient_accumulation_steps": 4}
    again = optimizers.deserialize(optimizers.serialize(optimizer))
    assert again.get_config() == config
    assert "use_ema" not in repr(optimizers.Adam()) and "use_ema=True" in repr(optimizer)
    defaults = optimizers.SGD().get_config()
    assert (defaults["use_ema"], defaults["ema_momentum"], defaults["ema_overwrite_frequency"],
            defaults["gradient_accumulation_steps"]) == (False, 0.99, None, None)
    for bad in ({"ema_momentum": 1.5}, {"ema_overwrite_frequency": 0},
                {"gradient_accumulation_steps": 1}, {"gradient_accumulation_steps": 2.5}):
        with pytest.raises(InvalidInputError):
            optimizers.Adam(**bad)


def test_turning_an_option_on_after_build_asks_for_a_new_optimizer():
    model = network()
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.use_ema = True
    x, y = problem(n=4)
    with pytest.raises(InvalidInputError, match="use_ema"):
        model.train_on_batch(x, y)


# ---------------------------------------------------------------------------- kernels
@pytest.fixture(scope="module")
def gpu():
    from kernel_harness.backend import host_routed_backend

    return host_routed_backend()


EDGES = [0.0, -0.0, 1e30, -1e-30, np.nan, np.inf, 1e-40, -3e-39]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 3, 4, 5, 1000, 4097])
@pytest.mark.parametrize("offset", [0, 1])
def test_option_kernels_match_numpy_bit_for_bit(gpu, kernels_only, dtype, size, offset):
    """ema_update and accumulate_gradients (both kernels) through the CuPy backend's call sites
    (aligned: the vector form, one launch; one element off: the scalar kernel) and through the
    compiled CPU backend equal NumPy to the bit, subnormals and non-finite values included,
    and write nothing outside their buffers."""
    rng = np.random.default_rng(size)
    param = rng.standard_normal(size).astype(dtype)
    param[:len(EDGES)] = np.array(EDGES[:size], dtype)
    states = {}
    for name, backend in (("numpy", NumpyBackend()), ("native", CompiledCpuBackend()),
                          ("cupy", gpu)):
        wrap = (lambda a: kernel_harness.placed(a, offset)) if name == "cupy" else np.copy
        states[name] = (backend, wrap(param), wrap(np.zeros(size, dtype)),
                        wrap(np.zeros(size, dtype)), wrap)
    kernel_harness.LAUNCHES.clear()
    for step in range(6):
        g = (rng.standard_normal(size) * 10).astype(dtype)
        g[-min(size, 3):] = np.array([1e-41, np.nan, -0.0][:min(size, 3)], dtype)
        rate = np.array([0.0 if step == 0 else 0.75], dtype)
        for backend, p, ema, acc, wrap in states.values():
            grad = wrap(g)
            backend.accumulate_gradients(grad, acc, 3, step % 3 == 2)
            backend.ema_update(p, ema, host(rate) if backend is gpu else rate.copy())
            p += grad  # the weights move (an update's stand-in)
        for i in (1, 2, 3):
            want = states["numpy"][i]
            for name in ("native", "cupy"):
                assert np.array_equal(np.asarray(states[name][i]), want, equal_nan=True), \
                    (name, step, i)
                assert np.array_equal(np.signbit(np.asarray(states[name][i])), np.signbit(want))
    for i in (1, 2, 3):
        assert kernel_harness.guards_intact(states["cupy"][i])
    kernels = load_kernels()
    expected = {kernels[k].vector if offset == 0 else k
                for k in ("ema_update", "accumulate_gradients", "average_gradients")}
    assert set(kernel_harness.LAUNCHES) == expected and len(kernel_harness.LAUNCHES) == 12


@pytest.mark.parametrize("emulated", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_flushes_subnormals_as_the_compiled_kernels(monkeypatch, kernels_only, dtype,
                                                           emulated):
    """The NumPy reference of both ops reaches the compiled kernels' bits (FTZ|DAZ) with
    subnormal weights and gradients, in the CPU's flushing mode or emulating it."""
    from gpudnn.backend import fp_mode

    if emulated:
        monkeypatch.setattr(fp_mode, "enter", lambda: None)
    rng = np.random.default_rng(2)
    tiny = np.finfo(dtype).tiny
    p = rng.standard_normal(1000).astype(dtype)
    p[:6] = [tiny / 3, -tiny / 5, 0.0, -0.0, np.nan, np.inf]
    states = [[backend, p.copy(), np.zeros(1000, dtype), np.zeros(1000, dtype)]
              for backend in (NumpyBackend(), CompiledCpuBackend())]
    for step in range(6):
        g = (rng.standard_normal(1000) * tiny * 4).astype(dtype)
        rate = np.array([0.0 if step == 0 else 0.75], dtype)
        for backend, param, ema, acc in states:
            grad = g.copy()
            backend.accumulate_gradients(grad, acc, 3, step % 3 == 2)
            backend.ema_update(param, ema, rate)
            param += grad
    for want, got in zip(states[0][1:], states[1][1:]):
        assert np.array_equal(want, got, equal_nan=True)
        assert np.array_equal(np.signbit(want), np.signbit(got))
