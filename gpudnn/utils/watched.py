"""Settings versions of layers, losses, optimizers and regularizers, so that a recorded training
step can tell cheaply that a value it was recorded with has changed since
(``optimizer.beta_1 = 0.5``, ``dropout.rate = 0.1``, ``regularizer.l2 = 1.0``...).

Every assignment to a public attribute of a :class:`Watched` object increments that object's
own version, except the names in :data:`PER_STEP` (values that change every step and that the
step reads from device memory). Objects are versioned one by one: making or changing one object
never invalidates a recording that does not use it.
"""

#: Public attributes that change every training step and are never baked into a recording.
PER_STEP = frozenset({"iterations", "step_count", "learning_rate", "lr"})


def version(obj):
    """How many times a setting of ``obj`` has been assigned (0 for an unwatched object)."""
    return obj.__dict__.get("_settings_version", 0)


class Watched:
    """Mixin: assignments to public attributes increment the object's settings version."""

    def __setattr__(self, name, value):
        if name[:1] != "_" and name not in PER_STEP:
            self.__dict__["_settings_version"] = self.__dict__.get("_settings_version", 0) + 1
        object.__setattr__(self, name, value)
