"""``compile``: the model's loss, optimizer and metrics (only accuracy metrics are known)."""

from .. import losses, optimizers
from ..errors import InvalidInputError, NotCompiledError, unknown_name
from .recorded_steps import RecordedSteps

_METRICS = {"accuracy": None, "acc": None, "categorical_accuracy": "categorical",
            "sparse_categorical_accuracy": "categorical", "binary_accuracy": "binary"}


class Compiled:
    """Mixin of ``Sequential``: ``compile`` and what the step asks of the compiled setup."""

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, the loss and the metrics (only accuracy metrics are known)."""
        if loss is None:
            raise InvalidInputError("compile() needs a loss, e.g. loss='categorical_crossentropy'")
        self.loss = losses.get(loss)
        self.optimizer = optimizers.get(optimizer)
        names = [metrics] if isinstance(metrics, str) else list(metrics or [])
        for name in names:
            if not isinstance(name, str) or name.lower() not in _METRICS:
                raise unknown_name("metric", name, _METRICS)
        self.metric_names = names
        if self.built:
            self._steps = RecordedSteps()
            self._build_optimizer(self.optimizer)

    def _metric_mode(self, name):
        mode = _METRICS[name.lower()]
        if mode is None:  # "accuracy" means what fits the loss and output, as in Keras
            mode = "binary" if self.output_dim == 1 else self.loss.accuracy_mode
        return mode

    def _require_compiled(self, what):
        if self.loss is None:
            raise NotCompiledError(
                f"{what}() was called before compile(); call model.compile(optimizer=..., "
                f"loss=..., metrics=[...]) first")
