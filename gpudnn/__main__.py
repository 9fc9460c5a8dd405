"""``python -m gpudnn``: the same as the ``gpudnn`` command."""

from .cli import main

raise SystemExit(main())
