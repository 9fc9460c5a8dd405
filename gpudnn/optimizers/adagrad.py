"""Adagrad (Keras defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7).

``acc += g^2``; ``p -= lr g / sqrt(acc + epsilon)``.
"""

import math

from ..errors import InvalidInputError
from .base import Optimizer, positive
from .schedules import real_number


class Adagrad(Optimizer):
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        initial = real_number(initial_accumulator_value)
        if initial is None or not 0 <= initial < math.inf:
            raise InvalidInputError(
                f"initial_accumulator_value must be a finite number >= 0, not "
                f"{initial_accumulator_value!r}")
        self.initial_accumulator_value = float(initial)
        self.epsilon = positive(epsilon, "epsilon")

    def _initialize_slots(self, backend):
        backend.fill(self.slots["accumulator"], self.initial_accumulator_value)

    def _update(self, backend, params, grads):
        backend.adagrad_update(params, grads, self.slots["accumulator"], self.hyper, self.epsilon)

    def _own_config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
