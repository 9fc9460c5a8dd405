"""The (loss kind, parameter) cases the backends' loss tests run: every kind with its usual
parameter (no label smoothing; Huber's delta 1), and the kinds that take one with a second
value too (label smoothing of the cross-entropies, a small Huber delta)."""

from gpudnn.backend import LOSS_KINDS

#: kinds without a parameter (the backends ignore theirs)
WITHOUT_PARAMETER = ("mse", "mae", "log_cosh", "kld", "poisson", "mape", "msle", "hinge",
                     "squared_hinge")
#: the parameter a kind is used with by default
USUAL = {"huber": 1.0}
#: regression kinds: real targets and predictions, not probabilities
REGRESSION = ("mse", "mae", "huber", "log_cosh", "mape")
#: hinge kinds: labels -1 / 1 or 0 / 1 (0 read as -1) and raw scores
HINGE = ("hinge", "squared_hinge")


def loss_cases(second=0.2):
    return [(kind, USUAL.get(kind, 0.0)) for kind in LOSS_KINDS] + \
        [(kind, second) for kind in LOSS_KINDS if kind not in WITHOUT_PARAMETER]
