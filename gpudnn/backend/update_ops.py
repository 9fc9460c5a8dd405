"""The backend ops of the optimizers: the fused update of each rule and gradient clipping. A
mixin of :class:`~gpudnn.backend.base.Backend` (with the options' ops, update_options.py).

Each update is one in-place pass over flat (P,) buffers of one float dtype, writes only its
out-buffers and returns nothing, so it can be recorded and replayed (captured in a CUDA graph).
The kernels are in ``kernels/optimizers.cu``; the NumPy reference is
:class:`~gpudnn.backend.numpy_updates.NumpyUpdates`.
"""

from abc import abstractmethod

from .update_options import UpdateOptionOps


class UpdateOps(UpdateOptionOps):
    """Mixin of Backend: the optimizer updates and gradient clipping (see the module
    docstring)."""

    # ----------------------------------------------------------------- optimizer updates
    # Each is one in-place pass over flat (P,) buffers of the same dtype; ``hyper`` is the (H,)
    # device array of per-step values (base.py's module docstring): lr = hyper[0], and every
    # update first applies ``param -= param * hyper[1]`` when hyper[1] != 0. With
    # ``ema=(average, rate)`` (Keras's use_ema) the update then moves the average of the updated
    # weights exactly as ``ema_update(param, average, rate)`` does: in the same launch on the
    # compiled backends (kernel_half.py's EMA forms), after it on NumPy.
    @abstractmethod
    def sgd_update(self, param, grad, hyper, ema=None):
        """``param -= lr * grad``."""

    @abstractmethod
    def momentum_update(self, param, grad, velocity, hyper, momentum, nesterov, ema=None):
        """Keras SGD with momentum: ``v = momentum v - lr g``; then ``param += v``, or with
        Nesterov ``param += momentum v - lr g``."""

    @abstractmethod
    def rmsprop_update(self, param, grad, velocity, hyper, rho, epsilon, momentum=0.0, mom=None,
                       average=None, ema=None):
        """Keras RMSprop: ``v = rho v + (1 - rho) g^2``; ``inc = lr g / sqrt(v + eps)``; then
        ``param -= inc``, or with momentum ``mom = momentum mom + inc; param -= mom``.
        Centered (``average`` given, and then ``mom`` too): ``a = rho a + (1 - rho) g`` and
        ``inc = lr g / sqrt(v - a^2 + eps)``."""

    @abstractmethod
    def adam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, vhat=None, ema=None):
        """Keras Adam / AMSGrad with the bias correction folded into ``alpha = hyper[0] =
        lr sqrt(1 - beta2^t) / (1 - beta1^t)``:

        ``m += (1 - beta1)(g - m)``; ``v += (1 - beta2)(g^2 - v)``;
        AMSGrad (``vhat`` given): ``vhat = max(vhat, v)`` and vhat replaces v below;
        ``param -= alpha m / (sqrt(v) + eps)``.
        """

    @abstractmethod
    def nadam_update(self, param, grad, m, v, hyper, beta1, beta2, epsilon, ema=None):
        """Keras Nadam: Adam's moments, then ``m_hat = hyper[2] m + hyper[3] g``,
        ``v_hat = hyper[4] v`` and ``param -= lr m_hat / (sqrt(v_hat) + eps)``."""

    @abstractmethod
    def adamax_update(self, param, grad, m, u, hyper, beta1, beta2, epsilon, ema=None):
        """Keras Adamax: ``m += (1 - beta1)(g - m)``; ``u = max(beta2 u, |g|)``;
        ``param -= alpha m / (u + eps)`` with ``alpha = hyper[0] = lr / (1 - beta1^t)``."""

    @abstractmethod
    def adagrad_update(self, param, grad, accumulator, hyper, epsilon, ema=None):
        """Keras Adagrad: ``acc += g^2``; ``param -= lr g / sqrt(acc + eps)``."""

    # ----------------------------------------------------------------- gradient clipping
    @abstractmethod
    def clip_by_value(self, grad, limit):
        """``grad = clip(grad, -limit, limit)`` in place (NaN kept)."""

    @abstractmethod
    def sum_squares_into(self, a, out):
        """``out[0] = sum(a * a)``; ``out`` a (1,) device array of a's dtype (no host sync)."""

    @abstractmethod
    def clip_by_norm(self, grad, norm2, clipnorm):
        """Keras clipnorm: ``grad = grad clipnorm / max(sqrt(norm2[0]), clipnorm)`` in place."""

    @abstractmethod
    def clip_by_global_norm(self, grad, norm2, clipnorm):
        """Keras global_clipnorm: with ``n = sqrt(norm2[0])`` the norm of all gradients,
        ``grad *= clipnorm min(1 / n, 1 / clipnorm) + (n - n)`` (NaN when n is not finite)."""
