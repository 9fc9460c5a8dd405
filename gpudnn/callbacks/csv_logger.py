"""``CSVLogger``: one CSV row per epoch, ``epoch`` (from 0, as Keras) then the logs' keys sorted.

The keys are fixed by the first epoch's logs, and when they have no ``val_`` key their
``val_`` keys are added after them, as Keras does (validation may start later, with
``validation_freq``); a key missing from an epoch's logs is written ``NA``. With
``append=True`` rows go after an existing file's (no second header when it has one).
"""

import csv
import os

import numpy as np

from ..errors import InvalidInputError
from .callback import Callback


class CSVLogger(Callback):
    wants_batch_logs = False

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        if not isinstance(separator, str) or len(separator) != 1:
            raise InvalidInputError(f"CSVLogger separator must be one character, not {separator!r}")
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = bool(append)
        self.keys = None
        self.writer = None
        self.csv_file = None

    def on_train_begin(self, logs=None):
        header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename, encoding="utf-8") as f:
                header = not f.readline()
        self._close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="",
                             encoding="utf-8")
        self._header = header
        self.keys = None
        self.writer = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                # Keras's rule: validation may come later (validation_freq), so its columns
                # are there from the start ("NA" until then)
                self.keys += ["val_" + key for key in self.keys]
        if self.writer is None:
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         delimiter=self.sep, lineterminator="\n")
            if self._header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: _cell(logs.get(key, "NA"))
                                                 for key in self.keys}})
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _cell(value):
    """A log value as its CSV cell: a metric of several values (one per threshold) as
    ``[v1, v2]``, as Keras writes it."""
    if isinstance(value, np.ndarray) and value.ndim:
        return "[" + ", ".join(map(str, value)) + "]"
    return value
