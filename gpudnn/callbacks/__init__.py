"""Callbacks for ``fit``, with Keras 3's names, arguments and semantics. Subclass ``Callback``
and override the hooks you need (see callback.py for the hooks and for when batch logs are read
from the device)."""

from .backup_and_restore import BackupAndRestore
from .callback import Callback
from .callback_list import CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
           "TerminateOnNaN", "CSVLogger", "LearningRateScheduler", "ReduceLROnPlateau",
           "BackupAndRestore", "LambdaCallback", "TensorBoard"]
