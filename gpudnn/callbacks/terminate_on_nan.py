"""``TerminateOnNaN``: stop training when the loss becomes NaN or infinite.

Keras checks every batch's logs, which here would cost a host sync per batch. This callback
does not ask for batch logs (``wants_batch_logs = False``): it checks the running loss whenever
``fit`` reads it anyway — progress-bar updates, batches whose logs another callback asked for,
and always the last batch of each epoch — so training stops at the latest at the end of the
epoch in which the loss first became non-finite. The running mean stays non-finite once one
batch's loss is, so nothing is missed.
"""

import math

from .callback import Callback


class TerminateOnNaN(Callback):
    wants_batch_logs = False

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True
