"""Every optimizer update of the Backend interface as one call each, shared by the tests that
compare backends (compiled CPU, CUDA harness, GPU) against NumPy.

``UPDATES[name] = (slots, hyper, step)``: ``step(backend, param, grad, slots, hyper)`` runs the
update once with fixed hyperparameters, reading the per-step values from the device array
``hyper`` (made from the listed values in the param dtype); ``slots`` is how many
zero-initialised slot buffers it needs. ``with_ema(step)`` is the same update folding in Keras's
moving average (``ema=``, the EMA forms): one more buffer, the average, after the slots.
"""


def with_ema(step, rate):
    """``step`` with ``ema=(average, rate)``, the average the last of the buffers it is given
    (``rate``: the (1,) device array of the EMA momentum)."""
    return lambda b, p, g, s, h: step(b, p, g, s[:-1], h, ema=(s[-1], rate))

NADAM = [1e-3, 0.0, 1.3, 0.06, 1.0005]
UPDATES = {
    "sgd": (0, [0.01, 0.0], lambda b, p, g, s, h, **e: b.sgd_update(p, g, h, **e)),
    "sgd_decay": (0, [0.01, 4e-5], lambda b, p, g, s, h, **e: b.sgd_update(p, g, h, **e)),
    "momentum": (1, [0.01, 0.0], lambda b, p, g, s, h, **e: b.momentum_update(p, g, s[0], h, 0.9, False, **e)),
    "nesterov": (1, [0.01, 0.0], lambda b, p, g, s, h, **e: b.momentum_update(p, g, s[0], h, 0.9, True, **e)),
    "rmsprop": (1, [1e-3, 0.0], lambda b, p, g, s, h, **e: b.rmsprop_update(p, g, s[0], h, 0.9, 1e-7, **e)),
    "rmsprop_momentum": (2, [1e-3, 0.0], lambda b, p, g, s, h, **e: b.rmsprop_update(
        p, g, s[0], h, 0.9, 1e-7, momentum=0.5, mom=s[1], **e)),
    "rmsprop_centered": (3, [1e-3, 1e-6], lambda b, p, g, s, h, **e: b.rmsprop_update(
        p, g, s[0], h, 0.9, 1e-7, momentum=0.5, mom=s[1], average=s[2], **e)),
    "adam": (2, [1e-3 * 0.7, 0.0], lambda b, p, g, s, h, **e: b.adam_update(
        p, g, s[0], s[1], h, 0.9, 0.999, 1e-7, **e)),
    "adamw": (2, [1e-3, 1e-3 * 4e-3], lambda b, p, g, s, h, **e: b.adam_update(
        p, g, s[0], s[1], h, 0.9, 0.999, 1e-7, **e)),
    "amsgrad": (3, [1e-3, 0.0], lambda b, p, g, s, h, **e: b.adam_update(
        p, g, s[0], s[1], h, 0.9, 0.999, 1e-7, vhat=s[2], **e)),
    "nadam": (2, NADAM, lambda b, p, g, s, h, **e: b.nadam_update(p, g, s[0], s[1], h, 0.9, 0.999, 1e-7, **e)),
    "adamax": (2, [1e-2, 0.0], lambda b, p, g, s, h, **e: b.adamax_update(
        p, g, s[0], s[1], h, 0.9, 0.999, 1e-7, **e)),
    "adagrad": (1, [0.01, 0.0], lambda b, p, g, s, h, **e: b.adagrad_update(p, g, s[0], h, 1e-7, **e)),
}
