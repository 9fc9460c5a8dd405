"""The Adam family with Keras 3's formulas and defaults (learning_rate=0.001, beta_1=0.9,
beta_2=0.999, epsilon=1e-7). t is the step (from 1); every per-step factor is computed on the
host in double precision and read by the kernel from the optimizer's ``hyper`` array.

- ``Adam``: ``m += (1 - b1)(g - m)``; ``v += (1 - b2)(g^2 - v)``;
  ``p -= alpha m / (sqrt(v) + eps)``, ``alpha = lr sqrt(1 - b2^t) / (1 - b1^t)``;
  AMSGrad uses ``vhat = max(vhat, v)`` in place of v.
- ``AdamW``: Adam with ``weight_decay=0.004`` (``p -= lr weight_decay p`` first).
- ``Nadam``: with ``u_s = b1 (1 - 0.5 * 0.96^s)`` and ``U_t = u_1 ... u_t``:
  ``m_hat = u_{t+1} m / (1 - U_t u_{t+1}) + (1 - u_t) g / (1 - U_t)``,
  ``v_hat = v / (1 - b2^t)``, ``p -= lr m_hat / (sqrt(v_hat) + eps)``.
- ``Adamax``: ``m += (1 - b1)(g - m)``; ``u = max(b2 u, |g|)``;
  ``p -= lr m / ((1 - b1^t)(u + eps))``.
"""

import math

from ..errors import InvalidInputError
from .base import Optimizer, fraction, positive


class _Moments(Optimizer):
    """What the family shares: beta_1, beta_2 in [0, 1) and epsilon > 0, and their config."""

    def __init__(self, learning_rate, beta_1, beta_2, epsilon, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = fraction(beta_1, "beta_1")
        self.beta_2 = fraction(beta_2, "beta_2")
        self.epsilon = positive(epsilon, "epsilon")

    def _own_config(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Adam(_Moments):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    @property
    def slot_names(self):
        return ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _step_size(self, lr, t):
        return lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)

    def _update(self, backend, params, grads, slots, hyper):
        backend.adam_update(params, grads, slots["m"], slots["v"], hyper,
                            self.beta_1, self.beta_2, self.epsilon, vhat=slots.get("vhat"),
                            ema=self._ema(slots))

    def _own_config(self):
        return {**super()._own_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras default weight_decay=0.004): every parameter,
    biases too, as Keras does by default."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        if weight_decay is None:
            raise InvalidInputError("AdamW needs a float weight_decay (Keras's default is 0.004), "
                                    "not None; use Adam for no weight decay")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad,
                         weight_decay=weight_decay, **kwargs)


class Nadam(_Moments):
    slot_names = ("m", "v")
    scalar_variables = 1  # Keras's u_product
    hyper_size = 5

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self._u_products = (0, 1.0)  # (t, U_t): the running product, recomputed if t jumps

    def _u(self, s):
        return self.beta_1 * (1.0 - 0.5 * 0.96 ** s)

    def _u_product(self, t):
        done, product = self._u_products
        if done > t:
            done, product = 0, 1.0
        for s in range(done + 1, t + 1):
            product *= self._u(s)
        self._u_products = (t, product)
        return product

    def _extras(self, lr, t):
        u_t, u_next = self._u(t), self._u(t + 1)
        product = self._u_product(t)
        return (u_next / (1 - product * u_next), (1 - u_t) / (1 - product),
                1 / (1 - self.beta_2 ** t))

    def _update(self, backend, params, grads, slots, hyper):
        backend.nadam_update(params, grads, slots["m"], slots["v"], hyper,
                             self.beta_1, self.beta_2, self.epsilon, ema=self._ema(slots))


class Adamax(_Moments):
    slot_names = ("m", "u")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def _step_size(self, lr, t):
        return lr / (1 - self.beta_1 ** t)

    def _update(self, backend, params, grads, slots, hyper):
        backend.adamax_update(params, grads, slots["m"], slots["u"], hyper,
                              self.beta_1, self.beta_2, self.epsilon, ema=self._ema(slots))
