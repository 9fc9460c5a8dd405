"""Keras-style identifiers: an object given by name, by class or as an instance."""

from .errors import InvalidInputError, unknown_name


def instance(kind, identifier, by_name, base):
    """``identifier`` as an instance of ``base``: an instance is returned as is, a subclass of
    ``base`` or a name in ``by_name`` (case-insensitive) is instantiated with its defaults.
    Anything else is an error naming the valid names of ``kind``."""
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, base):
        return identifier()
    if isinstance(identifier, str):
        cls = by_name.get(identifier.lower())
        if cls is None:
            raise unknown_name(kind, identifier, by_name)
        return cls()
    raise InvalidInputError(
        f"{kind} must be a name ({', '.join(by_name)}) or a gpudnn.{_module_of(base)} "
        f"object, not {identifier!r}")


def _module_of(base):
    """``optimizers`` for gpudnn.optimizers.base.Optimizer, ``losses`` for gpudnn.losses.Loss."""
    parts = base.__module__.split(".")
    return parts[-2] if parts[-1] == "base" and len(parts) > 2 else parts[-1]
