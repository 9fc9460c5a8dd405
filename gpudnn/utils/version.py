"""gpudnn's version (the one in pyproject.toml), written into every model file."""

__version__ = "0.1.0"
