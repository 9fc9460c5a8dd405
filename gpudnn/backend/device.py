"""The device flag: which backend new models use.

Precedence: ``Sequential(device=...)`` > ``with gpudnn.device(...)`` > ``gpudnn.set_device`` >
the ``GPUDNN_DEVICE`` environment variable read at import > ``"cpu"``.
"""

import contextlib
import os

from . import backend_for, parse_device

_stack = [os.environ.get("GPUDNN_DEVICE", "cpu") or "cpu"]
parse_device(_stack[0])  # a bad GPUDNN_DEVICE fails at import with a clear message


def set_device(device):
    """Make ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``, ``"auto"``) the default for new models.

    A GPU is checked now: if none is usable, DeviceUnavailableError says why and what to install.
    """
    backend_for(device)
    _stack[-1] = device


def get_device():
    """The resolved default device name: ``"cpu"`` or ``"cuda:N"`` (``"auto"`` resolved)."""
    return backend_for(_stack[-1]).name


@contextlib.contextmanager
def device(name):
    """``with gpudnn.device("cuda"):`` models built inside use ``name``; restored on exit."""
    backend_for(name)
    _stack.append(name)
    try:
        yield backend_for(name)
    finally:
        _stack.pop()


def current_backend(override=None):
    """The Backend for ``override`` if given, else for the current default device."""
    return backend_for(override if override is not None else _stack[-1])
