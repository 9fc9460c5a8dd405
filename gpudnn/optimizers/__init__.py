"""Optimizers with Keras 3's names, formulas and defaults; ``lr=`` is an alias of
``learning_rate`` (the course writes ``RMSprop(lr=0.001)``), and ``learning_rate`` may be a
schedule from :mod:`gpudnn.optimizers.schedules`.

Every optimizer takes ``weight_decay``, ``clipnorm``, ``clipvalue`` and ``global_clipnorm``
(see :mod:`gpudnn.optimizers.base`), and Keras 3's ``use_ema``, ``ema_momentum``,
``ema_overwrite_frequency``, ``gradient_accumulation_steps`` and ``exclude_from_weight_decay``
(see :mod:`gpudnn.optimizers.options`); each update is one in-place pass over the model's flat
parameter buffer, with the optimizer's slots in flat buffers of the same size.
"""

from ..errors import InvalidInputError
from ..utils.identifiers import instance
from . import schedules
from .adagrad import Adagrad
from .adam import Adam, Adamax, AdamW, Nadam
from .base import Optimizer
from .loss_scale import LossScaleOptimizer
from .rmsprop import RMSprop
from .sgd import SGD

_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
            "nadam": Nadam, "adamax": Adamax}
#: what a saved model may name: the optimizers above and the loss-scaling wrapper
_SAVED = {**_BY_NAME, "lossscaleoptimizer": LossScaleOptimizer}

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Nadam", "Adamax", "LossScaleOptimizer",
           "schedules", "get", "serialize", "deserialize"]


def get(identifier):
    """An Optimizer from a name (Keras defaults), a class, or an instance."""
    if identifier is LossScaleOptimizer:
        raise InvalidInputError("LossScaleOptimizer wraps another optimizer: pass an instance, "
                                "e.g. LossScaleOptimizer(Adam()), not the class")
    return instance("optimizer", identifier, _BY_NAME, Optimizer)


def serialize(optimizer):
    """``{"class_name": ..., "config": ...}`` (JSON-able) of a built-in optimizer."""
    name = type(optimizer).__name__
    if _SAVED.get(name.lower()) is not type(optimizer):
        raise InvalidInputError(f"only gpudnn's optimizers can be saved, not {name}")
    return {"class_name": name, "config": optimizer.get_config()}


def deserialize(config):
    """A new optimizer (no state) from ``serialize``'s dict."""
    cls = _SAVED.get(str(config.get("class_name", "")).lower()) \
        if isinstance(config, dict) else None
    if cls is None or not isinstance(config.get("config"), dict):
        raise InvalidInputError(
            f"not an optimizer description: {config!r}; expected {{'class_name': one of "
            f"{', '.join(c.__name__ for c in _SAVED.values())}, 'config': {{...}}}}")
    try:
        return cls.from_config(config["config"])
    except TypeError as exc:
        raise InvalidInputError(f"bad {config['class_name']} config: {exc}") from None
