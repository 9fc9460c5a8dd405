"""Optimizers with Keras 3's formulas and defaults. g is the gradient, t the step count (from 1).

Every update is one in-place pass of the backend over the model's flat parameter buffer, with the
optimizer's slots (velocity, moments...) in flat buffers of the same size. ``lr=`` is accepted
as an alias of ``learning_rate`` (the course writes ``RMSprop(lr=0.001)``).
"""

import math
import weakref

from .errors import InvalidInputError
from .identifiers import instance


def _positive(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a positive finite number, not {value!r}")
    return float(value)


def _fraction(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidInputError(f"{what} must be in [0, 1), not {value!r}")
    return float(value)


class Optimizer:
    """Base class: holds the learning rate, the step count and the slot buffers."""

    #: names of the flat slot buffers this optimizer keeps (each the size of the parameters)
    slot_names = ()

    def __init__(self, learning_rate, lr=None):
        self.learning_rate = _positive(learning_rate if lr is None else lr, "learning_rate")
        self.iterations = 0
        self.slots = None
        self._owner = None

    @property
    def lr(self):
        return self.learning_rate

    @lr.setter
    def lr(self, value):
        self.learning_rate = _positive(value, "learning_rate")

    def build(self, backend, size, dtype, owner=None):
        """Allocate zeroed slot buffers of ``size`` elements for the model ``owner``.

        Called again for the same model with the same size (a second ``compile``), it keeps its
        state, as Keras does. One optimizer serves one model: its slots are that model's.
        """
        if self._owner is not None and owner is not None and self._owner() is not None \
                and self._owner() is not owner:
            raise InvalidInputError(
                f"this {type(self).__name__} already trains another model; its moments belong to "
                f"that model's parameters. Create one optimizer per model, e.g. "
                f"compile(optimizer={type(self).__name__}(...)) or optimizer='{type(self).__name__.lower()}'")
        if self.slots is not None and self._size == (size, dtype) and \
                (self._owner is not None and self._owner() is owner):
            return
        self.slots = {name: backend.flat_zeros(size, dtype, slot=2 + i)
                      for i, name in enumerate(self.slot_names)}
        self.iterations = 0
        self._size = (size, dtype)
        self._owner = weakref.ref(owner) if owner is not None else None
        self._initialize_slots(backend)

    def _initialize_slots(self, backend):
        """Give freshly allocated slots their starting values (zeros unless overridden)."""

    def apply(self, backend, params, grads):
        """One step: update the flat ``params`` in place from the flat ``grads``."""
        self.iterations += 1
        self._update(backend, params, grads)

    def _update(self, backend, params, grads):
        raise NotImplementedError

    def get_config(self):
        return {k: v for k, v in vars(self).items()
                if k not in ("slots", "iterations", "slot_names") and not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent (Keras defaults: learning_rate=0.01, momentum=0).

    ``p -= lr g``; with momentum: ``v = momentum v - lr g; p += v``; with Nesterov:
    ``v = momentum v - lr g; p += momentum v - lr g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, lr=None):
        super().__init__(learning_rate, lr)
        self.momentum = _fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)
        self.slot_names = ("velocity",) if self.momentum > 0 else ()

    def _update(self, backend, params, grads):
        if self.momentum > 0:
            backend.momentum_update(params, grads, self.slots["velocity"], self.learning_rate,
                                    self.momentum, self.nesterov)
        else:
            backend.sgd_update(params, grads, self.learning_rate)


class RMSprop(Optimizer):
    """RMSprop (Keras defaults: learning_rate=0.001, rho=0.9, momentum=0, epsilon=1e-7).

    ``v = rho v + (1 - rho) g^2``; ``inc = lr g / sqrt(v + epsilon)``; ``p -= inc``, or with
    momentum ``m = momentum m + inc; p -= m``.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, lr=None):
        super().__init__(learning_rate, lr)
        self.rho = _fraction(rho, "rho")
        self.momentum = _fraction(momentum, "momentum")
        self.epsilon = _positive(epsilon, "epsilon")
        self.slot_names = ("velocity", "momentum") if self.momentum > 0 else ("velocity",)

    def _update(self, backend, params, grads):
        backend.rmsprop_update(params, grads, self.slots["velocity"], self.learning_rate,
                               self.rho, self.epsilon, self.momentum, self.slots.get("momentum"))


class Adam(Optimizer):
    """Adam (Keras defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7).

    ``m += (1 - beta_1)(g - m)``; ``v += (1 - beta_2)(g^2 - v)``;
    ``p -= alpha m / (sqrt(v) + epsilon)`` with ``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``
    computed on the host. AMSGrad uses ``vhat = max(vhat, v)`` in place of v.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, lr=None):
        super().__init__(learning_rate, lr)
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = _positive(epsilon, "epsilon")
        self.amsgrad = bool(amsgrad)
        self.slot_names = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _alpha(self):
        t = self.iterations
        return self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def _decay(self):
        return 0.0

    def _update(self, backend, params, grads):
        backend.adam_update(params, grads, self.slots["m"], self.slots["v"], self._alpha(),
                            self.beta_1, self.beta_2, self.epsilon,
                            vhat=self.slots.get("vhat"), decay=self._decay())


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras defaults: weight_decay=0.004, others as Adam).

    First ``p -= lr weight_decay p`` (every parameter, biases too, as Keras does by default),
    then the Adam step.
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, lr=None):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, lr)
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) \
                or not weight_decay >= 0:
            raise InvalidInputError(f"weight_decay must be >= 0, not {weight_decay!r}")
        self.weight_decay = float(weight_decay)

    def _decay(self):
        return self.learning_rate * self.weight_decay


class Adagrad(Optimizer):
    """Adagrad (Keras defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7).

    ``acc += g^2``; ``p -= lr g / sqrt(acc + epsilon)``.
    """

    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, lr=None):
        super().__init__(learning_rate, lr)
        if isinstance(initial_accumulator_value, bool) \
                or not isinstance(initial_accumulator_value, (int, float)) \
                or not initial_accumulator_value >= 0:
            raise InvalidInputError(
                f"initial_accumulator_value must be >= 0, not {initial_accumulator_value!r}")
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = _positive(epsilon, "epsilon")

    def _initialize_slots(self, backend):
        backend.fill(self.slots["accumulator"], self.initial_accumulator_value)

    def _update(self, backend, params, grads):
        backend.adagrad_update(params, grads, self.slots["accumulator"], self.learning_rate,
                               self.epsilon)


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad}


def get(identifier):
    """An Optimizer from a name (Keras defaults), a class, or an instance."""
    return instance("optimizer", identifier, _BY_NAME, Optimizer)


def serialize(optimizer):
    """``{"class_name": ..., "config": optimizer.get_config()}`` (JSON-able)."""
    if not isinstance(optimizer, Optimizer):
        raise InvalidInputError(f"serialize takes a gpudnn optimizer, not {optimizer!r}")
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config):
    """A new optimizer (no state) from what ``serialize`` gave."""
    classes = {cls.__name__: cls for cls in _BY_NAME.values()}
    if not isinstance(config, dict) or set(config) != {"class_name", "config"} \
            or config["class_name"] not in classes or not isinstance(config["config"], dict):
        raise InvalidInputError(f"not a serialized gpudnn optimizer ({', '.join(classes)}): "
                                f"{config!r}")
    try:
        return classes[config["class_name"]](**config["config"])
    except TypeError as exc:
        raise InvalidInputError(f"cannot make a {config['class_name']} from {config['config']!r}: "
                                f"{exc}") from None
