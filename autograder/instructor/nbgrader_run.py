"""Run one of nbgrader's converters in this process, and say in one line why it failed.

nbgrader's converters (GenerateAssignment, Autograde, GenerateFeedback) log the
real error with its traceback and then raise a generic "Please see the above
traceback". The pipeline prints one table line per submission, so it keeps
nbgrader's log to itself and reports the exception that caused the failure.
"""

import logging

LOGGER = logging.getLogger("autograder.nbgrader")
LOGGER.propagate = False  # the command's own table says what failed, without tracebacks


def make_converter(kind, course, assignment, student="*", force=True):
    """nbgrader converter class `kind` set to one assignment and student(s) of the course."""
    converter = kind(
        coursedir=course.coursedir(assignment, student), config=course.config, log=LOGGER
    )
    converter.force = force
    return converter


class ErrorLog(logging.Handler):
    """Collects what nbgrader logs as errors while it is attached (a context manager)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())

    def add(self, error):
        self.messages.append(f"{type(error).__name__}: {error}")

    def reason(self):
        """The failure in one line (None if nothing failed): the last exception line of a
        logged traceback, else the first message."""
        causes = [
            message.strip().splitlines()[-1]
            for message in self.messages
            if "Traceback (most recent call last)" in message
        ]
        causes = [cause for cause in causes if "NbGraderException" not in cause]
        if causes:
            return causes[-1]
        return self.messages[0].strip().splitlines()[0] if self.messages else None

    def __enter__(self):
        LOGGER.addHandler(self)
        return self

    def __exit__(self, *exc):
        LOGGER.removeHandler(self)


def run(step):
    """Call `step()` (e.g. converter.start) with nbgrader's errors collected; returns the
    reason it failed in one line, or None if it succeeded."""
    with ErrorLog() as errors:
        try:
            step()
        except Exception as error:
            errors.add(error)
    return errors.reason()
