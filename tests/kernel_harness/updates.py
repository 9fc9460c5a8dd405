"""Every optimizer update of the Backend interface as one call each, shared by the tests that
compare backends (compiled CPU, CUDA harness, GPU) against NumPy.

``UPDATES[name] = (slots, step)``: ``step(backend, param, grad, slots)`` runs the update once with
fixed hyperparameters; ``slots`` is how many zero-initialised slot buffers it needs.
"""

UPDATES = {
    "sgd": (0, lambda b, p, g, s: b.sgd_update(p, g, 0.01)),
    "momentum": (1, lambda b, p, g, s: b.momentum_update(p, g, s[0], 0.01, 0.9, False)),
    "nesterov": (1, lambda b, p, g, s: b.momentum_update(p, g, s[0], 0.01, 0.9, True)),
    "rmsprop": (1, lambda b, p, g, s: b.rmsprop_update(p, g, s[0], 1e-3, 0.9, 1e-7)),
    "rmsprop_momentum": (2, lambda b, p, g, s: b.rmsprop_update(p, g, s[0], 1e-3, 0.9, 1e-7,
                                                                momentum=0.5, mom=s[1])),
    "adam": (2, lambda b, p, g, s: b.adam_update(p, g, s[0], s[1], 1e-3 * 0.7, 0.9, 0.999, 1e-7)),
    "adamw": (2, lambda b, p, g, s: b.adam_update(p, g, s[0], s[1], 1e-3, 0.9, 0.999, 1e-7,
                                                  decay=1e-3 * 4e-3)),
    "amsgrad": (3, lambda b, p, g, s: b.adam_update(p, g, s[0], s[1], 1e-3, 0.9, 0.999, 1e-7,
                                                    vhat=s[2])),
    "adagrad": (1, lambda b, p, g, s: b.adagrad_update(p, g, s[0], 0.01, 1e-7)),
}
