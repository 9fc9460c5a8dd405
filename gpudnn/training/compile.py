"""``compile``: the model's loss, optimizer and metrics (only accuracy metrics are known)."""

from .. import losses, optimizers
from ..errors import InvalidInputError, NotCompiledError, unknown_name
from .recorded_steps import RecordedSteps

_METRICS = {"accuracy": None, "acc": None, "categorical_accuracy": "categorical",
            "sparse_categorical_accuracy": "categorical", "binary_accuracy": "binary"}


class Compiled:
    """Mixin of ``Sequential``: ``compile`` and what the step asks of the compiled setup."""

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None):
        """Choose the optimizer, the loss and the metrics (only accuracy metrics are known).

        ``metrics`` ignore sample weights; ``weighted_metrics`` weigh each sample by its
        ``sample_weight`` / ``class_weight`` (``sum_i w_i correct_i / sum_i w_i``), as in Keras.
        A weighted metric whose name is also a plain metric's is logged as ``weighted_<name>``.
        """
        if loss is None:
            raise InvalidInputError("compile() needs a loss, e.g. loss='categorical_crossentropy'")
        self.loss = losses.get(loss)
        if self.loss.reduction not in losses.TRAINABLE_REDUCTIONS:
            raise InvalidInputError(
                f"{self.loss!r}: fit trains on the batch mean of the losses (reduction "
                f"'sum_over_batch_size' or 'mean', Keras's default); reduction="
                f"{self.loss.reduction!r} is for calling the loss on arrays. Compile with "
                f"{type(self.loss).__name__}() (its learning-rate scale differs from 'sum' by the "
                f"batch size)")
        self.optimizer = optimizers.get(optimizer)
        plain, weighted = _metric_list(metrics), _metric_list(weighted_metrics)
        self.metric_names = plain + [f"weighted_{name}" if name in plain else name
                                     for name in weighted]
        #: log name -> (metric identifier, weighted)
        self._metric_info = {**{name: (name, False) for name in plain},
                             **{log: (name, True) for log, name in
                                zip(self.metric_names[len(plain):], weighted)}}
        if self.built:
            self._steps = RecordedSteps()
            self._build_optimizer(self.optimizer)

    def _metric_mode(self, name):
        mode = _METRICS[self._metric_identifier(name).lower()]
        if mode is None:  # "accuracy" means what fits the loss and output, as in Keras
            mode = "binary" if self.output_dim == 1 else self.loss.accuracy_mode
        return mode

    def _metric_identifier(self, name):
        """The identifier a logged metric was compiled from ("weighted_acc" -> "acc")."""
        return self.__dict__.get("_metric_info", {}).get(name, (name, False))[0]

    def _metric_weighted(self, name):
        return self.__dict__.get("_metric_info", {}).get(name, (name, False))[1]

    def get_compile_config(self):
        """What ``compile`` was given, as Keras 3's ``get_compile_config``: ``{"optimizer",
        "loss", "metrics", "weighted_metrics"}`` (the optimizer and loss as objects), or None
        before compile."""
        if self.loss is None:
            return None
        return {"optimizer": self.optimizer, "loss": self.loss,
                "metrics": self._compiled_metrics(False),
                "weighted_metrics": self._compiled_metrics(True)}

    def _compiled_metrics(self, weighted):
        return [self._metric_identifier(name) for name in self.metric_names
                if self._metric_weighted(name) == weighted]

    def _require_compiled(self, what):
        if self.loss is None:
            raise NotCompiledError(
                f"{what}() was called before compile(); call model.compile(optimizer=..., "
                f"loss=..., metrics=[...]) first")


def _metric_list(metrics):
    """Metric identifiers, checked: a name or a list of names Keras knows (accuracies here)."""
    names = [metrics] if isinstance(metrics, str) else list(metrics or [])
    for name in names:
        if not isinstance(name, str) or name.lower() not in _METRICS:
            raise unknown_name("metric", name, _METRICS)
    if len(set(names)) != len(names):
        raise InvalidInputError(f"metrics {names} name one metric twice; list each once")
    return names
