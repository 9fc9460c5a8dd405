"""The batched forward pass behind ``evaluate``, ``predict`` and fit's validation."""

from .progbar import ProgressBar


def inference_batches(model, x_dev, batch_size, verbose, read_logs):
    """Forward x_dev batch by batch; yields ``(rows, outputs)`` for each and draws the
    progress bar with ``read_logs(samples_done)``. The batches are row slices of x_dev."""
    n = x_dev.shape[0]
    steps = -(-n // batch_size)
    bar = ProgressBar(steps, verbose)
    for step in range(steps):
        rows = slice(step * batch_size, min(n, (step + 1) * batch_size))
        ws = model._workspace(rows.stop - rows.start, with_grads=False)
        yield rows, model._forward(x_dev[rows], ws)
        bar.update(step + 1, lambda done=rows.stop: read_logs(done))
    bar.update(steps, lambda: read_logs(n), finalize=True)


def evaluate_on_device(model, x_dev, y_dev, batch_size, prefix="", verbose=0):
    """Mean loss and metrics of device data as Keras logs (one host sync at the end)."""
    totals = model._new_totals()
    read_logs = lambda done: model._logs(totals, done, prefix)  # noqa: E731
    for rows, prediction in inference_batches(model, x_dev, batch_size, verbose, read_logs):
        model._accumulate(prediction, y_dev[rows], totals)
    return read_logs(x_dev.shape[0])
