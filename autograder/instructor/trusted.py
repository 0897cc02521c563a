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
import dataclasses
import io
import signal
import threading
import time
import traceback
import warnings

from nbformat.v4 import new_output

from ..student.checks import refereed_by
from .bundle import HIDDEN_MARKERS
from .protocol import OUTPUT_LIMIT, without_magics
from .rebuild import nbgrader_role
from .referee import Referee
from .remote import (
    CELL_MODULE,
    Namespace,
    OutOfTime,
    RemoteClass,
    RemoteObject,
    StudentCode,
    StudentError,
    StudentProcessLost,
)
from .sandbox import Limits, Sandbox

LINE_LIMIT = 2000  # characters of a traceback line kept
NOTEBOOK_OUTPUT_LIMIT = (
    2 * 2**20
)  # characters of output kept for a whole notebook (then errors only)


def where_it_runs(cell):
    """ "test", "student", "grader" or "both" for a code cell of the rebuilt notebook."""
    role = nbgrader_role(cell)
    if role.get("grade") and not role.get("solution"):
        return "test"
    if role.get("solution") or not role:
        return "student"
    return cell.metadata.get("grading", "both")


def instructor_cells(source):
    """The code the referee's twins are made of: every code cell of the instructor's source
    notebook but the test cells (setup, engine, helpers, and the instructor's solutions)."""
    return [
        cell.source
        for cell in source.cells
        if cell.cell_type == "code" and where_it_runs(cell) != "test"
    ]


def is_proxy(value):
    return isinstance(value, (RemoteObject, RemoteClass))


def declared_data(source):
    """The data sets an assignment declares in its source notebook's metadata
    (``"backprop": {"data": ["mnist"]}``): what its cells load. ValueError if it is not a list."""
    declared = source.metadata.get("backprop", {}).get("data", [])
    if not isinstance(declared, list):
        raise ValueError(
            f"metadata.backprop.data must be a list of data set names, "
            f'e.g. ["mnist"], not {declared!r}.'
        )
    return [str(name) for name in declared]


def student_data(declared):
    """(files shown, environment) of the student's process for the declared data sets: nothing
    for an assignment that declares none. Of MNIST it gets the training files only: a test set
    whose labels the student's code could read could be looked up instead of predicted (the
    tests measure on the grader's copy)."""
    shown, environment = [], {}
    if "mnist" in declared:
        from ..student import mnist

        try:
            files = mnist.data_files(mnist.TRAIN_FILES)
        except mnist.MNISTNotFound:
            files = []  # the preflight stops a grading run before this; the loader will say why
        shown += [str(path) for path in files]
        environment[mnist.WITHHELD_VAR] = "1"
        if files:
            environment[mnist.ENV_VAR] = str(files[0].parent)
    return shown, environment


class Session:
    """The student's process for one notebook, restarted and replayed after a crash.
    reference: the namespace of the instructor's code (reference_namespace), whose twins the
    checks compare the student's objects with; data: the data sets the notebook declares."""

    def __init__(
        self,
        hidden,
        limits=None,
        slot=0,
        cell_timeout=120,
        reference=None,
        data=(),
        notebook_timeout=None,
    ):
        shown, self.environment = student_data(data)
        limits = dataclasses.replace(limits or Limits(), data=shown)
        self.hidden, self.limits, self.slot, self.cell_timeout = hidden, limits, slot, cell_timeout
        self.notebook_timeout = notebook_timeout
        self.notebook_deadline = time.monotonic() + notebook_timeout if notebook_timeout else None
        self.student_cells, self.grader_cells = [], []  # what ran, to replay in a new process
        self.sandbox = self.code = self.namespace = None
        self.referee = Referee(reference if reference is not None else {}, is_proxy)
        self.lost = None  # why the last cell lost the student's process to a time limit

    def ensure_running(self):
        if self.code is not None and not self.code.lost:
            return
        self.close()
        self.sandbox = Sandbox(self.hidden, self.limits, self.slot, self.environment)
        self.code = StudentCode(self.sandbox.start(), timeout=self.cell_timeout)
        self.code.referee = self.referee
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

    def time_left(self):
        """Seconds the next cell may take: the cell's limit, within what is left of the
        notebook's."""
        left = self.cell_timeout
        if self.notebook_deadline is not None:
            left = min(left, self.notebook_deadline - time.monotonic())
        return left

    def out_of_time(self, error):
        """The cell ran past its limit, perhaps in the middle of a message: the student's
        process is ended (the next cell gets a new one, as after a crash)."""
        reason = (
            f"the notebook ran past its {self.notebook_timeout} s limit"
            if self.notebook_deadline and time.monotonic() >= self.notebook_deadline
            else f"the cell ran past its {self.cell_timeout} s limit"
        )
        self.close()
        return reason

    def run_student(self, source, cell=None):
        """Run code in the student's process; returns nbformat outputs. cell: the cell's
        number in the notebook (In [n])."""
        try:
            with wall_clock(self.time_left()):
                self.ensure_running()
                self.code.deadline = time.monotonic() + self.time_left()
                result = self.code.run_cell(source, self.cell_timeout, cell)
                self.code.deadline = None
        except StudentProcessLost as lost:
            return [
                _error(
                    "ProcessLost",
                    f"{lost} while this cell ran; the cells after it run in a new process",
                )
            ]
        except OutOfTime as error:
            self.lost = self.out_of_time(error)
            return [_error("TimeLimit", f"{self.lost}; the cells after it run in a new process")]
        self.student_cells.append(source)
        outputs = [_stream("stdout", result.get("stdout")), _stream("stderr", result.get("stderr"))]
        error = result.get("error")
        if error:
            outputs.append(
                _error(
                    error.get("ename"),
                    error.get("evalue"),
                    _student_frames(str(error.get("traceback"))),
                )
            )
        return [o for o in outputs if o]

    def run_grader(self, source, test=False):
        """Run course code here (a test cell, or a read-only cell); returns nbformat outputs."""
        printed = io.StringIO()
        try:
            with wall_clock(self.time_left()):
                self.ensure_running()
                self.code.deadline = time.monotonic() + self.time_left()
                with warnings.catch_warnings(record=True) as caught, refereed_by(self.referee.twin):
                    warnings.simplefilter("always")
                    failure = self._exec_here(source, printed)
                self.code.deadline = None
        except StudentProcessLost as lost:  # replaying the student's cells crashed it again
            return [
                _error(
                    "ProcessLost",
                    f"{lost} while the student's cells were replayed; this cell earns nothing",
                )
            ]
        except OutOfTime as error:
            self.lost = self.out_of_time(error)
            return [
                o
                for o in (
                    _stream("stdout", printed.getvalue()),
                    _error("TimeLimit", f"{self.lost}; this cell earns nothing"),
                )
                if o
            ]
        if not test and failure is None:
            self.grader_cells.append(source)
        text = printed.getvalue() + "".join(
            f"Warning: {w.category.__name__}: {w.message}\n" for w in caught
        )
        outputs = [_stream("stdout", text)]
        if failure is not None:
            outputs.append(_failure(failure, hidden_from(source) if test else None))
        return [o for o in outputs if o]

    def _exec_here(self, source, printed):
        """exec in the tests' namespace; returns the exception it raised, or None."""
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            try:
                exec(
                    compile(without_magics(source), f"<{CELL_MODULE} cell>", "exec"), self.namespace
                )
            except Exception as error:  # the test failed (an AssertionError) or crashed: it earns 0
                return error
        return None


@contextlib.contextmanager
def wall_clock(seconds):
    """Raise OutOfTime in this (main) thread after `seconds`, whatever the code is doing: a
    test looping on the student's objects, a callback storm, a slow decode."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; the per-request deadlines still hold
        return

    def ring(signum, frame):
        raise OutOfTime(f"more than {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_notebook(
    notebook, hidden, limits=None, slot=0, cell_timeout=120, reference=None, notebook_timeout=None
):
    """Run every code cell of the rebuilt notebook in place (outputs filled in).
    reference: see Session; cell_timeout, notebook_timeout: wall-clock limits in seconds (None:
    no limit for the whole notebook). Returns the problems (the student's process lost, a
    limit reached), one string each."""
    session = Session(
        hidden, limits, slot, cell_timeout, reference, declared_data(notebook), notebook_timeout
    )
    problems, kept, count = [], 0, 0  # kept: characters of output so far
    try:
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            cell.execution_count = None  # a cell the time limit skips shows `In [ ]:`
            if session.time_left() <= 0:
                cell.outputs = [
                    _error(
                        "NotRun",
                        f"the notebook ran past its {notebook_timeout} s limit "
                        "before this cell could run; it earns no points",
                    )
                ]
                problems.append(
                    f"{nbgrader_role(cell).get('grade_id', 'a cell')}: not run (notebook time "
                    "limit)"
                )
                continue
            count += 1
            cell.execution_count = count  # `In [n]:` in the feedback, as in Jupyter
            where = where_it_runs(cell)
            if where == "test":
                cell.outputs = session.run_grader(cell.source, test=True)
                kept = _within_budget(cell.outputs, kept)
            else:
                outputs = (
                    session.run_student(cell.source, count) if where in ("student", "both") else []
                )
                if where in ("grader", "both"):
                    grader_outputs = session.run_grader(cell.source)
                    outputs = outputs if where == "both" and outputs else grader_outputs
                cell.outputs = outputs
            kept = _within_budget(cell.outputs, kept)
            if (
                session.lost or session.code is None or session.code.lost
            ):  # even if a check caught it
                reason = session.lost or (
                    session.code.lost if session.code else "the student's process could not start"
                )
                problems.append(f"{nbgrader_role(cell).get('grade_id', 'a cell')}: {reason}")
                session.lost = None
    finally:
        session.close()
    return problems


# ----------------------------------------------------------------- outputs


def _within_budget(outputs, kept):
    """Cap the notebook's stored outputs: past NOTEBOOK_OUTPUT_LIMIT characters, a cell keeps only
    a short error output (what nbgrader scores) and a note. Returns the new running total."""
    size = sum(len(str(output)) for output in outputs)
    if kept + size <= NOTEBOOK_OUTPUT_LIMIT:
        return kept + size
    errors = [output for output in outputs if output.get("output_type") == "error"]
    outputs[:] = [
        _stream(
            "stderr",
            f"[output not kept: the notebook's outputs passed {NOTEBOOK_OUTPUT_LIMIT // 2**20} MB]",
        )
    ]
    outputs += [_error(e.get("ename"), str(e.get("evalue"))[:LINE_LIMIT]) for e in errors]
    return kept + sum(len(str(output)) for output in outputs)


def _text(value):
    text = value if isinstance(value, str) else ""
    return (
        text
        if len(text) <= OUTPUT_LIMIT
        else text[:OUTPUT_LIMIT] + f"\n[... {len(text) - OUTPUT_LIMIT} more characters]"
    )


def _stream(name, text):
    text = _text(text)
    return new_output("stream", name=name, text=text) if text else None


def _error(ename, evalue, trace=None):
    lines = [line[:LINE_LIMIT] for line in (trace.splitlines() if isinstance(trace, str) else [])][
        -60:
    ]
    return new_output(
        "error",
        ename=_text(ename) or "Error",
        evalue=_text(evalue),
        traceback=lines or [f"{_text(ename)}: {_text(evalue)}"],
    )


GRADER_FILES = ("student_process.py", "protocol.py")  # the server's frames in a student traceback


# How a failure in the hidden part of a test cell begins (its evalue in the graded notebook).
HIDDEN_FAILURE = "A hidden test failed (its code is not shown; the visible tests above passed): "


def failed_in_hidden_part(notebook):
    """The grade ids of a graded notebook's test cells that failed in their hidden part."""
    return {
        cell.metadata["nbgrader"]["grade_id"]
        for cell in notebook.cells
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        and any(
            output.get("output_type") == "error"
            and str(output.get("evalue", "")).startswith(HIDDEN_FAILURE)
            for output in cell.get("outputs", [])
        )
    }


def hidden_from(source):
    """The first line number of a test cell's hidden part (None without one)."""
    for number, line in enumerate(source.splitlines(), start=1):
        if line.strip() == HIDDEN_MARKERS[0]:
            return number
    return None


def _failure(error, hidden_line=None):
    """The error output of a failed test: the message, and the student's traceback if theirs.
    What the student reads names no file or module of the grader; a failure in the hidden part
    of the cell (at or after hidden_line) says so, since its source is not shown."""
    if isinstance(error, StudentProcessLost):
        return _error("ProcessLost", f"{error}; this test earns no points")
    frames = traceback.extract_tb(error.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename == f"<{CELL_MODULE} cell>"]
    hidden = hidden_line is not None and bool(lines) and lines[-1] >= hidden_line
    label = HIDDEN_FAILURE if hidden else ""
    if isinstance(error, StudentError):
        return _error(
            error.type_name,
            label + error.message,
            f"{error.type_name} raised by your code{': ' if error.message else ''}{error.message}\n"
            f"{_student_frames(error.student_traceback)}",
        )
    # The check that failed, by its line in the test cell (the frames below it are the
    # toolkit's or the grader's, a StudentError it came from the grader's wrapping).
    where = "  (in a hidden test)" if hidden else f"  Test cell, line {lines[-1]}" if lines else ""
    message = "\n".join([str(error), *getattr(error, "__notes__", [])])
    trace = "\n".join(["Traceback (most recent call last):", where] if where else [])
    return _error(
        type(error).__name__, label + str(error), f"{trace}\n{type(error).__name__}: {message}"
    )


def _student_frames(trace):
    """A traceback from the student's process without the server's frames (`File
    ".../student_process.py"`): what the student wrote is what they read."""
    kept, skipping = [], False
    for line in trace.splitlines():
        if line.startswith("  File "):
            skipping = any(name in line for name in GRADER_FILES)
        elif not line.startswith("    "):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept)
