"""Seconds per ``fit`` epoch of the course model in a given checkout, for before/after
comparisons across commits (each call its own process; alternate the checkouts):

    python bench/fit_time.py PATH [EPOCHS] [ACTIVATION]

PATH is a checkout's root (its ``gpudnn`` is imported). The model: Dense(512, ACTIVATION (default
relu; the course's sigmoid and tanh too), input 784) -> Dense(10, softmax), Adam, categorical cross-entropy, accuracy, batch 128, on the 4,000
embedded training digits, on the CPU (the recorded step as fit runs it). Prints every epoch's
seconds (the first holds the recording) and the median of epochs 2..EPOCHS with its min and max.
"""

import statistics
import sys
import time


def main():
    root = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    activation = sys.argv[3] if len(sys.argv) > 3 else "relu"
    sys.path.insert(0, root)
    import gpudnn
    from gpudnn import callbacks, layers, models, optimizers
    from gpudnn.datasets import sample
    from gpudnn.utils import to_categorical

    (x, y), _ = sample.load_data()
    x = x.reshape(len(x), 784).astype("float32") / 255
    y = to_categorical(y)
    gpudnn.set_seed(0)
    model = models.Sequential([layers.Dense(512, activation=activation, input_shape=(784,)),
                               layers.Dense(10, activation="softmax")], device="cpu")
    model.compile(optimizer=optimizers.Adam(), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    seconds = []

    class EpochClock(callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.start)

    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, callbacks=[EpochClock()])
    steady = seconds[1:]
    print("epochs: " + " ".join(f"{s:.3f}" for s in seconds))
    print(f"fit epoch: {statistics.median(steady):.3f} s median of epochs 2..{epochs} "
          f"(min {min(steady):.3f}, max {max(steady):.3f})")


if __name__ == "__main__":
    main()
