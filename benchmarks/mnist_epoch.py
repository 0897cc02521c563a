"""Seconds per MNIST training epoch: the reference package against PyTorch on the CPU.

The network and settings are the course's: 784-256-128-10 ReLU, float32,
SGD with momentum 0.9, lr 0.05, batch 128, a fresh shuffle per epoch, and the
loss and accuracy tallied per batch. Both run in this process, on the same
data, with the same number of threads; epochs alternate between them and the
median of each is reported. Also timed: the epoch's matrix products alone (the
same shapes, nothing else), the floor any NumPy implementation sits on.

    make bench                # installs the CPU build of torch, then runs this
    python -m benchmarks.mnist_epoch --epochs 3
"""

import argparse
import statistics
import time

import numpy as np

from autograder.student.mnist import load_mnist
from solutions import MLP, SGD, SoftmaxCrossEntropy
from solutions.train import train

SIZES = [784, 256, 128, 10]
LR, MOMENTUM, BATCH = 0.05, 0.9, 128


def numpy_contender(data, seed):
    """A function that trains the reference MLP for one epoch and returns its seconds."""
    rng = np.random.default_rng(seed)
    model = MLP(SIZES, "relu", rng=rng)
    optimizer, loss_fn = SGD(model.parameters(), LR, MOMENTUM), SoftmaxCrossEntropy()

    def epoch():
        history = train(
            model,
            loss_fn,
            optimizer,
            data.X_train,
            data.y_train,
            epochs=1,
            batch_size=BATCH,
            rng=rng,
            progress=False,
        )
        return history.seconds[0]

    return epoch


def torch_contender(data, seed):
    """The same network and settings in idiomatic PyTorch, one epoch per call."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        start = time.perf_counter()
        total_loss, correct = 0.0, 0
        order = torch.randperm(len(X))
        for begin in range(0, len(X), BATCH):
            index = order[begin : begin + BATCH]
            xb, yb = X[index], y[index]
            optimizer.zero_grad(set_to_none=True)
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            correct += int((logits.argmax(dim=1) == yb).sum())
        return time.perf_counter() - start

    return epoch


def matmul_contender(data, seed):
    """Only the matrix products of an epoch: 3 forward, 3 for dW, 2 for dX per batch."""
    rng = np.random.default_rng(seed)
    weights = [
        rng.standard_normal((d_out, d_in), dtype=np.float32)
        for d_in, d_out in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    n = len(data.X_train)
    inputs = [data.X_train[begin : begin + BATCH] for begin in range(0, n, BATCH)]

    def epoch():
        start = time.perf_counter()
        for batch in inputs:
            activations = [batch]
            for W in weights:
                activations.append(activations[-1] @ W.T)
            grad = activations[-1]
            for layer in reversed(range(len(weights))):
                grad.T @ activations[layer]  # dW
                if layer:
                    grad = grad @ weights[layer]  # dX
        return time.perf_counter() - start

    return epoch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per contender")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    data = load_mnist(args.data_dir, progress=False)
    try:
        import torch
    except ImportError:
        raise SystemExit(
            "PyTorch is not installed: `pip install torch==2.13.0` (CPU build), or run `make bench`"
        ) from None  # the message says all; the ImportError's traceback adds nothing
    import threadpoolctl

    blas = ", ".join(
        f"{pool['internal_api']} {pool['num_threads']} threads"
        for pool in threadpoolctl.threadpool_info()
    )
    print(
        f"numpy {np.__version__} ({blas}); "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )

    contenders = {
        "numpy (solutions)": numpy_contender(data, args.seed),
        "pytorch": torch_contender(data, args.seed),
        "matrix products only": matmul_contender(data, args.seed),
    }
    # Epochs alternate between contenders, so that anything else the machine
    # does at the time slows all of them alike.
    results = {name: [] for name in contenders}
    for _ in range(args.epochs):
        for name, epoch in contenders.items():
            results[name].append(epoch())
    medians = {name: statistics.median(seconds) for name, seconds in results.items()}
    for name, seconds in results.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{name:22s} {medians[name]:6.2f} s per epoch (median of {runs})")
    ratio = medians["numpy (solutions)"] / medians["pytorch"]
    floor = medians["numpy (solutions)"] / medians["matrix products only"]
    print(f"solutions / pytorch = {ratio:.2f} ({'faster' if ratio < 1 else 'slower'} than PyTorch)")
    print(f"solutions / matrix products = {floor:.2f}")


if __name__ == "__main__":
    main()
