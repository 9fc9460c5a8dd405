"""Training: the step (forward, backward, loss and update on a workspace: what a CUDA graph
captures), its recording, and the loops that walk data through it (fit, evaluate, predict).
The pieces are mixins of ``gpudnn.models.Sequential`` and functions over a model."""
