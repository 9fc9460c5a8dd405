"""A live line per trial event of a sweep: each epoch a trial reports, and its end."""

from ray.tune import Callback


def trial_label(config):
    """``adam lr=0.001 relu seed 0`` (``lr=default`` where the optimizer's Keras default runs)."""
    lr = "default" if config.get("lr") is None else f"{config['lr']:.3g}"
    return f"{config['optimizer']} lr={lr} {config['activation']} seed {config['seed']}"


class ProgressLines(Callback):
    """Prints ``trial 3/12 adam lr=0.001 relu seed 0: epoch 2/5 loss 0.3121 acc 91.20%
    test 90.10%`` as results arrive, and a closing line when a trial ends or fails."""

    def __init__(self, spec, progress=print):
        self.total = spec.trials
        self.epochs = spec.epochs
        self.progress = progress
        self._numbers = {}

    def _prefix(self, trial):
        number = self._numbers.setdefault(trial.trial_id, len(self._numbers) + 1)
        return f"trial {number}/{self.total} {trial_label(trial.config)}"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        line = (f"{self._prefix(trial)}: epoch {result.get('epoch', '?')}/{self.epochs} "
                f"loss {result.get('loss', float('nan')):.4f} "
                f"acc {100 * result.get('accuracy', float('nan')):.2f}% "
                f"test {100 * result.get('test_accuracy', float('nan')):.2f}%")
        if result.get("diverged"):
            line += " - diverged (non-finite loss): stopped"
        self.progress(line)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.progress(f"{self._prefix(trial)}: done")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.progress(f"{self._prefix(trial)}: failed ({trial.num_failures} failures); "
                      f"see {trial.local_path or 'its folder'}")
