"""CUDA C sources of gpudnn's elementwise kernels, shipped as the package ``gpudnn.kernels``.

One ``.cu`` file per family (activations, losses, optimizers); the format is described at the top
of each file and parsed by :mod:`gpudnn.backend.kernel_source`. There is no Python code here.
"""
