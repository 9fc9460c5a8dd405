"""The NumPy backend's optimizer updates and gradient clipping, in place over the flat
buffers, with subnormals flushed as the compiled kernels flush them (see
:mod:`~gpudnn.backend.flushing`). A mixin of :class:`~gpudnn.backend.numpy_backend.NumpyBackend`."""

import functools

import numpy as np

from .flushing import flushing


def folds_ema(update):
    """An update that also takes ``ema=(average, rate)`` (Keras's use_ema): ``ema_update`` of
    the updated weights right after it, the reference of the compiled backends' EMA forms,
    which do both in one launch."""
    @functools.wraps(update)
    def run(self, param, *args, ema=None, **kwargs):
        update(self, param, *args, **kwargs)
        if ema is not None:
            self.ema_update(param, *ema)
    return run


class NumpyUpdates:
    """Mixin of NumpyBackend: the optimizer updates and gradient clipping."""

    # ----------------------------------------------------------------- optimizer updates
    def _decay(self, param, hyper, t):
        """Weight decay first: ``param -= param * hyper[1]`` when hyper[1] is not 0."""
        decay = hyper[1]
        if decay != 0:
            np.multiply(param, decay, out=t)
            param -= t

    # @flushing: subnormals flushed as the compiled kernels flush them (backend/flushing.py);
    # @folds_ema: ema=(average, rate) moves the average after the update
    @folds_ema
    @flushing
    def sgd_update(self, param, grad, hyper):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, hyper[0], out=t)
        param -= t

    @folds_ema
    @flushing
    def momentum_update(self, param, grad, velocity, hyper, momentum, nesterov):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, hyper[0], out=t)
        velocity *= momentum
        velocity -= t
        if nesterov:
            param -= t
            np.multiply(velocity, momentum, out=t)
        else:
            np.copyto(t, velocity)
        param += t

    @folds_ema
    @flushing
    def rmsprop_update(self, param, grad, velocity, hyper, rho, epsilon, momentum=0.0, mom=None,
                       average=None):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, grad, out=t)
        t *= 1 - rho
        velocity *= rho
        velocity += t
        if average is not None:  # centered: v - a^2 with a the running mean of g
            np.multiply(grad, 1 - rho, out=t)
            average *= rho
            average += t
            np.multiply(average, average, out=t)
            np.subtract(velocity, t, out=t)
            t += epsilon
        else:
            np.add(velocity, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= hyper[0]
        if mom is not None:
            mom *= momentum
            mom += t
            param -= mom
        else:
            param -= t

    def _moments(self, grad, m, v, beta1, beta2, t):
        """Adam's moments in place: ``m += (1 - beta1)(g - m)``; ``v += (1 - beta2)(g^2 - v)``."""
        np.subtract(grad, m, out=t)
        t *= 1 - beta1
        m += t
        np.multiply(grad, grad, out=t)
        t -= v
        t *= 1 - beta2
        v += t

    @folds_ema
    @flushing
    def adam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, vhat=None):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        self._moments(grad, m, v, beta1, beta2, t)
        if vhat is not None:
            np.maximum(vhat, v, out=vhat)
            np.sqrt(vhat, out=t)
        else:
            np.sqrt(v, out=t)
        t += epsilon
        np.divide(m, t, out=t)
        t *= hyper[0]
        param -= t

    @folds_ema
    @flushing
    def nadam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon):
        t = self._scratch(param.shape, param.dtype)
        u = self._scratch(param.shape, param.dtype, slot=1)
        self._decay(param, hyper, t)
        self._moments(grad, m, v, beta1, beta2, t)
        np.multiply(m, hyper[2], out=u)          # m_hat = c_m m + c_g g
        np.multiply(grad, hyper[3], out=t)
        u += t
        u *= hyper[0]                            # lr m_hat
        np.multiply(v, hyper[4], out=t)          # v_hat = c_v v
        np.sqrt(t, out=t)
        t += epsilon
        np.divide(u, t, out=t)
        param -= t

    @folds_ema
    @flushing
    def adamax_update(self, param, grad, m, u, hyper, beta1, beta2, epsilon):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.subtract(grad, m, out=t)
        t *= 1 - beta1
        m += t
        u *= beta2
        np.abs(grad, out=t)
        np.maximum(u, t, out=u)
        np.add(u, epsilon, out=t)
        np.divide(m, t, out=t)
        t *= hyper[0]
        param -= t

    @folds_ema
    @flushing
    def adagrad_update(self, param, grad, accumulator, hyper, epsilon):
        t = self._scratch(param.shape, param.dtype)
        self._decay(param, hyper, t)
        np.multiply(grad, grad, out=t)
        accumulator += t
        np.add(accumulator, epsilon, out=t)
        np.sqrt(t, out=t)
        np.divide(grad, t, out=t)
        t *= hyper[0]
        param -= t

    # ----------------------------------------------------------------- EMA, accumulation
    # (backend/update_options.py); each written buffer comes first for @flushing, which writes
    # its first argument in place and reads its second from a flushed copy
    def ema_update(self, param, average, rate):
        self._ema(average, param, rate)

    @flushing
    def _ema(self, average, param, rate):
        t = self._scratch(average.shape, average.dtype)
        momentum = rate[0]
        np.multiply(average, momentum, out=average)
        np.multiply(param, average.dtype.type(1) - momentum, out=t)
        average += t

    def accumulate_gradients(self, grad, accumulator, steps, apply):
        if apply:
            self._average_gradients(grad, steps, accumulator)
        else:
            self._add_gradients(accumulator, grad)

    @flushing
    def _add_gradients(self, accumulator, grad):
        accumulator += grad

    @flushing
    def _average_gradients(self, grad, steps, accumulator):
        grad += accumulator
        grad /= grad.dtype.type(steps)
        accumulator.fill(0)

    # ----------------------------------------------------------------- gradient clipping
    def clip_by_value(self, grad, limit):
        np.clip(grad, -limit, limit, out=grad)

    def sum_squares_into(self, a, out):
        flat = a.reshape(-1)
        out[...] = np.dot(flat, flat)

    def clip_by_norm(self, grad, norm2, clipnorm):
        norm = np.sqrt(norm2[0])
        grad *= clipnorm
        grad /= np.maximum(norm, norm.dtype.type(clipnorm))

    def clip_by_global_norm(self, grad, norm2, clipnorm):
        dtype = grad.dtype.type
        norm = np.sqrt(norm2[0])
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = dtype(1) / norm
            cap = dtype(1) / dtype(clipnorm)
            scale = dtype(clipnorm) * (inv if inv < cap else cap) + (norm - norm)
        grad *= scale
