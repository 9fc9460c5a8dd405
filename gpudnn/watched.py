"""A process-wide count of changes to the settings of layers, losses, optimizers and
regularizers, so that a recorded training step can tell, at the cost of reading one int, that a
value it was recorded with has changed since (``optimizer.beta_1 = 0.5``, ``dropout.rate =
0.1``, ``regularizer.l2 = 1.0``...).

Every assignment to a public attribute of a :class:`Watched` object counts, except the names in
:data:`PER_STEP` (values that change every step and that the step reads from device memory).
"""

#: Public attributes that change every training step and are never baked into a recording.
PER_STEP = frozenset({"iterations", "learning_rate", "lr"})

_changes = [0]


def changes():
    """How many watched settings have been assigned so far in this process."""
    return _changes[0]


class Watched:
    """Mixin: assignments to public attributes are counted (see the module docstring)."""

    def __setattr__(self, name, value):
        if name[:1] != "_" and name not in PER_STEP:
            _changes[0] += 1
        object.__setattr__(self, name, value)
