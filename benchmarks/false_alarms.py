"""False alarms of the gradient checks on correct code, and which mistakes they name.

    .venv/bin/python -m benchmarks.false_alarms [--combos 1000] [--seed 0]

Part 1 runs check_layer / check_loss on the reference `solutions` building
blocks for many random shapes, scales, dtypes and seeds (inputs include exact
zeros and values up to about +-20) and counts the checks that fail: every
failure there is a false alarm. Part 2 runs the mistake zoo (tests/support/zoo.py)
and prints which diagnosis each deliberate mistake received.
"""

import argparse
import sys
import time

import numpy as np

import solutions as S
from autograder.student.checks import check_layer, check_loss
from tests.support import zoo


def random_input(rng, shape, dtype):
    """Normal values at a random scale (0.01 to 20), some of them exactly 0."""
    x = rng.standard_normal(shape) * 10 ** rng.uniform(-2, 1.3)
    x[rng.random(shape) < rng.uniform(0, 0.3)] = 0.0
    return x.astype(dtype)


def _dtype(rng):
    return (np.float32, np.float64)[rng.integers(2)]


def _batch(rng):
    return int(rng.integers(1, 17))


def linear(rng, seed):
    d_in, d_out, dtype = int(rng.integers(1, 25)), int(rng.integers(1, 25)), _dtype(rng)
    layer = S.Linear(d_in, d_out, init=("he", "xavier")[rng.integers(2)], rng=rng, dtype=dtype)
    if rng.random() < 0.5:
        layer.b = rng.standard_normal(d_out).astype(dtype)
    return check_layer(layer, random_input(rng, (_batch(rng), d_in), dtype), seed=seed)


def activation(cls):
    def case(rng, seed):
        shape = (_batch(rng), int(rng.integers(1, 25)))
        return check_layer(cls(), random_input(rng, shape, _dtype(rng)), seed=seed)

    case.__name__ = cls.__name__
    return case


def softmax_cross_entropy(rng, seed):
    batch, classes, dtype = _batch(rng), int(rng.integers(2, 13)), _dtype(rng)
    labels = rng.integers(classes, size=batch)
    targets = np.eye(classes)[labels] if rng.random() < 0.5 else labels
    logits = random_input(rng, (batch, classes), dtype)
    return check_loss(S.SoftmaxCrossEntropy(), logits, targets, seed=seed)


def mse(rng, seed):
    shape, dtype = (_batch(rng), int(rng.integers(1, 13))), _dtype(rng)
    pred, target = random_input(rng, shape, dtype), random_input(rng, shape, dtype)
    return check_loss(S.MSELoss(), pred, target, seed=seed)


def binary_cross_entropy(rng, seed):
    shape, dtype = ((_batch(rng),), (_batch(rng), 1))[rng.integers(2)], _dtype(rng)
    targets = rng.integers(2, size=shape)
    targets = targets.astype(dtype) if rng.random() < 0.5 else targets
    return check_loss(
        S.BinaryCrossEntropyWithLogits(), random_input(rng, shape, dtype), targets, seed=seed
    )


BLOCKS = {
    "Linear": linear,
    "ReLU": activation(S.ReLU),
    "LeakyReLU": activation(S.LeakyReLU),
    "Sigmoid": activation(S.Sigmoid),
    "Tanh": activation(S.Tanh),
    "SoftmaxCrossEntropy": softmax_cross_entropy,
    "MSELoss": mse,
    "BinaryCrossEntropyWithLogits": binary_cross_entropy,
}


def sweep(combos, seed=0):
    """{block: (false alarms, worst relative error seen, seconds, first alarm message or None)}."""
    results = {}
    for index, (name, case) in enumerate(BLOCKS.items()):
        rng = np.random.default_rng([seed, index])
        alarms, worst, first = 0, 0.0, None
        start = time.perf_counter()
        for combo in range(combos):
            try:
                report = case(rng, seed=combo)
            except AssertionError as error:
                alarms, first = alarms + 1, first or str(error)
                continue
            worst = max(worst, *report.errors.values())
        results[name] = (alarms, worst, time.perf_counter() - start, first)
    return results


def zoo_table():
    """[(mistake, expected diagnosis, diagnosis found or None)] for every zoo entry."""
    return [(m.name, m.key, zoo.diagnosis_of(m)) for m in zoo.MISTAKES]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combos", type=int, default=1000, help="random cases per building block")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    print(f"False alarms on correct code ({args.combos} random cases per block)")
    print(f"{'block':<30} {'false alarms':>12} {'worst error':>12} {'time':>8}")
    results = sweep(args.combos, args.seed)
    for name, (alarms, worst, seconds, first) in results.items():
        print(f"{name:<30} {alarms:>12} {worst:>12.1e} {seconds:>7.1f}s")
        if first:
            print("    first alarm: " + first.replace("\n", "\n    "))

    print("\nMistake zoo: is the mistake found, with the right diagnosis?")
    rows = zoo_table()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'mistake':<{width}}  {'diagnosis':<18} found")
    for name, key, found in rows:
        print(f"{name:<{width}}  {key:<18} {'yes' if found == key else f'no ({found})'}")

    alarms = sum(alarms for alarms, *_ in results.values())
    missed = sum(found != key for _, key, found in rows)
    print(
        f"\n{alarms} false alarms, {missed} mistakes not diagnosed; "
        f"total time {time.perf_counter() - start:.1f}s"
    )
    return 1 if alarms or missed else 0


if __name__ == "__main__":
    sys.exit(main())
