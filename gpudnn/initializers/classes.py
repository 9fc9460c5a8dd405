"""Keras 3's initializer classes (the formulas: see the package docstring)."""

import numbers

import numpy as np

from .. import config
from ..errors import InvalidInputError
from ..utils import inputs
from ..utils.identifiers import Configurable


class Initializer(Configurable):
    """Base class: ``initializer(shape, dtype=None)`` gives an array of ``shape``;
    ``get_config`` / ``from_config`` as Keras."""

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        return self.draw(config.rng(), shape).astype(dtype or config.floatx())

    def draw(self, rng, shape):
        """A float64 array of ``shape``; ``rng``: the generator of an unseeded draw."""
        raise NotImplementedError

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

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        super().__init__(seed)
        self.input_axes, self.output_axes = _axes(input_axes), _axes(output_axes)
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
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
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
                **super().get_config(), "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _named(name, scale, mode, distribution):
    """A VarianceScaling with fixed arguments, whose config is its seed and axes (as
    Keras's)."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}

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


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` of a weight shape, as Keras: with both axes lists, the products of
    those dimensions; else a vector's length for both, a matrix's (rows, columns), a larger
    kernel's last two dimensions times the others."""
    if input_axes is not None and output_axes is not None:
        try:
            return (int(np.prod([shape[a] for a in input_axes])),
                    int(np.prod([shape[a] for a in output_axes])))
        except IndexError:
            raise InvalidInputError(f"input_axes {input_axes} / output_axes {output_axes} do not "
                                    f"fit a weight of shape {shape}") from None
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
    if not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 0
            for d in shape):
        raise InvalidInputError(f"an initializer's shape is a tuple of non-negative integer "
                                f"sizes, not {shape!r}")
    return tuple(int(d) for d in shape)


def _axes(axes):
    if axes is None:
        return None
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = [axes]
    if not isinstance(axes, (list, tuple)) or not all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in axes):
        raise InvalidInputError(f"input_axes / output_axes are None or a list of axes, not "
                                f"{axes!r}")
    return [int(a) for a in axes]


def _real(value, what, positive=False):
    return float((inputs.positive_number if positive else inputs.finite_number)(value, what))
