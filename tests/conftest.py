"""Shared fixtures: a fixed seed for every test, small data sets."""

import numpy as np
import pytest

import gpudnn


@pytest.fixture(autouse=True)
def _seeded():
    gpudnn.set_seed(1234)
    yield


def blobs(n=300, features=6, classes=3, seed=0, spread=0.6):
    """Well-separated Gaussian blobs: x (n, features) float32, labels (n,) int."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 3, (classes, features))
    labels = rng.integers(0, classes, n)
    x = centers[labels] + rng.normal(0, spread, (n, features))
    return x.astype(np.float32), labels
