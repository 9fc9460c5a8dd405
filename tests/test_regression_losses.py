"""Keras's Huber and LogCosh losses: the names, the config and saving keep delta; a bad delta is
refused. (One SGD step against Keras's formulas is in test_elementwise_loss_steps.py; the
kernels against NumPy, the weighted forms and the host call in the parametrized backend
tests.)"""

import pytest

from gpudnn import layers, losses, models
from gpudnn.errors import InvalidInputError


def test_names_config_and_saving_keep_delta(tmp_path):
    assert isinstance(losses.get("huber"), losses.Huber)
    assert isinstance(losses.get("log_cosh"), losses.LogCosh)
    huber = losses.Huber(delta=0.5, reduction="sum", name="robust")
    assert huber.get_config() == {"name": "robust", "reduction": "sum", "delta": 0.5}
    assert losses.deserialize(losses.serialize(huber)).delta == 0.5
    assert losses.Huber().name == "huber_loss" and losses.LogCosh().name == "log_cosh"
    model = models.Sequential([layers.Dense(2, input_shape=(3,))])
    model.compile(optimizer="sgd", loss=losses.Huber(delta=0.5))
    model.save(tmp_path / "m")
    assert models.load_model(tmp_path / "m").loss.delta == 0.5


@pytest.mark.parametrize("delta", [0, -1.0, float("nan"), "1", True, 10 ** 400])
def test_a_bad_delta_is_refused(delta):
    with pytest.raises(InvalidInputError, match="Huber delta must be a positive finite number"):
        losses.Huber(delta=delta)
