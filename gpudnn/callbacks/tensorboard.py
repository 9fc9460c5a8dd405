"""``TensorBoard``: each epoch's logs as TensorBoard scalars, as Keras 3 writes them.

Under ``log_dir``: ``train/`` gets ``epoch_<name>`` for each training log (``epoch_loss``,
``epoch_accuracy``, ``epoch_learning_rate``), ``validation/`` gets ``epoch_<name>`` for each
``val_<name>``, at step = the epoch (from 0). With ``update_freq="batch"`` or an int N,
``train/`` also gets ``batch_<name>`` every N training batches (step = the batch count since
training began). The files are TensorBoard's event files, written by gpudnn/utils/event_files.py
(no TensorFlow needed): ``tensorboard --logdir <log_dir>`` shows them.

Keras's options for histograms, graphs, images, profiling and embeddings are refused when
switched on (they need TensorFlow); their off values are accepted.
"""

import os

from ..errors import InvalidInputError
from ..utils.event_files import EventWriter
from .callback import Callback


class TensorBoard(Callback):
    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        for name, value in (("histogram_freq", histogram_freq), ("write_images", write_images),
                            ("write_steps_per_second", write_steps_per_second),
                            ("profile_batch", profile_batch),
                            ("embeddings_freq", embeddings_freq),
                            ("embeddings_metadata", embeddings_metadata)):
            if value:
                raise InvalidInputError(
                    f"TensorBoard {name}={value!r} is not supported by gpudnn (it writes the "
                    f"epoch and batch scalars); leave {name} at its default")
        if update_freq != "epoch" and update_freq != "batch" and \
                (isinstance(update_freq, bool) or not isinstance(update_freq, int) or
                 update_freq < 1):
            raise InvalidInputError(f"TensorBoard update_freq must be 'epoch', 'batch' or a "
                                    f"positive int, not {update_freq!r}")
        self.log_dir = os.fspath(log_dir)
        self.write_graph = write_graph  # accepted: gpudnn has no graph to write
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers = {}
        self._batches = 0

    @property
    def wants_batch_logs(self):
        return self.update_freq != "epoch"

    def _writer(self, which):
        if which not in self._writers:
            self._writers[which] = EventWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs=None):
        self._batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.update_freq == "epoch" or self._batches % self.update_freq or not logs:
            return
        self._writer("train").scalars(self._batches, {f"batch_{k}": float(v)
                                                      for k, v in logs.items()
                                                      if _is_scalar(v)})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {f"epoch_{k}": float(v) for k, v in logs.items()
                 if not k.startswith("val_") and _is_scalar(v)}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and _is_scalar(getattr(optimizer, "learning_rate", None)):
            train["epoch_learning_rate"] = float(optimizer.learning_rate)  # as Keras, always
        validation = {f"epoch_{k[4:]}": float(v) for k, v in logs.items()
                      if k.startswith("val_") and _is_scalar(v)}
        if train:
            self._writer("train").scalars(epoch, train)
        if validation:
            self._writer("validation").scalars(epoch, validation)

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _is_scalar(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
