"""Callbacks for ``fit``, as in Keras: subclass ``Callback`` and override the hooks you need."""

from .callback import Callback
from .history import History

__all__ = ["Callback", "History"]
