"""The CuPy backend's optimizer updates and gradient clipping: one launch of a kernel of
``kernels/optimizers.cu`` per update, in place over the flat buffers, reading the per-step
values from the optimizer's device array. A mixin of
:class:`~gpudnn.backend.cupy_backend.CupyBackend`."""

import cupy

from .kernel_half import input_count


class CupyUpdates:
    """Mixin of CupyBackend: the optimizer updates (with ``ema=``, their EMA forms) and gradient
    clipping, and loss scaling's
    ops (kernels/loss_scaling.cu): inside ``run_if_finite`` every update, EMA and accumulation
    launch is the kernel's gated form, reading the state's finite flag on the device
    (``CupyBackend._launch`` picks it while ``_update_gate`` is set)."""

    #: the (1,) finite flag the update launches are gated by (set by run_if_finite)
    _update_gate = None

    # ----------------------------------------------------------------- optimizer updates
    # ``hyper`` (the per-step values) is passed as a raw array: read when the kernel runs.
    def _launch_update(self, name, args, ema):
        """Launch update ``name`` with ``args`` (its in-params, then its out-params), or with
        ``ema=(average, rate)`` its EMA form: ``rate`` after the in-params, ``average`` last."""
        with self._device:
            if ema is not None:
                average, rate = ema
                split = input_count(name)
                name, args = f"{name}_ema", args[:split] + (rate,) + args[split:] + (average,)
            self._launch(name, *args)

    def sgd_update(self, param, grad, hyper, ema=None):
        self._launch_update("sgd_update", (grad, hyper, param), ema)

    def momentum_update(self, param, grad, velocity, hyper, momentum, nesterov, ema=None):
        self._launch_update("momentum_update", (grad, hyper, momentum, int(bool(nesterov)),
                                                param, velocity), ema)

    def rmsprop_update(self, param, grad, velocity, hyper, rho, epsilon, momentum=0.0, mom=None,
                       average=None, ema=None):
        if average is not None:
            self._launch_update("rmsprop_centered_update", (grad, hyper, rho, 1 - rho, epsilon,
                                                            momentum, param, velocity, average,
                                                            mom), ema)
        elif mom is None:
            self._launch_update("rmsprop_update", (grad, hyper, rho, 1 - rho, epsilon, param,
                                                   velocity), ema)
        else:
            self._launch_update("rmsprop_momentum_update", (grad, hyper, rho, 1 - rho, epsilon,
                                                            momentum, param, velocity, mom), ema)

    def adam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, vhat=None, ema=None):
        if vhat is None:
            self._launch_update("adam_update", (grad, hyper, 1 - beta1, 1 - beta2, epsilon,
                                                param, m, v), ema)
        else:
            self._launch_update("amsgrad_update", (grad, hyper, 1 - beta1, 1 - beta2, epsilon,
                                                   param, m, v, vhat), ema)

    def nadam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, ema=None):
        self._launch_update("nadam_update", (grad, hyper, 1 - beta1, 1 - beta2, epsilon, param,
                                             m, v), ema)

    def adamax_update(self, param, grad, m, u, hyper, beta1, beta2, epsilon, ema=None):
        self._launch_update("adamax_update", (grad, hyper, 1 - beta1, beta2, epsilon, param, m,
                                              u), ema)

    def adagrad_update(self, param, grad, accumulator, hyper, epsilon, ema=None):
        self._launch_update("adagrad_update", (grad, hyper, epsilon, param, accumulator), ema)

    # ----------------------------------------------------------------- EMA, accumulation
    def ema_update(self, param, average, rate):
        with self._device:
            self._launch("ema_update", param, rate, average)

    def accumulate_gradients(self, grad, accumulator, steps, apply):
        with self._device:
            if apply:
                self._launch("average_gradients", float(steps), grad, accumulator)
            else:
                self._launch("accumulate_gradients", grad, accumulator)

    # ----------------------------------------------------------------- gradient clipping
    def clip_by_value(self, grad, limit):
        with self._device:
            self._launch("clip_by_value", grad, limit, grad)

    def sum_squares_into(self, a, out):
        with self._device:
            flat = a.reshape(-1)
            cupy.sum(cupy.square(flat), out=out.reshape(()))

    def clip_by_norm(self, grad, norm2, clipnorm):
        with self._device:
            self._launch("clip_by_norm", norm2, clipnorm, grad)

    def clip_by_global_norm(self, grad, norm2, clipnorm):
        with self._device:
            self._launch("clip_by_global_norm", norm2, clipnorm, grad)

    # ----------------------------------------------------------------- loss scaling
    def scale_by_loss_scale(self, a, state):
        with self._device:
            self._launch("scale_by_loss_scale", state, a)

    def unscale_gradients(self, grads, state):
        with self._device:
            self._launch("reset_finite_flag", 1, state[3:4], size=1)
            self._launch("unscale_gradients", state[0:1], grads, state[3:4])

    def run_if_finite(self, state, update, *args):
        previous, self._update_gate = self._update_gate, state[3:4]
        try:
            update(self, *args)
        finally:
            self._update_gate = previous

    def update_loss_scale(self, state, growth_steps):
        with self._device:
            self._launch("update_loss_scale", float(growth_steps), 1, state, size=1)
