"""The ``%%uses_reference`` cell magic.

Some figures need a function that students implement in a graded assignment
(an activation, a layer, a loss). The book never shows that code: such a cell
calls the course's reference package ``solutions`` and is hidden in the HTML
(tag ``remove-input``). Its first line is the cell magic::

    %%uses_reference
    from solutions import ReLU
    ...

With ``solutions`` installed (the instructor's copy, and every build of the
book) the cell simply runs. Students do not have ``solutions``: there the cell
prints one line saying that the figure is in the rendered book, instead of
failing, so the rest of the chapter still runs in their JupyterLab.

Set ``BOOK_WITHOUT_REFERENCE=1`` to behave as if ``solutions`` were missing
(the tests do, to check that a student can run every chapter).
Visible cells must never depend on names defined in such a cell.
"""

import importlib.util
import os

NOTE = (
    "[This cell draws a figure with the course's reference implementation, which is "
    "not installed here. The figure is in the rendered book.]"
)


def reference_available():
    if os.environ.get("BOOK_WITHOUT_REFERENCE", "").strip() not in ("", "0"):
        return False
    return importlib.util.find_spec("solutions") is not None


def uses_reference(line, cell):
    """Run the cell if the reference package is importable, else print a note."""
    if not reference_available():
        print(NOTE)
        return
    from IPython import get_ipython

    get_ipython().ex(cell)


def register_magic():
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    shell = get_ipython()
    if shell is not None:
        shell.register_magic_function(
            uses_reference, magic_kind="cell", magic_name="uses_reference"
        )
