"""Keras-style progress output for ``fit`` and ``evaluate``.

verbose=1 on a terminal redraws one line in place, at most every ``interval`` seconds::

    469/469 ━━━━━━━━━━━━━━━━━━━━ 2s 4ms/step - accuracy: 0.8213 - loss: 0.5032

verbose=1 elsewhere (a log, a pipe) prints that line once, when the epoch ends; verbose=2 prints
``469/469 - 2s - 4ms/step - accuracy: 0.8213 - loss: 0.5032``; verbose=0 prints nothing. The
metric values are read from the device only when a line is drawn.
"""

import sys
import time

import numpy as np

BAR_WIDTH = 20


def format_logs(logs):
    """``" - accuracy: 0.8213 - loss: 0.5032"`` with keys in alphabetical order, as Keras shows
    (a metric of several values, one per threshold, shows their mean, as Keras's)."""
    return "".join(f" - {key}: {float(np.mean(value)):.4f}" for key, value in sorted(logs.items()))


def format_duration(seconds):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"


class ProgressBar:
    """Draws the progress of ``target`` steps; ``update(step, read_logs)`` after each step."""

    def __init__(self, target, verbose=1, stream=None, interval=0.1):
        self.target = target
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.interactive = verbose == 1 and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def update(self, step, read_logs, finalize=False):
        """Record that ``step`` of ``target`` steps are done; ``read_logs()`` gives the metrics."""
        if self.verbose == 0:
            return
        now = time.perf_counter()
        if not finalize and not (self.interactive and now - self._last_draw >= self.interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        per_step = format_duration(elapsed / max(step, 1))
        logs = format_logs(read_logs())
        # a source of unknown length (a generator without steps_per_epoch) shows "Unknown"
        target = "Unknown" if self.target is None else self.target
        width = len(str(target))
        if self.verbose == 2:
            line = f"{step:>{width}}/{target} - {elapsed:.0f}s - {per_step}/step{logs}"
        else:
            line = f"{step:>{width}}/{target} {self._bar(step)} {elapsed:.0f}s {per_step}/step{logs}"
        if self.interactive:
            self.stream.write("\r" + line + "\x1b[K" + ("\n" if finalize else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _bar(self, step):
        if self.target is None:
            return ""
        done = BAR_WIDTH * step // max(self.target, 1)
        if self.interactive:
            return f"\x1b[32m{'━' * done}\x1b[0m\x1b[37m{'━' * (BAR_WIDTH - done)}\x1b[0m"
        return "━" * done + " " * (BAR_WIDTH - done)
