"""Keras 3's automatic names, and ``clear_session``, which starts them over.

An object created without ``name=`` takes its class name in snake_case, made unique in the
process as Keras's ``auto_name`` does: ``Dense`` -> ``dense``, then ``dense_1``, ``dense_2``...;
``LeakyReLU`` -> ``leaky_re_lu``; a second ``AUC()`` -> ``auc_1``. The counters are one per
name, shared by layers and metrics, as Keras's ``object_name_uids``.
"""

import gc
import itertools
import re
from collections import defaultdict

from .. import dtype_policies

_counters = defaultdict(itertools.count)


def snake_case(cls_name):
    """``"LeakyReLU"`` -> ``"leaky_re_lu"``, ``"AUC"`` -> ``"auc"`` (Keras's ``to_snake_case``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls_name).lower()


def auto_name(cls_name):
    """The next automatic name of an object of class ``cls_name`` in this process."""
    base = snake_case(cls_name)
    index = next(_counters[base])
    return base if index == 0 else f"{base}_{index}"


def reset_names():
    """Start every automatic name over (``dense``, ``auc``...)."""
    _counters.clear()


def clear_session(free_memory=True):
    """Keras 3's ``keras.utils.clear_session`` / ``keras.backend.clear_session``: forget the
    global state gpudnn keeps, so that the next objects are named as in a new process
    (``dense``, ``auc``) and the global dtype policy is float32 again (also
    ``gpudnn.backend.clear_session``). ``free_memory``: run Python's garbage collector, which
    frees the memory of models no longer referenced."""
    reset_names()
    dtype_policies.set_global(None)
    if free_memory:
        gc.collect()
