"""Plotting helpers shared by the book, the assignments and the reference package.

They build matplotlib ``Figure`` objects directly (no pyplot state), so they
work the same in a notebook, in a script and on a machine without a screen.
"""

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def plot_learning_curves(history, path=None, title=None):
    """Loss and accuracy per epoch, train against test where available.

    ``history``: a mapping (or object with ``as_dict()``) with lists ``loss``,
    ``accuracy`` and optionally ``test_loss``, ``test_accuracy``.
    Saves a PNG to ``path`` if given; returns the Figure.
    """
    if hasattr(history, "as_dict"):
        history = history.as_dict()
    epochs = np.arange(1, len(history["loss"]) + 1)
    figure = Figure(figsize=(9, 3.5), layout="constrained", facecolor="white")
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, key, label in ((loss_axes, "loss", "loss"), (accuracy_axes, "accuracy", "accuracy")):
        axes.plot(epochs, history[key], marker="o", label="train")
        if history.get(f"test_{key}"):
            axes.plot(epochs, history[f"test_{key}"], marker="s", label="test")
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        axes.legend()
    loss_axes.set_yscale("log")
    if title:
        figure.suptitle(title)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=120)
    return figure


def plot_decision_boundary(predict_proba, X, y, axes=None, resolution=200, padding=0.5):
    """Shade the plane by a binary classifier's output and draw the points.

    ``predict_proba(points: (M, 2)) -> (M,)`` probabilities of class 1;
    X: (N, 2), y: (N,) in {0, 1}. Returns the axes.
    """
    if axes is None:
        axes = Figure(figsize=(4, 4), layout="constrained", facecolor="white").subplots()
    low, high = X.min(axis=0) - padding, X.max(axis=0) + padding
    grid_x, grid_y = np.meshgrid(
        np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    )
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    proba = np.asarray(predict_proba(grid)).reshape(grid_x.shape)
    axes.contourf(grid_x, grid_y, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    axes.contour(grid_x, grid_y, proba, levels=[0.5], colors="black", linewidths=1.5)
    for label, marker in ((0, "o"), (1, "s")):
        points = X[y == label]
        axes.scatter(
            points[:, 0],
            points[:, 1],
            marker=marker,
            s=80,
            edgecolors="black",
            c="tab:blue" if label == 0 else "tab:red",
            label=f"class {label}",
            zorder=3,
        )
    axes.set_aspect("equal")
    axes.legend(loc="upper right")
    return axes
