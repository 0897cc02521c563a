"""Ungraded practice in the chapters.

A practice cell gives the reader a skeleton to fill in (it raises
``NotImplementedError``) and a cell that checks it::

    with attempt("softsign and softsign_prime"):
        print(check_function(softsign, softsign_prime, z))

While the skeleton is not filled in, ``attempt`` prints a short note instead of
a traceback, so the chapter runs from top to bottom (and the book builds). It
recognises the skeleton's ``NotImplementedError`` whether it arrives as is or
wrapped by a checker (the toolkit's checks re-raise a crash as an
``AssertionError`` whose cause is the original error). Any other failure -- a
wrong answer, with the checker's diagnosis -- reaches the reader as usual.
"""

from contextlib import contextmanager


def _not_implemented(error):
    """The NotImplementedError in ``error``'s chain of causes, if any."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, NotImplementedError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def attempt(what="the function above"):
    try:
        yield
    except Exception as error:
        missing = _not_implemented(error)
        if missing is None:
            raise
        print(f"Not implemented yet: fill in {what} above, then run this cell again.")
