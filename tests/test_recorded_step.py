"""The recorded training step (the CPU form of a captured step, gpudnn/backend/capture.py).

fit records the device part of its step on the first batch of each size and replays it after.
Replay k must do exactly what eager step k does: every test trains the same model twice from the
same seed, once recorded and once with GPUDNN_RECORD_STEPS=0, and asks for bit-identical weights
(and checks that replays really happened, so a silently disabled recording fails). Anything baked
at record time -- a learning rate, a bias correction, a schedule's value, an accumulator, a batch
-- makes the two runs differ.
"""

import numpy as np
import pytest

import gpudnn
from gpudnn import layers, models, optimizers
from gpudnn.backend.capture import RecordedStep, RecordingBackend
from gpudnn.utils import to_categorical

from conftest import blobs

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(learning_rate=0.1),
    "momentum": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    "rmsprop": lambda: optimizers.RMSprop(learning_rate=0.01),
    "rmsprop_momentum": lambda: optimizers.RMSprop(learning_rate=0.005, momentum=0.5),
    "rmsprop_centered": lambda: optimizers.RMSprop(learning_rate=0.005, centered=True),
    "adam": lambda: optimizers.Adam(learning_rate=0.01),
    "amsgrad": lambda: optimizers.Adam(learning_rate=0.01, amsgrad=True),
    "adamw": lambda: optimizers.AdamW(learning_rate=0.01),
    "adagrad": lambda: optimizers.Adagrad(learning_rate=0.1),
    "nadam": lambda: optimizers.Nadam(learning_rate=0.01),
    "adamax": lambda: optimizers.Adamax(learning_rate=0.01),
    "adam_clipnorm": lambda: optimizers.Adam(learning_rate=0.01, clipnorm=0.1),
    "sgd_global_clipnorm": lambda: optimizers.SGD(learning_rate=0.1, global_clipnorm=0.1),
    "rmsprop_clipvalue": lambda: optimizers.RMSprop(learning_rate=0.01, clipvalue=0.01),
    "adam_schedule": lambda: optimizers.Adam(
        learning_rate=optimizers.schedules.ExponentialDecay(0.01, decay_steps=3, decay_rate=0.5)),
    "sgd_cosine_warmup": lambda: optimizers.SGD(learning_rate=optimizers.schedules.CosineDecay(
        0.0, decay_steps=20, warmup_target=0.1, warmup_steps=5)),
}
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus", "linear"]


def train(monkeypatch, record, optimizer, activation="relu", loss="categorical_crossentropy",
          epochs=2, batch_size=32, callbacks=None, samples=150):
    monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if record else "0")
    gpudnn.set_seed(3)
    x, labels = blobs(n=samples)
    y = to_categorical(labels, 3)
    model = models.Sequential([layers.Dense(8, activation=activation, input_shape=(x.shape[1],)),
                               layers.Dense(3, activation="softmax" if loss.startswith("cat")
                                            else "sigmoid")])
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0,
                        callbacks=callbacks)
    return model, history


def assert_same_training(monkeypatch, make_optimizer, **kwargs):
    recorded, h1 = train(monkeypatch, True, make_optimizer(), **kwargs)
    eager, h2 = train(monkeypatch, False, make_optimizer(), **kwargs)
    assert recorded._steps.replays > 0, "the recorded run replayed nothing"
    assert eager._steps.replays == 0
    for a, b in zip(recorded.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert h1.history == h2.history  # the accumulated loss and accuracy, epoch by epoch
    assert recorded.optimizer.iterations == eager.optimizer.iterations
    for name, slot in recorded.optimizer.slots.items():
        np.testing.assert_array_equal(slot, eager.optimizer.slots[name], err_msg=name)
    return recorded


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_replay_equals_eager_for_every_optimizer(monkeypatch, name):
    assert_same_training(monkeypatch, OPTIMIZERS[name])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_replay_equals_eager_for_every_activation(monkeypatch, activation):
    assert_same_training(monkeypatch, OPTIMIZERS["adam"], activation=activation)


@pytest.mark.parametrize("loss", ["binary_crossentropy", "mse"])
def test_replay_equals_eager_for_other_losses(monkeypatch, loss):
    assert_same_training(monkeypatch, OPTIMIZERS["rmsprop"], loss=loss)


def test_full_and_partial_batches_each_get_a_recording(monkeypatch):
    """150 samples in batches of 32: 4 full batches and one of 22 per epoch, 3 epochs."""
    model = assert_same_training(monkeypatch, OPTIMIZERS["adam"], epochs=3)
    # the first step of each batch size records (runs eagerly); every other step replays
    assert model._steps.replays == 3 * 5 - 2


def test_a_learning_rate_changed_between_steps_reaches_the_replay(monkeypatch):
    class Halve(gpudnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.optimizer.learning_rate = self.model.optimizer.learning_rate * 0.7

    assert_same_training(monkeypatch, OPTIMIZERS["sgd"], callbacks=[Halve()])


def test_a_step_that_reads_a_value_is_not_recorded(monkeypatch):
    """A backend call that returns something cannot be replayed: warned once, eager after."""
    original = layers.Dense.forward

    def reading_forward(self, backend, x, out):
        backend.sum_squares(x)  # returns a device scalar: its replay would be stale
        original(self, backend, x, out)

    monkeypatch.setattr(layers.Dense, "forward", reading_forward)
    with pytest.warns(RuntimeWarning, match="cannot be recorded.*sum_squares"):
        recorded, _ = train(monkeypatch, True, OPTIMIZERS["adam"]())
    assert recorded._steps.replays == 0
    eager, _ = train(monkeypatch, False, OPTIMIZERS["adam"]())
    for a, b in zip(recorded.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_recompiling_drops_the_recordings(monkeypatch):
    model, _ = train(monkeypatch, True, OPTIMIZERS["adam"](), epochs=1)
    old = model._steps
    model.compile(optimizer=optimizers.SGD(learning_rate=0.1), loss="categorical_crossentropy")
    assert model._steps is not old and model._steps.replays == 0


def test_recording_backend_keeps_calls_and_replay_repeats_them():
    backend = gpudnn.backend.backend_for("cpu")
    recorder = RecordingBackend(backend)
    param, grad = np.ones(5, np.float32), np.full(5, 2.0, np.float32)
    hyper = np.array([0.5, 0.0], np.float32)
    recorder.sgd_update(param, grad, hyper)
    assert recorder.unusable is None and len(recorder.calls) == 1
    np.testing.assert_array_equal(param, 0.0)
    hyper[0] = 0.25  # the next replay reads the new value: nothing was baked
    RecordedStep(recorder.calls).replay()
    np.testing.assert_array_equal(param, -0.5)
    assert recorder.is_gpu is False  # attributes pass through


def test_replay_equals_eager_with_dropout_and_flatten(monkeypatch):
    """The dropout step counter is advanced on the device inside the recorded step: a replay
    draws a new mask every step, as the eager step does."""
    def run(record):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if record else "0")
        gpudnn.set_seed(5)
        x, labels = blobs(n=150, features=6)
        model = models.Sequential([layers.Flatten(input_shape=(2, 3)),
                                   layers.Dense(16, activation="relu"), layers.Dropout(0.3),
                                   layers.Dense(3, activation="softmax")])
        model.compile(optimizer=optimizers.Adam(0.01), loss="categorical_crossentropy")
        model.fit(x.reshape(-1, 2, 3), to_categorical(labels, 3), epochs=2, batch_size=32,
                  verbose=0)
        return model

    recorded, eager = run(True), run(False)
    assert recorded._steps.replays > 0
    np.testing.assert_array_equal(recorded.state_arrays()["dropout_step"],
                                  eager.state_arrays()["dropout_step"])
    assert int(recorded.state_arrays()["dropout_step"][0]) == 2 * 5
    for a, b in zip(recorded.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)


class _FakeGraphs:
    """Stands in for CudaGraphs on the CPU: 'captures' by recording the step's calls again (the
    capture must not execute them) and replays those; or fails like a refused capture."""

    def __init__(self, fail):
        self.fail, self.captures, self.warmed = fail, 0, 0

    def warm(self, run_step):
        self.warmed += 1
        run_step()

    def capture(self, backend, run_step, calls):
        from gpudnn.backend.cuda_graph import CaptureFailed

        self.captures += 1
        if self.fail:
            raise CaptureFailed("NotImplementedError: an op that cannot be captured")
        return RecordedStep(calls)


@pytest.mark.parametrize("fail", [False, True])
def test_the_graph_path_is_taken_on_the_second_step_and_falls_back_cleanly(monkeypatch, fail):
    """With a backend that offers graphs, the second step of a batch size is captured and every
    later one replays the capture; a failed capture warns once and replays call by call. Either
    way the weights are those of the eager run."""
    pytest.importorskip("cupy")
    from gpudnn.backend.base import Backend

    fake = _FakeGraphs(fail)
    monkeypatch.setattr(Backend, "graphs", lambda self: fake)
    if fail:
        with pytest.warns(RuntimeWarning, match="could not be captured as a CUDA graph"):
            graphed, _ = train(monkeypatch, True, OPTIMIZERS["adam"]())
    else:
        graphed, _ = train(monkeypatch, True, OPTIMIZERS["adam"]())
    assert fake.captures == fake.warmed == 2  # the full and the partial batch, once each
    assert graphed._steps.graphs == (0 if fail else 2)
    monkeypatch.setattr(Backend, "graphs", lambda self: None)
    eager, _ = train(monkeypatch, False, OPTIMIZERS["adam"]())
    for a, b in zip(graphed.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value, on", [(None, True), ("1", True), ("on", True), ("0", False),
                                       ("false", False), (" OFF ", False), ("no", False)])
def test_cuda_graphs_are_on_unless_turned_off(monkeypatch, value, on):
    pytest.importorskip("cupy")
    from gpudnn.backend.cuda_graph import graphs_requested

    if value is None:
        monkeypatch.delenv("GPUDNN_CUDA_GRAPHS", raising=False)
    else:
        monkeypatch.setenv("GPUDNN_CUDA_GRAPHS", value)
    assert graphs_requested() is on


def test_a_failed_capture_names_the_gpudnn_line_that_raised():
    pytest.importorskip("cupy")
    from gpudnn.backend import cuda_graph

    def refuse():
        raise NotImplementedError("calling cuBLAS API during stream capture is unsupported")

    try:
        refuse()
    except NotImplementedError as exc:
        where = cuda_graph._where(exc)
    assert where == ""  # raised in a test file, not in gpudnn
    try:
        cuda_graph.CudaGraphs.warm(None, refuse)
    except Exception as exc:  # noqa: BLE001 -- None has no device: raised inside gpudnn
        where = cuda_graph._where(exc)
    assert where.startswith(" at gpudnn/backend/cuda_graph.py:") and where.endswith("(warm)")


def test_fit_leaves_no_recording_bound_to_its_data(monkeypatch):
    """The recordings (on a GPU, CUDA graphs) of a fit are bound to its device copy of the data;
    they go when fit returns, also when it stops with an exception, so nothing keeps the
    training set on the device, and the next fit records again and trains on."""
    from gpudnn.training import fit as training

    feeds = []
    original = training.BatchFeed.__init__

    def keep(self, *args):
        original(self, *args)
        feeds.append(self)

    monkeypatch.setattr(training.BatchFeed, "__init__", keep)
    model, _ = train(monkeypatch, True, OPTIMIZERS["adam"]())
    replays = model._steps.replays
    assert replays > 0 and model._steps._entries == {}

    class Boom(gpudnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:
                raise RuntimeError("boom")

    x, labels = blobs(n=150)
    with pytest.raises(RuntimeError, match="boom"):
        model.fit(x, to_categorical(labels, 3), batch_size=32, verbose=0, callbacks=[Boom()])
    assert model._steps._entries == {} and model._steps.replays > replays
    model.fit(x, to_categorical(labels, 3), batch_size=32, verbose=0)
    assert model._steps._entries == {} and len(feeds) == 3


MUTATIONS = {
    "clipnorm": (lambda m: setattr(m.optimizer, "clipnorm", 0.01),
                 lambda: optimizers.SGD(0.1, clipnorm=10.0), False, None),
    "beta_1": (lambda m: setattr(m.optimizer, "beta_1", 0.5), lambda: optimizers.Adam(0.01),
               False, None),
    "momentum": (lambda m: setattr(m.optimizer, "momentum", 0.5),
                 lambda: optimizers.SGD(0.1, momentum=0.9), False, None),
    "dropout_rate": (lambda m: setattr(m.layers[1], "rate", 0.1), lambda: optimizers.SGD(0.1),
                     True, None),
    "l2_factor": (lambda m: setattr(m.layers[0].kernel_regularizer, "l2", 1.0),
                  lambda: optimizers.SGD(0.1), False, "l2"),
    "label_smoothing": (lambda m: setattr(m.loss, "label_smoothing", 0.2),
                        lambda: optimizers.SGD(0.1), False, None),
    "leaky_slope": (lambda m: setattr(m.layers[0], "activation_spec",
                                      m.layers[0].activation_spec._replace(alpha=0.5)),
                    lambda: optimizers.SGD(0.1), False, None),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_a_hyperparameter_changed_during_a_fit_is_not_replayed_stale(monkeypatch, name):
    """A value bound into the recorded calls (a clip norm, a beta, a dropout rate, a penalty, a
    smoothing, an activation slope) that changes during a fit makes the step record again."""
    mutate, make_optimizer, dropout, regularizer = MUTATIONS[name]

    def run(record):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if record else "0")
        gpudnn.set_seed(3)
        stack = [layers.Dense(16, activation="leaky_relu", input_shape=(6,),
                              kernel_regularizer=gpudnn.regularizers.get(regularizer))]
        stack += [layers.Dropout(0.5, seed=1)] if dropout else []
        stack += [layers.Dense(3, activation="softmax")]
        model = models.Sequential(stack)
        model.compile(optimizer=make_optimizer(), metrics=["accuracy"],
                      loss=gpudnn.losses.CategoricalCrossentropy(label_smoothing=0.0))
        x, labels = blobs(n=64)
        y = to_categorical(labels, 3)

        class MutateMidFit(gpudnn.callbacks.Callback):
            # mid-fit: a recording made before it would be replayed after it (fit drops its
            # recordings when it returns, so a change between fits could not catch a stale one)
            def on_train_batch_begin(self, batch, logs=None):
                if self.model.optimizer.iterations == 6:
                    mutate(self.model)

        model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False,
                  callbacks=[MutateMidFit()])
        return model

    recorded, eager = run(True), run(False)
    assert recorded._steps.replays > 0
    for a, b in zip(recorded.get_weights(), eager.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_dropout_rate_changed_to_and_from_zero_trains_as_a_fresh_model(monkeypatch):
    """Rate 0 makes Dropout the identity (no buffer): the workspace layout follows the change,
    so the gradients are those of a model built with the new rate, recorded or not."""
    x, labels = blobs(n=64)
    y = to_categorical(labels, 3)

    def model(rate):
        gpudnn.set_seed(9)
        m = models.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)),
                               layers.Dropout(rate, seed=4), layers.Dense(3, activation="softmax")])
        m.compile(optimizer=optimizers.SGD(0.1), loss="categorical_crossentropy")
        return m

    for record in (True, False):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if record else "0")
        for start, end in ((0.5, 0.0), (0.0, 0.5)):
            changed, fresh = model(start), model(end)
            changed.fit(x, y, epochs=1, batch_size=16, verbose=0)
            fresh.set_weights(changed.get_weights())
            fresh.state_arrays()["dropout_step"][...] = changed.state_arrays()["dropout_step"]
            changed.layers[1].rate = end
            for a, b in zip(changed.gradients(x, y), fresh.gradients(x, y)):
                np.testing.assert_array_equal(a, b)
            changed.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
            fresh.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
            for a, b in zip(changed.get_weights(), fresh.get_weights()):
                np.testing.assert_array_equal(a, b)


def test_making_or_printing_other_objects_keeps_the_recording(monkeypatch):
    """Settings are versioned per object: a callback that builds or prints gpudnn objects every
    batch does not make the step record again."""
    class Chatty(gpudnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            repr(self.model.loss)
            gpudnn.losses.get("mse")
            layers.Dense(3)

    model, _ = train(monkeypatch, True, OPTIMIZERS["adam"](), callbacks=[Chatty()])
    assert model._steps.replays == 2 * 5 - 2


def test_settings_that_change_the_optimizer_state_are_refused_after_build(monkeypatch):
    model, _ = train(monkeypatch, True, optimizers.SGD(0.1), epochs=1)
    model.optimizer.momentum = 0.9  # SGD without momentum keeps no velocity
    before = model.get_weights()
    with pytest.raises(gpudnn.InvalidInputError, match="compile the model again"):
        model.fit(*_blob_data(), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def _blob_data():
    x, labels = blobs(n=150)
    return x, to_categorical(labels, 3)


def test_verbose_fit_on_a_gpu_says_which_path_the_step_took(monkeypatch, capsys):
    """On a GPU backend, verbose fit prints once which form of the step ran (graph, recorded
    calls, eager); on the CPU the output stays Keras's."""
    train(monkeypatch, True, OPTIMIZERS["adam"](), epochs=2)
    assert "training step" not in capsys.readouterr().out  # verbose=0
    x, y = _blob_data()
    for record, expected in ((True, "recorded once and replayed call by call"),
                             (False, "run eagerly")):
        monkeypatch.setenv("GPUDNN_RECORD_STEPS", "1" if record else "0")
        model = models.Sequential([layers.Dense(4, activation="relu", input_shape=(6,)),
                                   layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=32, verbose=2)
        assert "training step" not in capsys.readouterr().out
        monkeypatch.setattr(type(model.backend), "is_gpu", True)
        model.fit(x, y, epochs=2, batch_size=32, verbose=2)
        out = capsys.readouterr().out
        monkeypatch.undo()
        assert out.count(f"training step was {expected}") == 1, out
