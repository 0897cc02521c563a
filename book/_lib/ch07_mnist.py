"""Helpers for chapter 7 (the MNIST example); nothing graded lives here.

The chapter needs the MNIST files. When ``autograder.load_mnist`` cannot find
them it raises ``MNISTNotFound`` with instructions; ``stop_chapter`` turns that
into an error whose only text is the loader's message, without a Python
traceback: in a live notebook the reader sees what to do, and a book build
stops (a cell that raises fails it) with the same message on its console.
"""

import os
import sys


class MNISTMissing(RuntimeError):
    """MNIST is not available, so the chapter cannot run. Shown without a traceback."""

    def _render_traceback_(self):
        # IPython shows these lines instead of a traceback.
        return [str(self)]


def stop_chapter(missing):
    """Stop the chapter with the message of ``missing`` (an ``MNISTNotFound``)."""
    message = f"This chapter needs the MNIST files. {missing}"
    if os.environ.get("BOOK_INTERACTIVE") == "static":
        # A book build: also say it on the build's console, above Sphinx's own report.
        print(f"\n{message}\n", file=sys.__stderr__, flush=True)
    raise MNISTMissing(message) from None
