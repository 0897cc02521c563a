"""Helpers shared by the chapters of the book.

Not part of ``autograder`` (what students install) nor of ``solutions`` (the
reference implementation): these only serve the chapters, and hold no code of
anything graded. A chapter starts with::

    import _lib
    _lib.setup()

which sets the figure style and registers the ``%%uses_reference`` cell magic.

    style        figure style: white background (legible on light and dark
                 themes), colour-blind-safe colours
    interactive  explore(draw, values, ...): a slider in a live notebook, a
                 self-contained JavaScript animation in the HTML book
    reference    the %%uses_reference cell magic, for the (hidden) cells that
                 call the reference implementation to draw a figure
    practice     attempt(): runs a check on the reader's code, and says "not
                 implemented yet" instead of failing while a skeleton is unfilled
"""

from .interactive import explore, interactive_mode
from .practice import attempt
from .reference import reference_available, register_magic
from .style import COLORS, setup_figures


def setup():
    """Call once at the top of a chapter."""
    setup_figures()
    register_magic()


__all__ = [
    "setup",
    "explore",
    "interactive_mode",
    "attempt",
    "reference_available",
    "register_magic",
    "COLORS",
    "setup_figures",
]
