"""Adagrad (Keras defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7).

``acc += g^2``; ``p -= lr g / sqrt(acc + epsilon)``.
"""

from ..utils.inputs import nonnegative_number
from .base import Optimizer, positive


class Adagrad(Optimizer):
    slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.initial_accumulator_value = float(nonnegative_number(initial_accumulator_value,
                                                                  "initial_accumulator_value"))
        self.epsilon = positive(epsilon, "epsilon")

    def _initialize_slots(self, backend):
        backend.fill(self.slots["accumulator"], self.initial_accumulator_value)

    def _update(self, backend, params, grads, slots, hyper):
        backend.adagrad_update(params, grads, slots["accumulator"], hyper, self.epsilon,
                               ema=self._ema(slots))

    def _own_config(self):
        return {"initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
