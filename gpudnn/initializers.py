"""Weight initializers with Keras 3's names, arguments, defaults and formulas.

A layer takes an initializer as a name (``"he_normal"``), an object (``HeNormal(seed=1)``,
``RandomNormal(stddev=0.01)``, ``Constant(0.1)``), a config dict as Keras writes it
(``{"class_name": "HeNormal", "config": {"seed": null}}``), or a callable ``(shape) -> array``.
Each draws a float64 host array, then cast to the weights' dtype:

- ``VarianceScaling(scale=1.0, mode="fan_in", distribution="truncated_normal")``: with ``n`` the
  fan (``fan_in``, ``fan_out`` or their mean; for a (in, out) kernel ``fan_in = in``,
  ``fan_out = out``, for a vector both its length) and ``s = scale / max(1, n)``: ``uniform`` is
  U(-l, l), ``l = sqrt(3 s)``; ``truncated_normal`` a normal of stddev ``sqrt(s) /
  0.87962566103423978`` cut at two stddevs (redrawn beyond), whose stddev is then ``sqrt(s)``;
  ``untruncated_normal`` N(0, s).
- Its named forms: ``GlorotUniform`` / ``GlorotNormal`` (scale 1, fan_avg; Keras's default
  kernel initializer is glorot_uniform), ``HeUniform`` / ``HeNormal`` (scale 2, fan_in),
  ``LecunUniform`` / ``LecunNormal`` (scale 1, fan_in); the normal ones truncated, as Keras 3.
- ``RandomNormal(mean=0.0, stddev=0.05)``, ``RandomUniform(minval=-0.05, maxval=0.05)``,
  ``TruncatedNormal(mean=0.0, stddev=0.05)`` (cut at two stddevs), ``Zeros``, ``Ones``,
  ``Constant(value=0.0)``, ``Identity(gain=1.0)`` (2-D), ``Orthogonal(gain=1.0)`` (the Q of a
  normal matrix's QR, signs fixed by R's diagonal, as Keras).

``seed=None`` draws from gpudnn's generator (``gpudnn.set_seed``); an integer seed gives the
same values at every call, as a seeded Keras 3 initializer does. The values are not Keras's
bits (another generator), the distributions are.
"""

import numbers

import numpy as np

from . import config
from .errors import InvalidInputError, unknown_name


class Initializer:
    """Base class: ``initializer(shape, dtype=None)`` gives an array of ``shape``;
    ``get_config`` / ``from_config`` as Keras."""

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        return self.draw(config.rng(), shape).astype(dtype or config.floatx())

    def draw(self, rng, shape):
        """A float64 array of ``shape``; ``rng``: the generator of an unseeded draw."""
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self):
        return hash((type(self).__name__, repr(sorted(self.get_config().items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Every element ``value``."""

    def __init__(self, value=0.0):
        self.value = _real(value, "Constant value")

    def draw(self, rng, shape):
        return np.full(shape, self.value, dtype=np.float64)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes; a rectangular one has ones on its
    diagonal)."""

    def __init__(self, gain=1.0):
        self.gain = _real(gain, "Identity gain")

    def draw(self, rng, shape):
        if len(shape) != 2:
            raise InvalidInputError(f"Identity initializes 2-D weights only, not shape {shape}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


class _Seeded(Initializer):
    """A random initializer: ``seed`` None (gpudnn's generator) or a non-negative integer."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                                 or seed < 0):
            raise InvalidInputError(f"an initializer's seed is None or a non-negative integer, "
                                    f"not {seed!r}")
        self.seed = None if seed is None else int(seed)

    def _generator(self, rng):
        return rng if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self.seed}


class RandomNormal(_Seeded):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = _real(mean, "mean"), _real(stddev, "stddev", positive=True)

    def draw(self, rng, shape):
        return self._generator(rng).normal(self.mean, self.stddev, shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomUniform(_Seeded):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = _real(minval, "minval"), _real(maxval, "maxval")
        if not self.minval < self.maxval:
            raise InvalidInputError(f"RandomUniform needs minval < maxval, not {minval!r}, "
                                    f"{maxval!r}")

    def draw(self, rng, shape):
        return self._generator(rng).uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """N(mean, stddev^2) cut at two stddevs from the mean: values beyond are drawn again."""

    def draw(self, rng, shape):
        return self.mean + self.stddev * _truncated_standard(self._generator(rng), shape)


class VarianceScaling(_Seeded):
    """See the module docstring; ``distribution="normal"`` means truncated_normal, as Keras."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        self.scale = _real(scale, "VarianceScaling scale", positive=True)
        if mode not in self._MODES:
            raise InvalidInputError(f"VarianceScaling mode must be one of {self._MODES}, not "
                                    f"{mode!r}")
        distribution = distribution.lower() if isinstance(distribution, str) else distribution
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in self._DISTRIBUTIONS:
            raise InvalidInputError(f"VarianceScaling distribution must be one of "
                                    f"{self._DISTRIBUTIONS} (or 'normal'), not {distribution!r}")
        self.mode, self.distribution = mode, distribution

    def draw(self, rng, shape):
        fan_in, fan_out = compute_fans(shape)
        n = max(1.0, {"fan_in": fan_in, "fan_out": fan_out,
                      "fan_avg": (fan_in + fan_out) / 2.0}[self.mode])
        gen = self._generator(rng)
        if self.distribution == "uniform":  # one rounding: glorot's sqrt(6 / (in + out)) exactly
            limit = np.sqrt(3.0 * self.scale / n)
            return gen.uniform(-limit, limit, shape)
        stddev = np.sqrt(self.scale / n)
        if self.distribution == "untruncated_normal":
            return gen.normal(0.0, stddev, shape)
        return stddev / 0.87962566103423978 * _truncated_standard(gen, shape)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                **super().get_config()}


def _named(name, scale, mode, distribution):
    """A VarianceScaling with fixed arguments, whose config is its seed only (as Keras's)."""

    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": f"VarianceScaling({scale}, {mode!r}, "
                                                      f"{distribution!r})."})


GlorotUniform = _named("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _named("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _named("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _named("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _named("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _named("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    """``gain`` times an orthogonal matrix: the Q of the QR decomposition of a normal
    (max(r, c), min(r, c)) matrix, columns signed by R's diagonal, transposed when r < c
    (r: the product of all but the last dimension, c: the last)."""

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = _real(gain, "Orthogonal gain")

    def draw(self, rng, shape):
        if len(shape) < 2:
            raise InvalidInputError(f"Orthogonal initializes weights of 2 or more dimensions, "
                                    f"not shape {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._generator(rng).normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, **super().get_config()}


_CLASSES = (Constant, Zeros, Ones, Identity, RandomNormal, RandomUniform, TruncatedNormal,
            VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
            LecunNormal, Orthogonal)


def _snake(name):
    return "".join("_" + c.lower() if c.isupper() and i else c.lower()
                   for i, c in enumerate(name))


#: Every name Keras 3's ``initializers.get`` takes: the class names, their snake_case forms
#: and its aliases.
_BY_NAME = {**{cls.__name__: cls for cls in _CLASSES},
            **{_snake(cls.__name__): cls for cls in _CLASSES},
            "normal": RandomNormal, "uniform": RandomUniform, "zero": Zeros, "one": Ones,
            "IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal}


def get(identifier):
    """An initializer from a name, a Keras config dict ``{"class_name", "config"}``, an
    Initializer (itself) or a callable (itself); None gives None."""
    if identifier is None or isinstance(identifier, Initializer) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_NAME.get(identifier.lower())
        if cls is None:
            raise unknown_name("initializer", identifier, sorted(
                name for name in _BY_NAME if name.islower()))
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise InvalidInputError(f"an initializer is a name, an initializer object, a config dict or "
                            f"a callable, not {identifier!r}")


def check(identifier):
    """What a layer keeps: a name (checked, lower-cased as given), an Initializer, or a
    callable ``(shape) -> array``; a config dict becomes its Initializer."""
    if isinstance(identifier, str):
        get(identifier)
        return identifier if identifier in _BY_NAME else identifier.lower()
    found = get(identifier)
    if found is None:
        raise InvalidInputError("an initializer is required here, not None")
    return found


def serialize(identifier):
    """A layer's initializer in its config: a name as it is; an Initializer as Keras writes it,
    ``{"class_name": ..., "config": {...}}``; a callable as it is (saving then refuses it: code
    is not data)."""
    if isinstance(identifier, Initializer):
        return {"class_name": type(identifier).__name__, "config": identifier.get_config()}
    return identifier


def deserialize(config):
    """The Initializer of a config dict ``{"class_name": name, "config": {...}}`` (Keras's
    ``module`` and ``registered_name`` keys are allowed); only gpudnn's own classes."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise InvalidInputError(f"an initializer config is a dict with a 'class_name', not "
                                f"{config!r}")
    cls = _BY_NAME.get(config["class_name"])
    if cls is None:
        raise unknown_name("initializer", config["class_name"], sorted(
            cls.__name__ for cls in _CLASSES))
    arguments = config.get("config") or {}
    try:
        return cls.from_config(dict(arguments))
    except TypeError as exc:
        raise InvalidInputError(f"initializer {config['class_name']}: bad config {arguments!r} "
                                f"({exc})") from None


def draw(identifier, rng, shape):
    """A float64 host array of ``shape`` from the initializer ``identifier`` (as ``check``
    keeps it); ``rng``: the generator of an unseeded draw."""
    shape = tuple(shape)
    if isinstance(identifier, str) or isinstance(identifier, Initializer):
        return np.asarray(get(identifier).draw(rng, shape), dtype=np.float64)
    values = np.asarray(identifier(shape), dtype=np.float64)
    if values.shape != shape:
        raise InvalidInputError(
            f"initializer {identifier!r} returned shape {values.shape}, expected {shape}")
    return values


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight shape, as Keras: a vector's length for both, a
    matrix's (rows, columns), a larger kernel's last two dimensions times the others."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


def _truncated_standard(gen, shape):
    """Standard normal values within (-2, 2): those beyond are drawn again."""
    values = gen.standard_normal(shape)
    outside = np.abs(values) >= 2.0
    while outside.any():
        values[outside] = gen.standard_normal(int(outside.sum()))
        outside = np.abs(values) >= 2.0
    return values


def _shape(shape):
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise InvalidInputError(f"an initializer's shape is a tuple of sizes, not {shape!r}") \
            from None
    if any(d < 0 for d in shape):
        raise InvalidInputError(f"an initializer's shape has no negative size: {shape}")
    return shape


def _real(value, what, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value) \
            or (positive and not value > 0):
        raise InvalidInputError(f"{what} must be a finite{' positive' if positive else ''} "
                                f"number, not {value!r}")
    return float(value)
