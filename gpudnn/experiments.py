"""The course's experiments as functions: the data, the course model, training runs and comparisons.

The ``gpudnn`` command is a thin layer over these; they are usable from Python too::

    data = load_data("fashion-mnist")
    runs = compare(["sgd", "rmsprop", "adam"], lambda name: course_model(optimizer=name), data,
                   epochs=10, batch_size=128, seed=0)
    [(r.choice, r.test_accuracy) for r in runs.results]

Every run of a comparison starts from ``set_seed(seed)``, so each choice gets the same initial
weights (for the same architecture) and the same batch order: only the choice differs.
"""

import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from . import config, datasets, optimizers
from .callbacks import Callback
from .errors import InvalidInputError
from .callbacks.gradient_norms import GradientNormRecorder
from .layers import Dense
from .models import Sequential
from .utils import to_categorical

IMAGE_PIXELS = 28 * 28
CLASSES = 10
COURSE_WIDTH = 512   # the course model: 784 -> Dense(512) -> Dense(10, softmax)
DEEP_WIDTH = 128     # hidden width of the deep stacks (depth > 1) used for gradient norms


@dataclass
class Data:
    """A data set ready for the course model: pixels / 255 flattened to 784, labels one-hot."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def describe(self):
        return f"{self.name} ({len(self.x_train):,} train / {len(self.x_test):,} test)"


def _flatten(images):
    return (images.reshape(len(images), IMAGE_PIXELS).astype(np.float32) / np.float32(255))


def load_data(name="sample", limit=None):
    """Load data set ``name`` (``gpudnn.datasets.load``); ``limit``: keep the first N training samples."""
    (x_train, y_train), (x_test, y_test) = datasets.load(name)
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInputError(f"limit must be a positive number of samples, not {limit!r}")
        x_train, y_train = x_train[:limit], y_train[:limit]
    return Data(name, _flatten(x_train), to_categorical(y_train, CLASSES),
                _flatten(x_test), to_categorical(y_test, CLASSES))


def make_optimizer(name, lr=None):
    """The optimizer called ``name`` with Keras's defaults, and learning rate ``lr`` when given."""
    if lr is None:
        return optimizers.get(name)
    return type(optimizers.get(name))(learning_rate=lr)  # a rate of 0 or less is refused


def hidden_width(depth, width=None):
    """``width``, or the default: the course's 512 for one hidden layer, 128 for deep stacks."""
    return width if width is not None else (COURSE_WIDTH if depth == 1 else DEEP_WIDTH)


def course_model(activation="relu", depth=1, width=None, optimizer="adam", lr=None, device=None,
                 seed=None):
    """The course network, compiled: ``depth`` hidden Dense(width, activation) -> Dense(10, softmax).

    depth=1 is the lecture's 784-512-10 model; deeper stacks default to width 128. Loss
    categorical cross-entropy, metric accuracy, ``optimizer`` by name with learning rate ``lr``
    (None: Keras's default for that optimizer). ``seed``: call ``set_seed(seed)`` first, which
    fixes the initial weights and the batch order of the next ``fit``.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidInputError(f"depth must be a positive number of hidden layers, not {depth!r}")
    width = hidden_width(depth, width)
    compiled_optimizer = make_optimizer(optimizer, lr)
    if seed is not None:
        config.set_seed(seed)
    model = Sequential(device=device)
    for i in range(depth):
        model.add(Dense(width, activation=activation,
                        input_shape=(IMAGE_PIXELS,) if i == 0 else None))
    model.add(Dense(CLASSES, activation="softmax"))
    model.compile(optimizer=compiled_optimizer, loss="categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@dataclass
class RunResult:
    """One training run: per-epoch training loss/accuracy and wall time, then the test result.

    ``test_loss``/``test_accuracy`` (a fraction) are None when the run was interrupted before
    its evaluation. ``grad_norms``: ``"layer 1"``.. -> gradient norms per recorded batch (the
    last layer is the softmax output layer), when recorded.
    """

    choice: str
    device: str
    epochs: int
    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    test_loss: float = None
    test_accuracy: float = None
    grad_norms: dict = None
    interrupted: bool = False

    @property
    def epochs_done(self):
        return len(self.loss)

    @property
    def final_loss(self):
        """Training loss of the last completed epoch (NaN if none completed)."""
        return self.loss[-1] if self.loss else float("nan")

    @property
    def seconds_per_epoch(self):
        """Median wall time of the completed epochs (robust to a first epoch's one-time set-up)."""
        return statistics.median(self.epoch_seconds) if self.epoch_seconds else float("nan")

    def mean_grad_norms(self):
        """Mean recorded gradient norm per layer label (empty dict if none recorded)."""
        return {label: (sum(values) / len(values) if values else float("nan"))
                for label, values in (self.grad_norms or {}).items()}


class EpochLog(Callback):
    """Appends each finished epoch's loss, accuracy and wall time to a RunResult."""

    def __init__(self, result):
        super().__init__()
        self.result = result

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.result.epoch_seconds.append(time.perf_counter() - self._start)
        self.result.loss.append(logs["loss"])
        self.result.accuracy.append(logs["accuracy"])


def run(choice, model, data, epochs, batch_size, verbose=1, record_every=None):
    """Train ``model`` on ``data`` then evaluate it on the test set; returns a RunResult.

    ``record_every``: also record every layer's gradient norm every that many batches.
    Ctrl-C (KeyboardInterrupt) during training or evaluation ends the run early: the result
    then holds the epochs that finished and has ``interrupted=True``.
    """
    result = RunResult(str(choice), model.backend.name, epochs)
    callbacks = [EpochLog(result)]
    recorder = GradientNormRecorder(record_every) if record_every else None
    if recorder:
        callbacks.append(recorder)
    try:
        model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=batch_size,
                  verbose=verbose, callbacks=callbacks)
        result.test_loss, result.test_accuracy = model.evaluate(
            data.x_test, data.y_test, batch_size=max(batch_size, 1000), verbose=0)
    except KeyboardInterrupt:
        result.interrupted = True
    if recorder:
        recorder.flush()
        result.grad_norms = {f"layer {i}": values
                             for i, values in enumerate(recorder.norms.values(), start=1)}
    return result


@dataclass
class Comparison:
    """The runs of a comparison, in order; ``interrupted``: Ctrl-C stopped it (last run partial)."""

    results: list
    interrupted: bool = False


def compare(choices, build, data, epochs, batch_size, seed, verbose=1, record_every=None,
            announce=None):
    """Train ``build(choice)`` for each choice from the same seed and data; returns a Comparison.

    ``announce(index, choice)`` is called before each run (progress). Ctrl-C stops the
    comparison cleanly: the finished runs and the interrupted one's finished epochs are kept.
    """
    comparison = Comparison([])
    for index, choice in enumerate(choices):
        try:
            if announce:
                announce(index, choice)
            config.set_seed(seed)
            model = build(choice)
        except KeyboardInterrupt:
            comparison.interrupted = True
            break
        result = run(choice, model, data, epochs, batch_size, verbose, record_every)
        comparison.results.append(result)
        if result.interrupted:
            comparison.interrupted = True
            break
    return comparison


# ---------------------------------------------------------------- result tables
def format_table(headers, rows):
    """A text table: first column left-aligned, the others right-aligned."""
    cells = [list(headers)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def percent(fraction):
    """A fraction as a percentage with two decimals, ``-`` for None."""
    return "-" if fraction is None else f"{100 * fraction:.2f}"


def results_table(results, title):
    """Per run: test accuracy (%), final training loss, seconds per epoch, device."""
    rows = []
    for r in results:
        note = f" (stopped after {r.epochs_done}/{r.epochs} epochs)" if r.interrupted else ""
        done = r.epochs_done > 0
        rows.append([r.choice + note, percent(r.test_accuracy),
                     f"{r.final_loss:.4f}" if done else "-",
                     f"{r.seconds_per_epoch:.2f}" if done else "-", r.device])
    return format_table([title, "test acc %", "final loss", "s/epoch", "device"], rows)


def grad_norm_table(results):
    """Mean gradient norm of each layer (rows) under each run's choice (columns)."""
    means = [r.mean_grad_norms() for r in results]
    labels = max((list(m) for m in means), key=len, default=[])
    rows = [[label + (" (output)" if i == len(labels) - 1 else "")]
            + [f"{m[label]:.2e}" if label in m else "-" for m in means]
            for i, label in enumerate(labels)]
    return format_table(["mean grad norm"] + [r.choice for r in results], rows)
