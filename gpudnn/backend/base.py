"""The Backend interface: every array operation a gpudnn model performs.

Layers, losses, optimizers and the model call only these methods, so the same model code runs on
NumPy (CPU) or CuPy (GPU). Conventions, shared by every backend:

- Arrays are the backend's own type (``numpy.ndarray`` or ``cupy.ndarray``); ``from_host`` and
  ``to_host`` are the only crossings between host and device.
- A batch is a C-contiguous ``(n, features)`` matrix. ``n`` is the batch size, ``k`` a layer's
  width.
- Every op that produces an array writes into ``out`` (preallocated by the caller, may alias an
  input where the docstring says so), so a training step allocates nothing after its first batch.
- Reductions used for metrics and losses return a 0-d array *on the device*; the caller adds them
  up on the device and reads them with ``to_host`` once per progress update.
- Optimizer updates are in place over flat 1-d buffers (the model keeps every parameter, gradient
  and optimizer slot in one contiguous buffer each), so one update is one pass, one kernel launch.
- Hyperparameters fixed for a run (betas, rho, epsilon, momentum) are Python floats. What changes
  from step to step (the learning rate or Adam's bias-corrected step size, the weight decay
  factor, Nadam's factors) is read from the optimizer's small device array ``hyper`` when the op
  runs, so that a recorded or captured step sees it change: ``hyper[0]`` the step size,
  ``hyper[1]`` the decay ``lr * weight_decay`` (applied first, ``param -= param * decay``),
  ``hyper[2:]`` op-specific factors. The host computes them in double precision.

Activation kinds: ``ACTIVATION_KINDS`` (``alpha`` is used by
``leaky_relu`` and ``elu``). Loss kinds: ``mse mae bce cce bce_logits cce_logits huber
log_cosh kld poisson mape msle hinge squared_hinge`` (the ``_logits`` kinds take raw scores x; the others predictions p:
probabilities for bce, cce and kld, rates for poisson, real numbers for the regression kinds). The loss ops' ``smoothing`` argument is the kind's one parameter: the label
smoothing of the cross-entropies, huber's delta; the others ignore it.

Per-sample weights (Keras's ``sample_weight``): the loss and metric ops take ``weights=None``
or a device array w of shape (n, 1), y_pred's dtype, one weight per row. The per-sample loss
L_i is the loss of row i alone (the mean over its k outputs for mse, mae, huber, log_cosh,
poisson, mape, msle, hinge, squared_hinge, bce, bce_logits, the sum over its classes for cce, cce_logits, kld); the weighted loss
is Keras's ``sum_over_batch_size``, ``sum_i w_i L_i / n``. ``weights=None`` runs the unweighted
code, unchanged.
"""

import contextlib
from abc import ABC, abstractmethod

import numpy as np

from ..errors import InvalidInputError
from .constraints import ConstraintOps
from .foreign import ForeignArrays
from .metrics_ops import MetricOps
from .mixed_precision import LossScaleOps
from .noise import NoiseOps
from .normalization import BatchNormOps
from .row_normalization import RowNormOps
from .staging import BatchStaging
from .totals import DeviceTotals
from .update_ops import UpdateOps

ACTIVATION_KINDS = ("linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "softplus",
                    "softsign", "hard_sigmoid", "relu6", "exponential", "silu", "gelu", "softmax")
#: The activations whose backward pass takes the input x, not the output y (not invertible)
FROM_INPUT = ("silu", "gelu")
#: Keras's selu constants (kernels/activations.cu writes them as literals)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
LOSS_KINDS = ("mse", "mae", "bce", "cce", "bce_logits", "cce_logits", "huber", "log_cosh", "kld",
              "poisson", "mape", "msle", "hinge", "squared_hinge")
#: The kinds whose ``smoothing`` argument is label smoothing (huber's is its delta).
CROSS_ENTROPY_KINDS = ("bce", "cce", "bce_logits", "cce_logits")

#: Work arrays a backend keeps for reuse (a training step uses about a dozen).
MAX_SCRATCH = 128

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before a log, like Keras.
EPSILON = 1e-7


def dropout_threshold(rate):
    """``ceil(rate * 2^32)``: dropout keeps an element whose 32 random bits ``b`` (a uniform
    ``u = b / 2^32``) satisfy ``b >= threshold``, i.e. ``u >= rate``, compared exactly."""
    import math

    return math.ceil(float(rate) * 2.0 ** 32)


def check_weights(weights, y_pred):
    """``weights`` as an (n, 1) array (a C-contiguous (n,) vector is taken as its column),
    checked against y_pred (n, k): n weights of y_pred's dtype, C-contiguous."""
    n = y_pred.shape[0]
    shape, dtype = getattr(weights, "shape", None), getattr(weights, "dtype", None)
    if shape not in ((n, 1), (n,)) or dtype != y_pred.dtype or not weights.flags.c_contiguous:
        raise InvalidInputError(
            f"per-sample weights must be a C-contiguous (n, 1) = ({n}, 1) array of y_pred's "
            f"dtype {y_pred.dtype}, one weight per row; got {type(weights).__name__} of shape "
            f"{shape} and dtype {dtype}")
    return weights.reshape(n, 1) if len(shape) == 1 else weights


def smoothing_terms(kind, smoothing, k):
    """``(keep, shift)`` of label smoothing: the cross-entropies see ``t = y keep + shift``,
    ``keep = 1 - s`` and ``shift = s / k`` for the categorical kinds (k classes), ``s / 2`` for
    the binary ones, as Keras smooths; ``s = 0`` gives ``(1.0, 0.0)``, which leaves y exact."""
    s = float(smoothing)
    if not s or kind not in CROSS_ENTROPY_KINDS:
        return 1.0, 0.0
    return 1.0 - s, s / k if kind.startswith("cce") else s / 2


class Backend(LossScaleOps, ForeignArrays, DeviceTotals, BatchStaging, NoiseOps, MetricOps, BatchNormOps,
              RowNormOps, ConstraintOps, UpdateOps, ABC):
    """One device's implementation of the array operations. See the module docstring."""

    #: ``"cpu"`` or ``"cuda:N"``.
    name = "abstract"
    #: True when arrays live in GPU memory.
    is_gpu = False

    # ----------------------------------------------------------------- arrays and transfers
    def unrecorded(self):
        """This backend (a recording of a step stands in for it: see capture.py)."""
        return self

    @abstractmethod
    def empty(self, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` on this device."""

    @abstractmethod
    def zeros(self, shape, dtype):
        """A zero-filled array of ``shape`` and ``dtype`` on this device."""

    def flat_zeros(self, size, dtype, slot=0):
        """A zeroed 1-d buffer of ``size`` elements for one of a model's flat arrays (parameters
        ``slot=0``, gradients ``1``, optimizer slots ``2...``); a backend may place the buffers
        so that the updates, which stream through all of them at once, run faster."""
        return self.zeros((size,), dtype)

    @abstractmethod
    def from_host(self, array, dtype=None):
        """A C-contiguous device copy of the host (NumPy) ``array``, cast to ``dtype`` if given."""

    @abstractmethod
    def to_host(self, array):
        """A NumPy copy of the device ``array`` (a 0-d array becomes a 0-d NumPy array)."""

    @abstractmethod
    def copy_into(self, dst, src):
        """``dst[...] = src`` where ``src`` is a device array or a host NumPy array of dst's shape."""

    def write_step_values(self, dst, values):
        """``dst[:] = values``: a few host floats into a small device array (an optimizer's
        per-step values) without waiting for queued device work; the values are cast to
        dst's dtype. The default is ``copy_into``."""
        self.copy_into(dst, np.asarray(values, dtype=dst.dtype))

    @abstractmethod
    def fill(self, array, value):
        """``array[...] = value`` in place."""

    def synchronize(self):  # noqa: B027 (a no-op by default: the CPU backends need nothing)
        """Wait until queued device work has finished (a no-op on the CPU)."""

    def graphs(self):
        """The device's CUDA-graph support when enabled (see gpudnn.backend.cuda_graph), else
        None: then a recorded step is replayed call by call."""
        return None

    def capture_key(self):
        """Backend settings a recorded or captured step depends on (a tuple); when it changes,
        recordings are made again. Nothing on the CPU."""
        return ()

    def training_stream(self):
        """A context manager ``fit`` runs in: the stream its steps are ordered on (a no-op
        unless CUDA graphs are on)."""
        return contextlib.nullcontext()

    def _scratch(self, shape, dtype, slot=0, fill=None):
        """A work array of this device, allocated once per (shape, dtype, slot) and reused;
        ``slot`` tells apart two that are live at the same time. ``fill``: the value it is
        filled with when first made (callers that never write it get a constant array)."""
        cache = self.__dict__.setdefault("_scratch_cache", {})
        key = (tuple(shape), np.dtype(dtype), slot)
        buf = cache.get(key)
        if buf is None:
            while len(cache) >= MAX_SCRATCH:  # many batch sizes (predict): drop the oldest
                cache.pop(next(iter(cache)))
            buf = cache[key] = self.empty(shape, dtype)
            if fill is not None:
                self.fill(buf, fill)
        return buf

    def _zero_bias(self, k, dtype):
        """A cached (k,) zero vector: the bias of a kernel called with ``bias=None``."""
        return self._scratch((k,), dtype, slot="zero-bias", fill=0)

    # ----------------------------------------------------------------- linear algebra
    @abstractmethod
    def matmul(self, a, b, out):
        """``out = a @ b``; (m, k) @ (k, n) -> (m, n). ``a`` or ``b`` may be a transposed view
        (``x.T``) of a C-contiguous matrix: BLAS reads it with a transpose flag, no copy."""

    @abstractmethod
    def sum_rows(self, a, out):
        """``out[j] = sum_i a[i, j]``; (n, k) -> (k,). The bias gradient."""

    @abstractmethod
    def take_rows_at(self, src, order, position, out):
        """``out[r] = src[order[position[0] + r]]``; src (N, ...) C-contiguous, order (N,) and
        position (1,) int64 on this device -> out (n, ...): the batch at ``position`` of an
        epoch's order, with ``position`` read when the op runs (fit's gather, see
        ``training.BatchFeed``)."""

    # ----------------------------------------------------------------- activations
    @abstractmethod
    def activation_forward(self, kind, z, bias, out, alpha=0.0):
        """``out = f(z + bias)`` row-wise; z and out (n, k), bias (k,) or None. ``out`` may be ``z``.

        sigmoid is computed as ``0.5 * tanh(0.5 x) + 0.5``; elu as ``alpha * expm1(x)`` for x <= 0;
        softmax subtracts the row maximum before ``exp``.
        """

    @abstractmethod
    def activation_backward(self, kind, y, dy, out, alpha=0.0):
        """``out = dL/dx`` from the retained output ``y = f(x)`` and ``dy = dL/dy``; all (n, k).
        For the kinds of ``FROM_INPUT`` (silu, gelu) ``y`` is the input x instead (their
        derivative is not a function of the output; numpy_more_activations.py has the math).

        relu ``dy * (y > 0)``; leaky_relu ``dy * (y > 0 ? 1 : alpha)``; elu ``dy * (y > 0 ? 1 :
        y + alpha)``; sigmoid ``dy * y * (1 - y)``; tanh ``dy * (1 - y*y)``; linear ``dy``;
        softmax ``y * (dy - sum_j dy_j y_j)``. ``out`` may be ``dy``.
        """

    # ----------------------------------------------------------------- losses and metrics
    @abstractmethod
    def loss_value(self, kind, y_pred, y_true, smoothing=0.0):
        """The mean loss of a batch as a 0-d device array; y_pred, y_true (n, k).

        mse ``mean((p - y)^2)``; mae ``mean(|p - y|)``; huber ``mean(0.5 d^2 if |d| <= delta
        else delta |d| - 0.5 delta^2)``, ``d = p - y``; log_cosh ``mean(log cosh(p - y))``;
        kld ``sum(t log(t / c)) / n`` with t, c = y, p clipped to [EPSILON, 1]; poisson
        ``mean(p - y log(p + EPSILON))``; mape, msle, hinge, squared_hinge: see
        numpy_percent_log_hinge.py;
        bce ``mean(-(t log p + (1-t) log(1-p)))``;
        cce ``sum(-t log p) / n``, p clipped to [EPSILON, 1 - EPSILON] inside every log;
        bce_logits ``mean(max(x, 0) - x t + log1p(exp(-|x|)))`` (bce of sigmoid(x));
        cce_logits ``sum_i sum_j t_ij (logsumexp(x_i) - x_ij) / n`` (cce of softmax(x)).
        t is y with label ``smoothing`` (see :func:`smoothing_terms`); huber reads ``smoothing``
        as its delta (give it: 0 makes the loss and its gradient 0); the other kinds ignore
        it.
        """

    @abstractmethod
    def loss_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        """``out = d loss_value / d y_pred``; all (n, k). ``out`` must not be ``y_true``.

        mse ``2 (p - y) / (n k)``; mae ``sign(p - y) / (n k)`` (0 where p == y); huber
        ``clip(p - y, -delta, delta) / (n k)``; log_cosh ``tanh(p - y) / (n k)``; kld
        ``-t / c / n [c == p]``; poisson ``(1 - y / (p + EPSILON)) / (n k)``; mape, msle, hinge,
        squared_hinge: see numpy_percent_log_hinge.py; bce
        ``(p - t) / (p (1 - p)) / (n k)`` and cce ``-t / p / n`` with p clipped as in
        ``loss_value`` (zero gradient where the clip is active); bce_logits
        ``(sigmoid(x) - t) / (n k)``; cce_logits ``(softmax(x) S - t) / n`` row by row, with
        ``S = sum_j t_j`` (1 for one-hot or smoothed rows).

        With ``weights`` w (n, 1): ``d/dp [sum_i w_i L_i / n]``, i.e. row i of the above times
        w_i (the product taken last).
        """

    @abstractmethod
    def logit_grad(self, kind, y_pred, y_true, out, smoothing=0.0, weights=None):
        """``out = (y_pred - t) * scale``; (n, k), t the smoothed y_true.

        The fused gradient with respect to the pre-activation of softmax + categorical
        cross-entropy (kind ``"cce"``, scale ``1/n``) and of sigmoid + binary cross-entropy
        (kind ``"bce"``, scale ``1/(n k)``); y_pred is the activation's output. With
        ``weights`` w (n, 1): ``(y_pred - t) * scale * w`` (row i times w_i).
        """

    @abstractmethod
    def penalty_value(self, param, l1, l2):
        """Keras's L1L2 weight penalty ``l1 sum|w| + l2 sum w^2`` of ``param`` (any shape) as a
        0-d device array."""

    @abstractmethod
    def add_penalty_grad(self, param, grad, l1, l2):
        """``grad += l1 sign(w) + 2 l2 w`` in place (sign(0) = 0); param and grad same shape."""

    @abstractmethod
    def count_correct(self, y_pred, y_true, mode):
        """Number of correct predictions as a 0-d float64 device array (exact up to 2^53).

        mode ``"categorical"``: rows where argmax(y_pred) == argmax(y_true); mode ``"binary"``:
        elements where (y_pred > 0.5) == (y_true > 0.5).
        """

    def accumulate_loss(self, kind, y_pred, y_true, total, smoothing=0.0, weights=None):
        """``total += loss_value(kind, y_pred, y_true, smoothing) * n = sum_i L_i`` in place;
        ``total`` a 0-d float64 device array (the summed loss of an epoch, read once per
        progress update). With ``weights`` w (n, 1): ``total += sum_i w_i L_i`` (L_i the loss of
        row i, see the module docstring), summed in float64."""
        if weights is not None:
            raise NotImplementedError(f"{type(self).__name__} has no weighted accumulate_loss")
        total += self.loss_value(kind, y_pred, y_true, smoothing) * y_pred.shape[0]

    def accumulate_penalty(self, param, l1, l2, n, total):
        """``total += penalty_value(param, l1, l2) * n`` in place (the penalty counted once per
        sample, as the loss is)."""
        total += self.penalty_value(param, l1, l2) * n

    def accumulate_correct(self, y_pred, y_true, mode, total, weights=None):
        """``total += count_correct(y_pred, y_true, mode)`` in place (0-d float64). With
        ``weights`` w (n, 1) (Keras's ``weighted_metrics``): categorical ``total += sum_i w_i
        [row i correct]``, binary ``total += sum_i w_i (correct elements of row i)``."""
        if weights is not None:
            raise NotImplementedError(f"{type(self).__name__} has no weighted accumulate_correct")
        total += self.count_correct(y_pred, y_true, mode)

    def softmax_cce_step(self, y_pred, y_true, grad, loss_total, hits_total=None,
                         smoothing=0.0, weights=None):
        """The loss part of a training step whose output layer is a softmax and whose loss is
        categorical cross-entropy, as one op; y_pred (the softmax output p), y_true and grad
        (n, k), loss_total and hits_total 0-d float64 (hits_total None: no accuracy metric).
        With t the smoothed y_true (:func:`smoothing_terms`) and c = clip(p, EPSILON,
        1 - EPSILON):

        - ``loss_total += -sum_ij t_ij log c_ij`` (``accumulate_loss("cce", ...)``: the batch's
          mean loss times n);
        - ``hits_total +=`` the rows where argmax p == argmax y_true, first maximum and first
          NaN as numpy.argmax (``accumulate_correct(..., "categorical", ...)``);
        - ``grad = (p - t) / n`` (``logit_grad("cce", ...)``: the gradient with respect to the
          softmax's input).

        With ``weights`` w (n, 1) the loss and the gradient are weighted as those ops weight
        them (``loss_total += -sum_ij w_i t_ij log c_ij``, ``grad = (p - t) w / n``); the hits
        are not (Keras's plain metrics ignore sample weights).

        ``grad`` must not be ``y_true``. The default calls those three ops in that order; a GPU
        does all of it in one kernel launch (the step is launch-bound).
        """
        weighted = {} if weights is None else {"weights": weights}  # None: today's calls
        self.accumulate_loss("cce", y_pred, y_true, loss_total, smoothing, **weighted)
        if hits_total is not None:
            self.accumulate_correct(y_pred, y_true, "categorical", hits_total)
        self.logit_grad("cce", y_pred, y_true, grad, smoothing, **weighted)

    # ----------------------------------------------------------------- randomness and counters
    @abstractmethod
    def dropout(self, x, seed, step, rate, out):
        """Inverted dropout: ``out = x * (1 / (1 - rate)) * keep``; x and out (n, k) C-contiguous,
        ``out`` may be ``x``.

        ``keep[i] = (bits >> 32) >= dropout_threshold(rate)`` with ``bits`` the counter-based
        random word of (``seed``, ``step[0]``, flat element index i) defined in
        ``kernels/random.cu`` (splitmix64); ``seed`` a host int in [0, 2^63) fixed for the run,
        ``step`` a (1,) int64 device array read by the kernel. The same call on the gradient
        (x = dy) applies the same mask: the backward pass.
        """

    @abstractmethod
    def increment(self, counter, by=1):
        """``counter += by`` on the device; counter a (1,) int64 array (the dropout step, fit's
        batch position)."""

    @abstractmethod
    def sum_squares(self, a):
        """``sum(a * a)`` as a 0-d device array (gradient norms)."""

    @abstractmethod
    def all_finite(self, a):
        """True when no element of ``a`` is NaN or infinite (a host bool)."""
