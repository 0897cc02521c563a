"""Test setup: MNIST comes from ../shared/datasets/mnist unless MNIST_DIR says otherwise;
nothing touches the network."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"

os.environ.setdefault("MNIST_DIR", str(SHARED_MNIST))
# matplotlib's font cache of this checkout (kernels and subprocesses inherit it): a per-user
# cache written by another, since deleted, virtualenv lists fonts that are gone.
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / "_build" / "matplotlib"))
Path(os.environ["MPLCONFIGDIR"]).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST data set, loaded once per test session."""
    from autograder import load_mnist

    return load_mnist()
