"""Mini-batch training: a fresh shuffle each epoch, a progress bar, a history."""

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm


@dataclass
class History:
    """Per-epoch measurements; the test entries stay empty without test data."""

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def as_dict(self):
        return {name: list(values) for name, values in vars(self).items()}


def minibatches(n, batch_size, rng):
    """Yield index arrays that cover range(n) once, in a fresh random order."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def predictions(logits):
    """Class predictions (B,): argmax over classes, or logit > 0 for a single output unit."""
    return (logits[:, 0] > 0).astype(np.int64) if logits.shape[1] == 1 else logits.argmax(axis=1)


def loss_targets(logits, labels):
    """Labels (B,) as the loss expects them: (B, 1) floats for a single output unit."""
    return labels.reshape(-1, 1).astype(logits.dtype) if logits.shape[1] == 1 else labels


def check_data(X, y, d_in):
    """Refuse mismatched data before training on garbage."""
    if X.ndim != 2 or X.shape[1] != d_in:
        raise ValueError(f"inputs have shape {X.shape}, but the model expects (N, {d_in})")
    if y.shape != (len(X),):
        raise ValueError(
            f"labels have shape {y.shape}; expected ({len(X)},), one label per input row"
        )


def evaluate(model, loss_fn, X, y, batch_size=1000):
    """Mean loss and accuracy of ``model`` on X: (N, d_in), y: (N,)."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(X), batch_size):
        logits = model.forward(X[start : start + batch_size])
        labels = y[start : start + batch_size]
        total_loss += loss_fn.forward(logits, loss_targets(logits, labels)) * len(labels)
        correct += int((predictions(logits) == labels).sum())
    return total_loss / len(X), correct / len(X)


def train(
    model,
    loss_fn,
    optimizer,
    X,
    y,
    *,
    epochs,
    batch_size,
    rng=None,
    test=None,
    lr_schedule=None,
    progress=True,
    on_epoch=None,
):
    """Train ``model`` in place with mini-batch SGD and return its History.

    X: (N, d_in), y: (N,) integer labels; ``test`` = (X_test, y_test) is
    evaluated after every epoch. ``lr_schedule(epoch) -> lr`` (epoch counted
    from 0) sets the optimizer's learning rate before each epoch. ``on_epoch(epoch, history)`` is
    called after
    each epoch (e.g. to print). The training loss and accuracy of an epoch are
    averaged over its mini-batches, measured as they are trained on.
    """
    rng = np.random.default_rng(rng)
    d_in = model.layers[0].d_in
    check_data(X, y, d_in)
    if test is not None:
        check_data(*test, d_in)
    history = History()
    steps = -(-len(X) // batch_size)
    for epoch in range(1, epochs + 1):
        if lr_schedule is not None:
            optimizer.lr = lr_schedule(epoch - 1)
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        batches = tqdm(
            minibatches(len(X), batch_size, rng),
            total=steps,
            leave=False,
            desc=f"epoch {epoch}/{epochs}",
            disable=not progress,
        )
        for index in batches:
            xb, yb = X[index], y[index]
            logits = model.forward(xb)
            loss = loss_fn.forward(logits, loss_targets(logits, yb))
            # The data needs no gradient: skip the first layer's dX.
            model.backward(loss_fn.backward(), need_input_grad=False)
            optimizer.step()
            total_loss += loss * len(index)
            correct += int((predictions(logits) == yb).sum())
        history.seconds.append(time.perf_counter() - start)
        history.loss.append(total_loss / len(X))
        history.accuracy.append(correct / len(X))
        if test is not None:
            test_loss, test_accuracy = evaluate(model, loss_fn, *test)
            history.test_loss.append(test_loss)
            history.test_accuracy.append(test_accuracy)
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
