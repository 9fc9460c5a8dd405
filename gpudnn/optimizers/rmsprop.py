"""RMSprop (Keras defaults: learning_rate=0.001, rho=0.9, momentum=0, epsilon=1e-7,
centered=False).

``v = rho v + (1 - rho) g^2``; ``inc = lr g / sqrt(v + epsilon)``, or centered
``a = rho a + (1 - rho) g``, ``inc = lr g / sqrt(v - a^2 + epsilon)``; ``p -= inc``, or with
momentum ``m = momentum m + inc; p -= m``.
"""

from .base import Optimizer, fraction, positive


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = fraction(rho, "rho")
        self.momentum = fraction(momentum, "momentum")
        self.epsilon = positive(epsilon, "epsilon")
        self.centered = bool(centered)

    @property
    def slot_names(self):
        if self.centered:  # the centered kernel always carries the increment in "momentum"
            return ("velocity", "average_gradient", "momentum")
        return ("velocity", "momentum") if self.momentum > 0 else ("velocity",)

    def _update(self, backend, params, grads, slots, hyper):
        backend.rmsprop_update(params, grads, slots["velocity"], hyper, self.rho,
                               self.epsilon, self.momentum, slots.get("momentum"),
                               slots.get("average_gradient"), ema=self._ema(slots))

    def _own_config(self):
        return {"rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}
