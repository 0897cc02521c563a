"""One figure style for the whole book.

Figures are PNGs with an opaque white background, so black text and lines
stay legible whatever theme (light or dark) the reader's browser uses. The
colours are the Okabe-Ito palette, distinguishable with the common forms of
colour blindness.

Text sizes are chosen for the page, not for the figure. A figure is shown at
its natural size (100 dpi) when it fits the text column, which is 660 px wide
in a desktop browser, and shrunk to the column when it is wider; its text
shrinks with it. For the smallest text of a figure to stay at least 80% of
the body text's size (16 px) as displayed, which the browser test checks:

* no text under ``SMALLEST_TEXT`` points (10 pt is 13.9 px at 100 dpi), and
* no figure wider than ``COLUMN_WIDTH`` inches; a figure with more panels
  than fit side by side at that width stacks them in rows instead.
"""

import functools

import matplotlib as mpl
from cycler import cycler

from .legibility import figure_png

# Okabe & Ito (2008): blue, vermillion, bluish green, reddish purple, orange, sky blue.
COLORS = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "purple": "#CC79A7",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "grey": "#777777",
    "black": "#000000",
}

# The text column is 660 px wide: at 100 dpi, a figure this wide is shown unscaled.
COLUMN_WIDTH = 6.6
# The smallest font size (points) a figure may use: ticks, legends, annotations.
SMALLEST_TEXT = 10

RC = {
    "figure.facecolor": "white",
    "figure.edgecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.edgecolor": "white",
    "savefig.transparent": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.figsize": (COLUMN_WIDTH, 3.4),
    "figure.constrained_layout.use": True,
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 11,
    "xtick.labelsize": SMALLEST_TEXT,
    "ytick.labelsize": SMALLEST_TEXT,
    "legend.fontsize": SMALLEST_TEXT,
    "legend.title_fontsize": SMALLEST_TEXT,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "lines.linewidth": 2.0,
    "legend.frameon": False,
    "axes.prop_cycle": cycler(
        color=[COLORS[c] for c in ("blue", "vermillion", "green", "purple", "orange", "sky")]
    ),
}


PRINT_KWARGS = {"bbox_inches": "tight", "facecolor": "white"}


def setup_figures():
    """Apply the book's style, after making sure figures show in a notebook.

    In a Jupyter kernel the inline backend is selected explicitly: an
    inherited MPLBACKEND=Agg (test runners set it) would otherwise make every
    figure silently disappear from the chapter.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        get_ipython = lambda: None  # noqa: E731
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        shell.run_line_magic("matplotlib", "inline")
    import matplotlib.pyplot  # noqa: F401

    mpl.rcParams.update(RC)
    if shell is not None:
        shell.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
        shell.run_line_magic("config", f"InlineBackend.print_figure_kwargs = {PRINT_KWARGS!r}")
        # The same PNG, carrying the size of its smallest text for the legibility check.
        from matplotlib.figure import Figure

        shell.display_formatter.formatters["image/png"].for_type(
            Figure, functools.partial(figure_png, **PRINT_KWARGS)
        )
