"""SGD (Keras defaults: learning_rate=0.01, momentum=0, nesterov=False).

``p -= lr g``; with momentum: ``v = momentum v - lr g; p += v``; with Nesterov:
``v = momentum v - lr g; p += momentum v - lr g``.
"""

from .base import Optimizer, fraction


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)

    @property
    def slot_names(self):
        return ("velocity",) if self.momentum > 0 else ()

    def _update(self, backend, params, grads, slots, hyper):
        if self.momentum > 0:
            backend.momentum_update(params, grads, slots["velocity"], hyper,
                                    self.momentum, self.nesterov, ema=self._ema(slots))
        else:
            backend.sgd_update(params, grads, hyper, ema=self._ema(slots))

    def _own_config(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}
