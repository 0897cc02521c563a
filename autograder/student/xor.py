"""The XOR data set: four points that no linear model separates."""

import numpy as np


def xor_dataset(dtype=np.float64):
    """Return X: (4, 2) with rows (0,0), (0,1), (1,0), (1,1) and labels y: (4,) = [0, 1, 1, 0]."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=dtype)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return X, y
