"""The errors gpudnn raises on bad input or an unusable device.

Every message names the problem and the fix. They subclass the built-in exception a Python user
would expect (``ValueError`` for bad values, ``RuntimeError`` for an unusable device), so code
that already catches those keeps working.
"""


class GpudnnError(Exception):
    """Base class of every error gpudnn raises on purpose."""


class InvalidInputError(GpudnnError, ValueError):
    """Data, shapes or arguments that cannot work (wrong shape, NaN, labels out of range...)."""


class UnknownNameError(InvalidInputError, KeyError):
    """A string identifier (activation, loss, optimizer, initializer) that gpudnn does not know."""

    def __str__(self):  # KeyError would otherwise print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class NotCompiledError(GpudnnError, RuntimeError):
    """``fit``/``evaluate``/``train_on_batch`` called before ``compile``."""


class DeviceUnavailableError(GpudnnError, RuntimeError):
    """A GPU was asked for where none is usable; the message says why and what to install."""


class KernelCompileError(GpudnnError, RuntimeError):
    """A CUDA kernel from ``kernels/`` failed to compile; the message has its name and NVRTC's log."""


class DatasetError(InvalidInputError):
    """A data set file that is missing, truncated, corrupt or failed to download.

    The message names the file and, where the fix is to supply it by hand, where to put it.
    """


class FileFormatError(InvalidInputError):
    """A model or weights file that is missing, truncated, corrupt or not a gpudnn file.

    The message names the file and what is wrong with it. Nothing was changed by the failed load.
    """


def unknown_name(kind, name, valid):
    """An UnknownNameError for ``name`` that lists the ``valid`` identifiers of ``kind``."""
    return UnknownNameError(
        f"unknown {kind} {name!r}; valid {kind} names are: {', '.join(sorted(valid))}"
    )
