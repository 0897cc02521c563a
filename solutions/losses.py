"""Losses, averaged over the batch.

A loss has ``forward(logits, targets) -> float`` and ``backward() -> dL/dlogits``
(same shape as the logits).
"""

import numpy as np

from .layers import sigmoid
from .validation import cached, check_array


def log_softmax(z):
    """Row-wise log-softmax of z: (B, C), stable for any logit size (shift by the max)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax(z):
    """Row-wise softmax of z: (B, C); rows sum to 1."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def class_targets(targets, batch, classes, owner):
    """Normalise targets to integer labels (B,): accepts labels (B,) or one-hot (B, C)."""
    targets = np.asarray(targets)
    if targets.ndim == 2:
        if targets.shape != (batch, classes):
            raise ValueError(
                f"{owner}: one-hot targets have shape {targets.shape}, expected {(batch, classes)}"
            )
        if not np.all((targets == 0) | (targets == 1)) or not np.all(targets.sum(axis=1) == 1):
            raise ValueError(f"{owner}: 2-D targets must be one-hot (a single 1 per row)")
        return targets.argmax(axis=1)
    if targets.shape != (batch,):
        raise ValueError(
            f"{owner}: targets have shape {targets.shape}; expected class labels of shape "
            f"({batch},) or one-hot of shape ({batch}, {classes})"
        )
    if targets.dtype.kind not in "iu":  # not a (signed or unsigned) integer type
        if not np.all(np.mod(targets, 1) == 0):
            raise TypeError(f"{owner}: class labels must be integers, got dtype {targets.dtype}")
        targets = targets.astype(np.int64)
    if batch and (targets.min() < 0 or targets.max() >= classes):
        raise ValueError(
            f"{owner}: labels must lie in 0..{classes - 1}, found "
            f"{targets.min()}..{targets.max()}; check the number of output units"
        )
    return targets


class SoftmaxCrossEntropy:
    """Cross-entropy of softmax(logits) against class labels, averaged over the batch.

    forward(logits: (B, C), targets: (B,) int or (B, C) one-hot) -> float
    backward() -> (softmax(logits) - Y) / B, shape (B, C)
    """

    def forward(self, logits, targets):
        check_array(logits, "logits", self, ndim=2)
        batch, classes = logits.shape
        self._labels = class_targets(targets, batch, classes, type(self).__name__)
        log_p = log_softmax(logits)
        self._probs = np.exp(log_p)
        return float(-log_p[np.arange(batch), self._labels].mean())

    def backward(self):
        probs = cached(self, "_probs")
        batch = probs.shape[0]
        grad = probs.copy()
        grad[np.arange(batch), self._labels] -= 1
        grad /= batch
        return grad

    __call__ = forward


class MSELoss:
    """Mean squared error over all entries (as torch.nn.MSELoss).

    forward(pred: (B, ...), target: same shape) -> float
    backward() -> 2 (pred - target) / pred.size
    """

    def forward(self, pred, target):
        check_array(pred, "pred", self)
        target = np.asarray(target, dtype=pred.dtype)
        if target.shape != pred.shape:
            raise ValueError(
                f"MSELoss: target has shape {target.shape} but pred has {pred.shape}; "
                "reshape one of them (no broadcasting is done)"
            )
        self._diff = pred - target
        return float(np.mean(self._diff**2))

    def backward(self):
        diff = cached(self, "_diff")
        return 2 * diff / diff.size

    __call__ = forward


class BinaryCrossEntropyWithLogits:
    """Binary cross-entropy on logits, averaged over all entries.

    forward(logits: (B,) or (B, 1), targets in {0, 1} of the same shape) -> float
    backward() -> (sigmoid(logits) - targets) / N
    Stable: log(1 + exp(z)) is computed as max(z, 0) + log1p(exp(-|z|)).
    """

    def forward(self, logits, targets):
        check_array(logits, "logits", self)
        targets = np.asarray(targets)
        if targets.shape != logits.shape:
            raise ValueError(
                f"BinaryCrossEntropyWithLogits: targets have shape {targets.shape} but logits "
                f"have {logits.shape}; reshape one of them (no broadcasting is done)"
            )
        if not np.all((targets == 0) | (targets == 1)):
            raise ValueError("BinaryCrossEntropyWithLogits: targets must be 0 or 1")
        self._logits, self._targets = logits, targets.astype(logits.dtype)
        softplus = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
        return float(np.mean(softplus - self._targets * logits))

    def backward(self):
        logits = cached(self, "_logits")
        return (sigmoid(logits) - self._targets) / logits.size

    __call__ = forward
