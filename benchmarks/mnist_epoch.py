"""Seconds per MNIST epoch: `python -m solutions train mnist` against a PyTorch CPU script.

    make bench                                   # installs torch's CPU build, then runs this
    .venv/bin/python benchmarks/mnist_epoch.py   # 5 rounds of 2- and 10-epoch runs, 2 threads
    .venv/bin/python benchmarks/mnist_epoch.py --runs 1 --short 1 --long 3   # a quick look

Three contenders, each run as its own process with the same thread settings
(OMP_NUM_THREADS, MKL_NUM_THREADS and OPENBLAS_NUM_THREADS all set to
`--threads`, default the number of CPUs; each process's own report of its
threads is printed):

1. `python -m solutions train mnist --no-progress`: the course's network and
   settings (784-256-128-10 ReLU, float32, SGD with momentum 0.9, lr 0.05
   along a cosine, batch 128, a fresh shuffle per epoch, loss and accuracy
   tallied per batch, the test set evaluated after every epoch);
2. the same network, settings and per-epoch work in plain PyTorch
   (`--child pytorch`, this file), on the same arrays from the same loader;
3. the matrix-product floor (`--child floor`): the epoch's products alone
   (training and test-set evaluation, the same shapes), in NumPy.

Each contender runs `--short` and `--long` epochs, `--runs` times, in
alternating order; every time is a whole process's wall time. The cost of one
epoch is (median long run - median short run) / (long - short): start-up
(imports, loading MNIST) cancels. Printed: each contender's seconds per epoch,
solutions / PyTorch per epoch, solutions / floor, and the whole `--long`-epoch
processes' ratio, start-up included, with the load average before and after.
The targets are about wall time; the CPU seconds of each process (all its threads)
are printed beside it. On a busy machine wall time is unreliable, with more than
one thread per process badly so (a thread waiting for a descheduled partner);
the benchmark says so when the load is above BUSY_LOAD before it starts. With
`--threads 1`, CPU time is the steadier comparison under load (still not an idle one).

`--one-process` also checks whether PyTorch is slower when it shares its
process with NumPy's training (as an earlier version of this benchmark ran
them): PyTorch's epochs timed inside a process that trains only PyTorch, then
inside one that alternates NumPy and PyTorch epochs.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = [784, 256, 128, 10]
LR, MOMENTUM, BATCH, EVAL_BATCH = 0.05, 0.9, 128, 1000
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# A 1-minute load average above this before starting means others are using the machine.
BUSY_LOAD = 0.5
HERE = Path(__file__).resolve()


# --- the processes timed -------------------------------------------------------------------


def solutions_command(epochs):
    return [
        sys.executable,
        "-m",
        "solutions",
        "train",
        "mnist",
        "--epochs",
        str(epochs),
        "--no-progress",
    ]


def child_command(name, epochs):
    return [sys.executable, str(HERE), "--child", name, "--epochs", str(epochs)]


def pytorch_epochs(epochs, *, interleave=None):
    """Train the course's network in PyTorch; returns [wall, CPU] seconds of each epoch.

    ``interleave(epoch)`` runs before each PyTorch epoch (the one-process check).
    """
    import torch
    from torch import nn

    from autograder.student.mnist import load_mnist

    data = load_mnist(progress=False)
    X_train, y_train = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    X_test, y_test = torch.from_numpy(data.X_test), torch.from_numpy(data.y_test)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10)
    )
    loss_fn = nn.CrossEntropyLoss()
    sgd = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(sgd, T_max=epochs)
    seconds = []
    for epoch in range(1, epochs + 1):
        if interleave is not None:
            interleave(epoch)
        start, cpu = time.perf_counter(), time.process_time()
        model.train()
        total_loss, correct = 0.0, 0
        for index in torch.randperm(len(X_train)).split(BATCH):
            xb, yb = X_train[index], y_train[index]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            sgd.zero_grad()
            loss.backward()
            sgd.step()
            total_loss += loss.item() * len(index)
            correct += int((logits.argmax(dim=1) == yb).sum())
        schedule.step()
        seconds.append([time.perf_counter() - start, time.process_time() - cpu])
        model.eval()
        test_loss, test_correct = 0.0, 0
        with torch.no_grad():
            for begin in range(0, len(X_test), EVAL_BATCH):
                xb, yb = X_test[begin : begin + EVAL_BATCH], y_test[begin : begin + EVAL_BATCH]
                logits = model(xb)
                test_loss += loss_fn(logits, yb).item() * len(yb)
                test_correct += int((logits.argmax(dim=1) == yb).sum())
        print(
            f"epoch {epoch}  loss {total_loss / len(X_train):.4f}  "
            f"train acc {correct / len(X_train):.2%}  test acc {test_correct / len(X_test):.2%}",
            file=sys.stderr,
        )
    return seconds


def floor_epochs(epochs):
    """The matrix products of the epochs alone, same shapes: per training batch 3 forward,
    3 for dW and 2 for dX (the data needs none); per test batch 3 forward."""
    import numpy as np

    from autograder.student.mnist import load_mnist

    data = load_mnist(progress=False)
    rng = np.random.default_rng(0)
    weights = [
        rng.standard_normal((d_out, d_in), dtype=np.float32)
        for d_in, d_out in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]
    train = [data.X_train[i : i + BATCH] for i in range(0, len(data.X_train), BATCH)]
    test = [data.X_test[i : i + EVAL_BATCH] for i in range(0, len(data.X_test), EVAL_BATCH)]
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for batch in train:
            activations = [batch]
            for W in weights:
                activations.append(activations[-1] @ W.T)
            grad = activations[-1]
            for layer in reversed(range(len(weights))):
                grad.T @ activations[layer]  # dW
                if layer:
                    grad = grad @ weights[layer]  # dX
        for batch in test:
            for W in weights:
                batch = batch @ W.T
        seconds.append(time.perf_counter() - start)
    return seconds


def numpy_interleave():
    """One NumPy training epoch of the reference package per call (the one-process check)."""
    import numpy as np

    from autograder.student.mnist import load_mnist
    from solutions import MLP, SGD, SoftmaxCrossEntropy
    from solutions.train import train

    data = load_mnist(progress=False)
    rng = np.random.default_rng(0)
    model = MLP(SIZES, "relu", rng=rng)
    optimizer = SGD(model.parameters(), LR, MOMENTUM)

    def epoch(_):
        train(
            model,
            SoftmaxCrossEntropy(),
            optimizer,
            data.X_train,
            data.y_train,
            epochs=1,
            batch_size=BATCH,
            rng=rng,
            progress=False,
        )

    return epoch


def threads_report(name):
    """What a contender's process uses: BLAS pools (threadpoolctl) or torch's threads."""
    if name == "pytorch":
        import torch

        return (
            f"torch {torch.__version__}: get_num_threads() = {torch.get_num_threads()}, "
            f"interop {torch.get_num_interop_threads()}"
        )
    import numpy as np
    import threadpoolctl

    pools = ", ".join(
        f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpoolctl.threadpool_info()
    )
    return f"numpy {np.__version__}: {pools} threads"


def run_child(args):
    if args.child == "threads":
        print(json.dumps([threads_report("numpy"), threads_report("pytorch")]))
        return
    if args.child == "pytorch":
        seconds = pytorch_epochs(args.epochs)
    elif args.child == "floor":
        seconds = floor_epochs(args.epochs)
    elif args.child == "pytorch-with-numpy":
        seconds = pytorch_epochs(args.epochs, interleave=numpy_interleave())
    print(json.dumps(seconds))


# --- the parent: alternate, time, report -------------------------------------------------


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(command, env):
    """(wall seconds, CPU seconds of all its threads, stdout) of one process."""
    start, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds, cpu_seconds = time.perf_counter() - start, children_cpu() - cpu
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return seconds, cpu_seconds, result.stdout


def load():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def one_process_check(env, epochs, runs):
    """Median [wall, CPU] seconds of PyTorch's epochs alone and beside NumPy training.

    CPU time counts every thread of the process, so threads that spin while
    waiting for work (one pool waiting while the other computes) show there.
    """
    alone, beside = [], []
    for _ in range(runs):
        for name, into in (("pytorch", alone), ("pytorch-with-numpy", beside)):
            *_, out = timed_run(child_command(name, epochs), env)
            into.extend(json.loads(out.splitlines()[-1]))
    return [
        [statistics.median(epoch[i] for epoch in into) for i in (0, 1)] for into in (alone, beside)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--short", type=int, default=2, help="epochs of the short run")
    parser.add_argument("--long", type=int, default=10, help="epochs of the long run")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads per process")
    parser.add_argument(
        "--one-process", action="store_true", help="also time PyTorch beside NumPy in one process"
    )
    parser.add_argument("--child", choices=["pytorch", "floor", "pytorch-with-numpy", "threads"])
    parser.add_argument("--epochs", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return run_child(args)
    if not args.long > args.short >= 1:
        parser.error("--long must be larger than --short, and --short at least 1")
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("PyTorch is not installed: `make bench` installs its CPU build (torch==2.13.0)")

    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(args.threads))}
    print(", ".join(f"{name}={env[name]}" for name in THREAD_VARIABLES))
    *_, out = timed_run(child_command("threads", 0), env)
    for line in json.loads(out):
        print("  " + line)
    print(f"{args.runs} rounds of {args.short}- and {args.long}-epoch runs; {load()}", flush=True)
    if os.getloadavg()[0] > BUSY_LOAD:
        print(
            f"  warning: the machine is busy (load above {BUSY_LOAD} before starting): other "
            "work slows the contenders unevenly, and threads that wait for each other badly; "
            "these numbers are not a fair measurement",
            flush=True,
        )

    contenders = {
        "solutions": solutions_command,
        "pytorch": lambda epochs: child_command("pytorch", epochs),
        "matmul floor": lambda epochs: child_command("floor", epochs),
    }
    runs = {(name, n): [] for name in contenders for n in (args.short, args.long)}
    for round_ in range(args.runs):
        # Alternate the order, so that what else the machine does slows all alike.
        order = list(contenders) if round_ % 2 == 0 else list(reversed(contenders))
        for name in order:
            for epochs in (args.short, args.long):
                runs[name, epochs].append(timed_run(contenders[name](epochs), env)[:2])
        print(f"  round {round_ + 1}: {load()}", flush=True)

    # Index 0: wall seconds (what the targets are about); 1: CPU seconds of all the threads.
    median = {
        key: [statistics.median(run[i] for run in values) for i in (0, 1)]
        for key, values in runs.items()
    }
    per_epoch = {
        name: [
            (median[name, args.long][i] - median[name, args.short][i]) / (args.long - args.short)
            for i in (0, 1)
        ]
        for name in contenders
    }
    for name in contenders:
        walls = ", ".join(f"{wall:.1f}" for wall, _ in runs[name, args.long])
        print(
            f"{name:13s} {per_epoch[name][0]:6.3f} s per epoch ({per_epoch[name][1]:.3f} s CPU); "
            f"{args.long}-epoch process {median[name, args.long][0]:5.1f} s (runs: {walls}), "
            f"{args.short}-epoch {median[name, args.short][0]:5.1f} s"
        )

    def ratios(a, b):
        return f"{a[0] / b[0]:.2f} (CPU time: {a[1] / b[1]:.2f})"

    faster = per_epoch["solutions"][0] < per_epoch["pytorch"][0]
    print(
        f"per epoch: solutions / pytorch = {ratios(per_epoch['solutions'], per_epoch['pytorch'])}"
        f", {'faster' if faster else 'slower'} than PyTorch; target < 1"
    )
    print(
        "per epoch: solutions / matmul floor = "
        f"{ratios(per_epoch['solutions'], per_epoch['matmul floor'])}; target <= 1.4"
    )
    whole = ratios(median["solutions", args.long], median["pytorch", args.long])
    print(f"whole {args.long}-epoch process: solutions / pytorch = {whole}; target < 1")
    if args.one_process:
        (alone, alone_cpu), (beside, beside_cpu) = one_process_check(env, args.long, args.runs)
        print(
            f"PyTorch's epoch in its own process {alone:.3f} s ({alone_cpu:.3f} s CPU), "
            f"in a process also training NumPy {beside:.3f} s ({beside_cpu:.3f} s CPU): "
            f"{beside / alone:.2f}x the wall time"
        )
    print(load())


if __name__ == "__main__":
    main()
