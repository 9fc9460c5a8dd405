"""What a sweep searches: the flags of ``gpudnn sweep`` checked and turned into Ray Tune's
parameter space, before Ray starts (a bad flag costs nothing).

A trial's config holds every setting of one course-model run: ``dataset``, ``limit``, ``depth``,
``width``, ``activation``, ``optimizer``, ``lr``, ``batch_size``, ``epochs``, ``seed``. The grid
search (the default) runs every combination of the listed optimizers x learning rates x
activations x seeds; ``search="optuna"`` draws ``samples`` trials from the same ranges instead.
"""

import math
from dataclasses import asdict, dataclass, field

from .. import activations, datasets, experiments
from ..errors import InvalidInputError

SEARCHES = ("grid", "optuna")
SCHEDULERS = ("fifo", "asha")
#: The metric trials are ranked by: test-set accuracy after the last epoch (what ``gpudnn train``
#: prints as "Test accuracy").
METRIC = "test_accuracy"


def learning_rates(text):
    """``"1e-4:1e-1:log:8"`` (8 rates from 1e-4 to 1e-1, evenly spaced on a log scale; ``lin``
    for a linear scale) or a comma list ``"0.1,0.01"``: the rates as floats, in order."""
    text = str(text).strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 4 or parts[2] not in ("log", "lin"):
            raise InvalidInputError(
                f"--learning-rates {text!r}: a range is LOW:HIGH:log:N or LOW:HIGH:lin:N, "
                f"e.g. 1e-4:1e-1:log:8")
        low, high, scale, count = _rate(parts[0], text), _rate(parts[1], text), parts[2], parts[3]
        if not count.isdigit() or int(count) < 1:
            raise InvalidInputError(f"--learning-rates {text!r}: N must be a positive integer")
        count = int(count)
        if low > high or (count > 1 and low == high):
            raise InvalidInputError(f"--learning-rates {text!r}: the range is empty "
                                    f"(give LOW < HIGH, or N = 1)")
        if count == 1:
            return [low]
        if scale == "log":
            step = (math.log10(high) - math.log10(low)) / (count - 1)
            return [float(f"{10 ** (math.log10(low) + i * step):.6g}") for i in range(count)]
        return [float(f"{low + i * (high - low) / (count - 1):.6g}") for i in range(count)]
    rates = [_rate(part, text) for part in text.split(",") if part.strip()]
    if not rates:
        raise InvalidInputError("--learning-rates is empty; give e.g. 1e-3,1e-2 or 1e-4:1e-1:log:8")
    return rates


def _rate(part, text):
    try:
        value = float(part)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InvalidInputError(f"--learning-rates {text!r}: {part!r} is not a positive number")
    return value


def names(text, what):
    """A comma list of names, stripped, in order, each once; empty is refused."""
    listed = list(dict.fromkeys(n.strip().lower() for n in str(text).split(",") if n.strip()))
    if not listed:
        raise InvalidInputError(f"--{what} is empty; give a comma list, e.g. adam,sgd")
    return listed


@dataclass
class SweepSpec:
    """One sweep's settings, checked. ``learning_rates`` None: each optimizer's Keras default."""

    dataset: str = "sample"
    optimizers: list = field(default_factory=lambda: ["adam"])
    learning_rates: list = None
    activations: list = field(default_factory=lambda: ["relu"])
    seeds: int = 1
    epochs: int = 5
    batch_size: int = 128
    depth: int = 1
    width: int = None
    limit: int = None
    samples: int = None
    search: str = "grid"
    scheduler: str = "fifo"
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    max_failures: int = 2

    def check(self):
        """Refuse, with the fix, what Ray would only find out in a trial."""
        if self.dataset not in datasets.NAMES:
            raise InvalidInputError(f"unknown data set {self.dataset!r}; known: "
                                    f"{', '.join(datasets.NAMES)}")
        for name in self.optimizers:
            experiments.make_optimizer(name, None if self.learning_rates is None
                                       else self.learning_rates[0])
        for name in self.activations:
            activations.get(name)
        for what in ("seeds", "epochs", "batch_size", "depth"):
            _positive(getattr(self, what), what)
        for what in ("width", "limit", "samples"):
            if getattr(self, what) is not None:
                _positive(getattr(self, what), what)
        if self.search not in SEARCHES:
            raise InvalidInputError(f"--search {self.search!r}: one of {', '.join(SEARCHES)}")
        if self.scheduler not in SCHEDULERS:
            raise InvalidInputError(f"--scheduler {self.scheduler!r}: one of "
                                    f"{', '.join(SCHEDULERS)}")
        if self.search == "optuna" and self.samples is None:
            raise InvalidInputError("--search optuna draws --samples N trials; give --samples")
        if not (math.isfinite(self.gpus_per_trial) and self.gpus_per_trial >= 0):
            raise InvalidInputError(f"--gpus-per-trial must be 0 or more, not {self.gpus_per_trial}")
        if self.gpus_per_trial > 1 and self.gpus_per_trial != int(self.gpus_per_trial):
            raise InvalidInputError(f"--gpus-per-trial {self.gpus_per_trial}: above 1 it must be "
                                    f"a whole number of GPUs (Ray's rule)")
        if self.gpus_per_trial > 1:
            raise InvalidInputError(f"--gpus-per-trial {self.gpus_per_trial}: a gpudnn model runs "
                                    f"on one GPU; give at most 1 (or a fraction to pack trials)")
        return self

    @property
    def trials(self):
        """How many trials the sweep runs."""
        if self.search == "optuna":
            return self.samples
        rates = len(self.learning_rates) if self.learning_rates else 1
        return len(self.optimizers) * rates * len(self.activations) * self.seeds * (self.samples or 1)

    def fixed(self):
        """The settings every trial shares."""
        return {"dataset": self.dataset, "limit": self.limit, "depth": self.depth,
                "width": self.width, "batch_size": self.batch_size, "epochs": self.epochs}

    def param_space(self):
        """Ray Tune's param_space (grid) or the search space an Optuna search draws from."""
        from ray import tune

        space = self.fixed()
        rates = self.learning_rates or [None]
        if self.search == "grid":
            space.update(optimizer=tune.grid_search(self.optimizers),
                         lr=tune.grid_search(rates), activation=tune.grid_search(self.activations),
                         seed=tune.grid_search(list(range(self.seeds))))
            return space
        space.update(optimizer=tune.choice(self.optimizers), activation=tune.choice(self.activations),
                     seed=tune.choice(list(range(self.seeds))))
        if self.learning_rates is None:
            space["lr"] = None
        elif len(rates) == 1:
            space["lr"] = rates[0]
        else:
            space["lr"] = tune.loguniform(min(rates), max(rates))
        return space

    def to_json(self):
        return asdict(self)


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"--{what.replace('_', '-')} must be a positive integer, "
                                f"not {value!r}")


def train_command(config, cpu_threads=None):
    """The ``gpudnn train ...`` command that runs the trial ``config`` alone (same data, model,
    optimizer, learning rate, activation, epochs, batch size and seed); ``cpu_threads``: the
    trial ran on the CPU with that many BLAS threads, which the command then sets too."""
    parts = ([f"OMP_NUM_THREADS={cpu_threads}"] if cpu_threads else []) + ["gpudnn train", f"--dataset {config['dataset']}", f"--optimizer {config['optimizer']}"]
    if config.get("lr") is not None:
        parts.append(f"--lr {config['lr']!r}")
    parts += [f"--activation {config['activation']}", f"--epochs {config['epochs']}",
              f"--batch-size {config['batch_size']}", f"--seed {config['seed']}"]
    if config.get("depth", 1) != 1:
        parts.append(f"--depth {config['depth']}")
    if config.get("width") is not None:
        parts.append(f"--width {config['width']}")
    if config.get("limit") is not None:
        parts.append(f"--limit {config['limit']}")
    return " ".join(parts)
