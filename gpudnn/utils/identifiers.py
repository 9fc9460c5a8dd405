"""Keras-style identifiers: an object given by name, by class or as an instance."""

from ..errors import InvalidInputError, unknown_name


def instance(kind, identifier, by_name, base, why="", deserialize=None):
    """``identifier`` as an instance of ``base``: an instance is returned as is, a subclass of
    ``base`` or a name in ``by_name`` (case-insensitive) is instantiated with its defaults.
    With ``deserialize`` (an optional setting's: a regularizer, a constraint), None stays None
    and a dict is given to it. Anything else is an error naming the valid names of ``kind``
    (and ``why`` others are not)."""
    if deserialize is not None and identifier is None:
        return None
    if deserialize is not None and isinstance(identifier, dict):
        return deserialize(identifier)
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
        f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} must be a name "
        f"({', '.join(by_name)}) or a gpudnn.{_module_of(base)} "
        f"object, not {identifier!r}{why}")


def _module_of(base):
    """``optimizers`` for gpudnn.optimizers.base.Optimizer, ``losses`` for gpudnn.losses.Loss."""
    parts = base.__module__.split(".")
    return parts[-2] if parts[-1] == "base" and len(parts) > 2 else parts[-1]


class Configurable:
    """Keras's configuration protocol: ``get_config()`` returns the constructor's arguments
    (JSON-able), ``from_config`` calls the constructor with them; objects of one class with the
    same config are equal."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):  # repr: a config may hold lists (an initializer's axes)
        return hash((type(self).__name__, repr(sorted(self.get_config().items()))))


def serialized(kind, obj, base):
    """``{"class_name": ..., "config": obj.get_config()}``, Keras's serialized form of ``obj``,
    which must be an instance of ``base`` (a gpudnn ``kind``)."""
    if not isinstance(obj, base):
        raise InvalidInputError(f"serialize takes a gpudnn {kind} object, not {obj!r}")
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def from_serialized(kind, data, classes):
    """The object that ``serialized`` described: ``classes[data["class_name"]]`` called with the
    entries of ``data["config"]`` as keyword arguments. Anything else is a clear error."""
    if not (isinstance(data, dict) and isinstance(data.get("class_name"), str)
            and isinstance(data.get("config", {}), dict)):
        raise InvalidInputError(
            f"a serialized {kind} is a dict {{'class_name': ..., 'config': {{...}}}}, "
            f"not {data!r}")
    cls = classes.get(data["class_name"])
    if cls is None:
        raise unknown_name(f"{kind} class", data["class_name"], classes)
    config = data.get("config", {})
    try:
        return cls(**config)
    except TypeError as exc:
        raise InvalidInputError(
            f"cannot make a {data['class_name']} from the config {config!r}: {exc}") from None
