"""``compile``: the model's loss, optimizer and metrics (Keras 3's names and metric objects)."""

from .. import losses, metrics as metrics_module, optimizers
from ..errors import InvalidInputError, NotCompiledError, UnknownNameError, unknown_name
from .recorded_steps import RecordedSteps

_METRICS = {"accuracy": None, "acc": None, "categorical_accuracy": "categorical",
            "sparse_categorical_accuracy": "categorical", "binary_accuracy": "binary"}


class Compiled:
    """Mixin of ``Sequential``: ``compile`` and what the step asks of the compiled setup."""

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, weighted_metrics=None,
                auto_scale_loss=True):
        """Choose the optimizer, the loss and the metrics: names (``"accuracy"``, ``"auc"``,
        ``"mse"``, ...), ``gpudnn.metrics`` objects or their serialized dicts.

        ``auto_scale_loss`` (Keras 3): when a layer computes in float16 (``mixed_float16``),
        the optimizer is wrapped in a ``LossScaleOptimizer`` (unless it is one already).

        ``metrics`` ignore sample weights; ``weighted_metrics`` weigh each sample by its
        ``sample_weight`` / ``class_weight`` (``sum_i w_i correct_i / sum_i w_i``), as in Keras.
        A weighted metric whose name is also a plain metric's is logged as ``weighted_<name>``;
        two metrics of one name are logged ``auc``, ``auc_1``, as Keras 3 logs them.
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
        if auto_scale_loss and not isinstance(self.optimizer, optimizers.LossScaleOptimizer) \
                and any(layer.half_dtype() == "float16" for layer in self._leaves()):
            self.optimizer = optimizers.LossScaleOptimizer(self.optimizer)
        plain, weighted = _metric_list(metrics), _metric_list(weighted_metrics)
        self.metric_names = _log_names([log for log, _, _ in plain],
                                       [log for log, _, _ in weighted])
        #: log name -> (identifier as given, weighted, Metric object or None for the accuracy
        #: names the step counts itself)
        flags = [False] * len(plain) + [True] * len(weighted)
        self._metric_info = {log: (ident, flag, obj) for log, (_, ident, obj), flag
                             in zip(self.metric_names, plain + weighted, flags)}
        self.__dict__.pop("_running", None)  # train_on_batch's running metrics start over
        if self.built:
            self._steps = RecordedSteps()
            self._build_optimizer(self.optimizer)

    @property
    def metrics_names(self):
        """``["loss", *metric names]``: the names of what ``evaluate`` returns, in its order
        (``dict(zip(model.metrics_names, model.evaluate(x, y)))``)."""
        return ["loss", *self.metric_names]

    def _metric_mode(self, name):
        """"categorical" or "binary" for an accuracy the step counts with accumulate_correct
        (a Metric object's accuracy_mode: "categorical" or None)."""
        metric = self._metric_object(name)
        if metric is not None:
            return metric.accuracy_mode
        mode = _METRICS[self._metric_identifier(name).lower()]
        if mode is None:  # "accuracy" means what fits the loss and output, as in Keras
            mode = "binary" if self.output_dim == 1 else self.loss.accuracy_mode
        return mode

    def _metric_identifier(self, name):
        """The identifier a logged metric was compiled from ("weighted_acc" -> "acc")."""
        return self.__dict__.get("_metric_info", {}).get(name, (name, False, None))[0]

    def _metric_weighted(self, name):
        return self.__dict__.get("_metric_info", {}).get(name, (name, False, None))[1]

    def _metric_object(self, name):
        """The gpudnn.metrics object behind a logged metric, or None (an accuracy name)."""
        return self.__dict__.get("_metric_info", {}).get(name, (name, False, None))[2]

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
        self._check_weights_here(f"{what}()",
                                 training=what in ("fit", "train_on_batch", "gradients"))


def _metric_list(metrics):
    """``[(log name, identifier, Metric or None)]`` of a metric or a list of them: the accuracy
    names of _METRICS stay names (the step counts them itself), anything else goes through
    ``gpudnn.metrics.get`` (a string is logged as written, an object under its name)."""
    single = isinstance(metrics, (str, dict, metrics_module.Metric))
    items = [metrics] if single else list(metrics or [])
    out = []
    for item in items:
        if isinstance(item, str) and item.lower() in _METRICS:
            out.append((item, item, None))
            continue
        try:
            metric = metrics_module.get(item)
        except UnknownNameError:
            raise unknown_name("metric", item, {**_METRICS, **metrics_module.NAMES}) from None
        problem = metric.compile_problem() if metric is not None else "None is no metric"
        if problem:
            raise InvalidInputError(f"{metric!r} cannot be compiled: {problem}")
        named = isinstance(item, str)
        out.append((item if named else metric.name, item if named else metric, metric))
    return out


def _log_names(plain, weighted):
    """The names the logs give the metrics, Keras 3's (``CompileMetrics.result``): a name
    already taken is numbered, ``auc``, ``auc_1``, ``auc_2``; a weighted metric whose name is
    taken is ``weighted_<name>`` (numbered when that is taken too)."""
    counts = {}

    def take(name):
        index = counts.get(name, 0)
        counts[name] = index + 1
        return name if index == 0 else f"{name}_{index}"

    names = [take(name) for name in plain]
    names += [take(name if name not in counts else f"weighted_{name}") for name in weighted]
    if len(set(names)) != len(names):  # a number made a name listed as it is ("auc_1")
        raise InvalidInputError(f"the metrics would be logged as {names}, one name twice; "
                                f"give them different name=")
    return names
