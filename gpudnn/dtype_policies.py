"""Dtype policies (Keras 3's ``DTypePolicy``): the dtype a layer's variables are stored in and
the dtype it computes in.

========================  ================  ===============
policy                    variable_dtype    compute_dtype
========================  ================  ===============
``"float32"``             float32           float32
``"float64"``             float64           float64
``"mixed_float16"``       float32           float16
``"mixed_bfloat16"``      float32           bfloat16
========================  ================  ===============

Under a mixed policy the variables (the model's flat parameter buffer) and the optimizer state
stay float32; the layer computes on a 16-bit copy of its variables, its GEMMs take 16-bit
operands and accumulate in float32, and its activations and their gradients are stored in 16
bits. bfloat16 arrays on the CPU are ``ml_dtypes.bfloat16`` (the dtype package NumPy, JAX and
CuPy share: ``pip install gpudnn[mixed]``).

The global policy (``gpudnn.mixed_precision.set_global_policy``, or Keras 3's newer
``gpudnn.config.set_dtype_policy``) is what a layer created without ``dtype=`` takes; it lives
here, beside the class, and ``gpudnn.config`` falls back on ``floatx`` while it is unset.
"""

import numpy as np

from .errors import InvalidInputError

#: policy name -> (variable dtype, compute dtype)
POLICIES = {"float32": ("float32", "float32"), "float64": ("float64", "float64"),
            "mixed_float16": ("float32", "float16"), "mixed_bfloat16": ("float32", "bfloat16")}
#: compute dtypes stored in 16 bits
HALF_DTYPES = ("float16", "bfloat16")

_global = {"policy": None}


class DTypePolicy:
    """``DTypePolicy("mixed_bfloat16")``: ``.name``, ``.compute_dtype``, ``.variable_dtype``.

    Keras's names: ``"float32"``, ``"float64"``, ``"mixed_float16"``, ``"mixed_bfloat16"``.
    Pure 16-bit variables (``"float16"``, ``"bfloat16"``) are refused: an optimizer step of
    size lr * g below half the 16-bit spacing of a weight is lost, so gpudnn keeps float32
    master weights (the mixed policies).
    """

    def __init__(self, name="float32"):
        if isinstance(name, DTypePolicy):
            name = name.name
        if isinstance(name, np.dtype) or (isinstance(name, type) and issubclass(name, np.generic)):
            name = np.dtype(name).name
        if not isinstance(name, str) or name not in POLICIES:
            hint = (f"; {name!r} variables cannot train (updates smaller than half their "
                    f"spacing are lost): use 'mixed_{name}', float32 variables computing in "
                    f"{name}") if name in HALF_DTYPES else ""
            raise InvalidInputError(
                f"unknown dtype policy {name!r}; use one of {', '.join(map(repr, POLICIES))}"
                f"{hint}")
        self._name = name

    @property
    def name(self):
        return self._name

    @property
    def variable_dtype(self):
        """The dtype the variables are stored in (a name, as Keras gives it)."""
        return POLICIES[self._name][0]

    @property
    def compute_dtype(self):
        """The dtype the layer computes in (a name)."""
        return POLICIES[self._name][1]

    @property
    def is_mixed(self):
        """True for the mixed policies: 16-bit compute on float32 variables."""
        return self.compute_dtype in HALF_DTYPES

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


#: Keras 2's name, still exported by Keras 3 as ``keras.mixed_precision.Policy``
Policy = DTypePolicy


def get(identifier):
    """A DTypePolicy from a policy, a name, a NumPy dtype or ``{"name": ...}`` (Keras 3's
    serialized ``{"class_name": "DTypePolicy", "config": {"name": ...}}`` too)."""
    if isinstance(identifier, dict):
        config = identifier.get("config", identifier)
        identifier = config.get("name") if isinstance(config, dict) else None
    return identifier if isinstance(identifier, DTypePolicy) else DTypePolicy(identifier)


def set_global(policy):
    """Make ``policy`` (or None: back to floatx) what new layers take."""
    _global["policy"] = None if policy is None else get(policy)


def global_or_none():
    """The global policy set by ``set_global``, or None while unset."""
    return _global["policy"]


def numpy_dtype(name):
    """The NumPy dtype of a dtype name: ``"bfloat16"`` is ``ml_dtypes.bfloat16``."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            raise InvalidInputError(
                "bfloat16 needs the ml_dtypes package (NumPy's bfloat16 dtype): "
                "pip install 'gpudnn[mixed]' or pip install ml_dtypes") from None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def is_half(dtype):
    """True for a 16-bit float dtype (float16, bfloat16). Called on every backend op: the
    dtype's name (a slow property) is read only for 2-byte non-float dtypes."""
    dtype = np.dtype(dtype)
    return dtype.itemsize == 2 and (dtype.kind == "f" or dtype.name == "bfloat16")
