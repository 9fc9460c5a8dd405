"""The TensorBoard callback: TFRecord framing with CRC-32C (the standard check value of
"123456789"), Keras's tags and directories (train/epoch_loss, validation/epoch_accuracy...),
batch scalars with update_freq, and the unsupported options refused. (TensorBoard 2.21's own
reader, ``EventAccumulator``, was run on these files once by hand: same tags, steps and values;
it is not a test dependency.)"""

import glob
import os

import numpy as np
import pytest

import gpudnn
from gpudnn import callbacks, layers, models
from gpudnn.errors import InvalidInputError
from gpudnn.utils import event_files


def test_crc32c_is_the_castagnoli_crc():
    assert event_files.crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert event_files.crc32c(b"") == 0


def test_a_written_file_reads_back_and_a_flipped_byte_is_caught(tmp_path):
    writer = event_files.EventWriter(str(tmp_path))
    writer.scalars(3, {"epoch_loss": 0.25, "epoch_accuracy": 0.875})
    writer.close()
    assert os.path.basename(writer.path).startswith("events.out.tfevents.")
    assert event_files.read_events(writer.path) == [(3, {"epoch_loss": 0.25,
                                                         "epoch_accuracy": 0.875})]
    data = bytearray(open(writer.path, "rb").read())
    data[-6] ^= 1
    open(writer.path, "wb").write(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        event_files.read_events(writer.path)


def model_and_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0] > 0).astype(int)]
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(2, activation="softmax", input_shape=(4,))])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model, x, y


def events(directory):
    (path,) = glob.glob(os.path.join(directory, "events.out.tfevents.*"))
    return event_files.read_events(path)


def test_epoch_scalars_as_keras_writes_them(tmp_path):
    model, x, y = model_and_data()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[callbacks.TensorBoard(log_dir=tmp_path / "logs")])
    train, validation = events(tmp_path / "logs" / "train"), events(tmp_path / "logs" / "validation")
    assert [step for step, _ in train] == [0, 1, 2] == [step for step, _ in validation]
    assert set(train[0][1]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert train[0][1]["epoch_learning_rate"] == pytest.approx(0.001)  # Adam's, as Keras logs
    assert set(validation[0][1]) == {"epoch_loss", "epoch_accuracy"}
    np.testing.assert_allclose([s["epoch_loss"] for _, s in train], history.history["loss"],
                               rtol=1e-6)
    np.testing.assert_allclose([s["epoch_accuracy"] for _, s in validation],
                               history.history["val_accuracy"], rtol=1e-6)


def test_batch_scalars_every_n_batches(tmp_path):
    model, x, y = model_and_data()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0,
              callbacks=[callbacks.TensorBoard(log_dir=tmp_path, update_freq=2)])
    steps = [step for step, scalars in events(tmp_path / "train") if "batch_loss" in scalars]
    assert steps == [2, 4, 6, 8]


@pytest.mark.parametrize("bad", [{"histogram_freq": 1}, {"write_images": True},
                                 {"profile_batch": 2}, {"update_freq": 0},
                                 {"update_freq": "sometimes"}])
def test_unsupported_options_are_refused(bad):
    with pytest.raises(InvalidInputError, match="TensorBoard"):
        callbacks.TensorBoard(**bad)
