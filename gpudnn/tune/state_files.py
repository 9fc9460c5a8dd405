"""Keeping Ray Tune's experiment state resumable when the driver is killed.

Ray writes the experiment's state (``experiment_state-*.json``, the search algorithm's
``*-state-*.json``) into the experiment folder by copying it there, not atomically: a driver
killed during the copy leaves a torn JSON file, and ``Tuner.restore`` then fails to restore the
run ("Failed to restore the run state") and loses the trials. ``StateBackup`` keeps the last
copy of each such file that parses, written atomically beside the experiment, and
``repair(experiment)`` puts it back in place of a torn one before a resume. The backup may be a
step behind: the trials it shows as running then resume from their last checkpoint, which
trains no finished epoch again (``report.restore_latest``).
"""

import json
import os
import shutil

from ray.tune import Callback

from ..saving import atomic_write

BACKUP = "state-backup"


def _state_files(experiment):
    return sorted(name for name in os.listdir(experiment)
                  if name.endswith(".json") and "state" in name)


def _parses(path):
    try:
        with open(path, "rb") as f:
            json.loads(f.read())
        return True
    except (OSError, ValueError):
        return False


def backup_folder(experiment):
    return os.path.join(os.path.dirname(experiment), BACKUP)


class StateBackup(Callback):
    """After every step of the Tune loop, the experiment's state files that changed and parse
    are copied (atomically) into ``<storage>/state-backup``."""

    def __init__(self, experiment):
        self.experiment = experiment
        self._seen = {}

    def on_step_end(self, iteration, trials, **info):
        if not os.path.isdir(self.experiment):
            return
        folder = backup_folder(self.experiment)
        os.makedirs(folder, exist_ok=True)
        for name in _state_files(self.experiment):
            path = os.path.join(self.experiment, name)
            try:
                stamp = os.stat(path)
            except OSError:
                continue
            key = (stamp.st_mtime_ns, stamp.st_size)
            if self._seen.get(name) == key:
                continue
            with open(path, "rb") as f:
                data = f.read()
            try:
                json.loads(data)
            except ValueError:
                continue  # being copied right now: the next step takes it
            atomic_write(os.path.join(folder, name), lambda f, data=data: f.write(data))
            self._seen[name] = key


def repair(experiment):
    """Replace each torn state file of ``experiment`` with its last good backup; returns the
    names replaced."""
    folder = backup_folder(experiment)
    replaced = []
    for name in _state_files(experiment):
        path, saved = os.path.join(experiment, name), os.path.join(folder, name)
        if not _parses(path) and _parses(saved):
            shutil.copyfile(saved, path + ".repair")
            os.replace(path + ".repair", path)
            replaced.append(name)
    return replaced
