"""Run a graded notebook so that the student's code never runs where the score is decided.

The cells of the rebuilt notebook (rebuild.py) run in two processes:

    student's process (sandbox.py)          this process (the grader)
    ------------------------------          -------------------------
    solution cells, cells the student added test cells, with the student's names
    the course's setup cells  <-- both -->  the course's setup cells
                                            seen through proxies (remote.py)

A test cell runs here, unchanged, on plain data it gets from the student's
process: hooks, rebound functions or lying objects in that process cannot
reach it, the hidden tests never enter it, and its verdict is decided by
whether this process raised. Its outputs are written by the grader: what it
printed, warnings as text (a warning is not a failure), and an error output
when it failed, which is what nbgrader then scores.

If the student's process dies or stops answering, the cell that was running
fails, and a new process replays the student's cells before the next cell:
one crash costs one test. A read-only cell can say where it runs with the
cell metadata ``"grading": "student"`` (only in the student's process: the
engine classes the student's code extends, plots) or ``"grader"``; the
default is both.
"""

import contextlib
import io
import time
import traceback
import warnings

from nbformat.v4 import new_output

from .protocol import without_magics
from .rebuild import nbgrader_role
from .remote import CELL_MODULE, Namespace, StudentCode, StudentError, StudentProcessLost
from .sandbox import Limits, Sandbox

TEXT_LIMIT = 64 * 1024  # characters of a cell's output kept


def where_it_runs(cell):
    """"test", "student", "grader" or "both" for a code cell of the rebuilt notebook."""
    role = nbgrader_role(cell)
    if role.get("grade") and not role.get("solution"):
        return "test"
    if role.get("solution") or not role:
        return "student"
    return cell.metadata.get("grading", "both")


class Session:
    """The student's process for one notebook, restarted and replayed after a crash."""

    def __init__(self, hidden, limits=None, slot=0, cell_timeout=120):
        self.hidden, self.limits, self.slot, self.cell_timeout = hidden, limits or Limits(), slot, cell_timeout
        self.student_cells, self.grader_cells = [], []  # what ran, to replay in a new process
        self.sandbox = self.code = self.namespace = None

    def ensure_running(self):
        if self.code is not None and not self.code.lost:
            return
        self.close()
        self.sandbox = Sandbox(self.hidden, self.limits, self.slot)
        self.code = StudentCode(self.sandbox.start(), timeout=self.cell_timeout)
        self.namespace = Namespace(self.code)
        for source in self.student_cells:
            self.code.run_cell(source, self.cell_timeout)
        for source in self.grader_cells:
            self._exec_here(source, io.StringIO())

    def close(self):
        if self.sandbox is not None:
            self.sandbox.kill()
        self.sandbox = self.code = None

    # ------------------------------------------------------------- cells

    def run_student(self, source):
        """Run code in the student's process; returns nbformat outputs."""
        try:
            self.ensure_running()
            result = self.code.run_cell(source, self.cell_timeout)
        except StudentProcessLost as lost:
            return [_error("ProcessLost", f"{lost} while this cell ran; the cells after it run in a new process")]
        self.student_cells.append(source)
        outputs = [_stream("stdout", result.get("stdout")), _stream("stderr", result.get("stderr"))]
        error = result.get("error")
        if error:
            outputs.append(_error(error.get("ename"), error.get("evalue"), error.get("traceback")))
        return [o for o in outputs if o]

    def run_grader(self, source, test=False):
        """Run course code here (a test cell, or a read-only cell); returns nbformat outputs."""
        try:
            self.ensure_running()
        except StudentProcessLost as lost:  # replaying the student's cells crashed it again
            return [_error("ProcessLost", f"{lost} while the student's cells were replayed; this cell earns nothing")]
        printed = io.StringIO()
        self.code.deadline = time.monotonic() + self.cell_timeout
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            failure = self._exec_here(source, printed)
        self.code.deadline = None
        if not test and failure is None:
            self.grader_cells.append(source)
        text = printed.getvalue() + "".join(f"Warning: {w.category.__name__}: {w.message}\n" for w in caught)
        outputs = [_stream("stdout", text)]
        if failure is not None:
            outputs.append(_failure(failure))
        return [o for o in outputs if o]

    def _exec_here(self, source, printed):
        """exec in the tests' namespace; returns the exception it raised, or None."""
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            try:
                exec(compile(without_magics(source), f"<{CELL_MODULE} cell>", "exec"), self.namespace)
            except Exception as error:  # the test failed (an AssertionError) or crashed: it earns 0
                return error
        return None


def run_notebook(notebook, hidden, limits=None, slot=0, cell_timeout=120):
    """Run every code cell of the rebuilt notebook in place (outputs filled in).
    Returns the problems (the student's process lost), one string each."""
    session = Session(hidden, limits, slot, cell_timeout)
    problems = []
    try:
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            where = where_it_runs(cell)
            if where == "test":
                cell.outputs = session.run_grader(cell.source, test=True)
            else:
                outputs = session.run_student(cell.source) if where in ("student", "both") else []
                if where in ("grader", "both"):
                    grader_outputs = session.run_grader(cell.source)
                    outputs = outputs if where == "both" and outputs else grader_outputs
                cell.outputs = outputs
            if session.code is None or session.code.lost:  # noticed here even if a check caught it
                reason = session.code.lost if session.code else "the student's process could not start"
                problems.append(f"{nbgrader_role(cell).get('grade_id', 'a cell')}: {reason}")
    finally:
        session.close()
    return problems


# ----------------------------------------------------------------- outputs


def _text(value):
    text = value if isinstance(value, str) else ""
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + f"\n[... {len(text) - TEXT_LIMIT} more characters]"


def _stream(name, text):
    text = _text(text)
    return new_output("stream", name=name, text=text) if text else None


def _error(ename, evalue, trace=None):
    lines = [_text(line) for line in (trace.splitlines() if isinstance(trace, str) else [])][-60:]
    return new_output("error", ename=_text(ename) or "Error", evalue=_text(evalue),
                      traceback=lines or [f"{_text(ename)}: {_text(evalue)}"])


def _failure(error):
    """The error output of a failed test: the message, and the student's traceback if theirs."""
    if isinstance(error, StudentProcessLost):
        return _error("ProcessLost", f"{error}; this test earns no points")
    if isinstance(error, StudentError):
        return _error(error.type_name, error.message,
                      f"{error.type_name} raised by your code: {error.message}\n{error.student_traceback}")
    here = traceback.format_exception(error)
    shown = [line for line in here if CELL_MODULE in line or not line.startswith("  File")]
    return _error(type(error).__name__, str(error), "".join(shown[-12:]))
