"""`python -m autograder check NOTEBOOK`: run a notebook as the grader will, before handing it in.

The notebook runs top to bottom in a fresh kernel (nbclient), with no
``input()`` and the grader's time limit per cell; the visible test cells run
as part of it. Then a table shows each test with its points, and what every
failing test said. The notebook file is not changed.

    python -m autograder check forward.ipynb

Exit status: 0 every visible test passed and no cell failed, 1 a test or a
cell failed, 2 the notebook could not be run (the message says why). Hidden
tests are not in the student's notebook: they run at grading.
"""

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

CELL_TIMEOUT = 120  # seconds per cell, as at grading
DETAIL_LINES = 12  # lines of a failure's message shown under the table
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CannotRun(Exception):
    """The notebook could not be run at all (not found, not a notebook, no kernel)."""


class Result(StrEnum):
    """What became of a visible test cell in the run (printed as its value)."""

    PASSED = "passed"
    FAILED = "failed"
    NOT_RUN = "not run"  # the run stopped before it


@dataclass
class Outcome:
    """One test cell after the run.

    name: its nbgrader grade_id; points: what it is worth; status: a Result;
    message: the error it raised ("" if none).
    """

    name: str
    points: float
    status: Result
    message: str = ""

    @property
    def earned(self):
        return self.points if self.status == Result.PASSED else 0.0


@dataclass
class Run:
    """What running a notebook showed: its test cells, and errors in the other cells."""

    tests: list
    cell_errors: list  # (execution count or cell number, first line of the error)
    stopped: str = ""  # why the run ended early, if it did


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m autograder check",
        description="Run a notebook top to bottom in a fresh kernel, as the grader will, "
        "and show which visible tests pass.",
    )
    parser.add_argument("notebook", help="the notebook to check, e.g. forward.ipynb")
    parser.add_argument(
        "--timeout",
        type=int,
        default=CELL_TIMEOUT,
        metavar="S",
        help=f"seconds a cell may run (default {CELL_TIMEOUT}, as at grading)",
    )
    args = parser.parse_args(argv)
    try:
        run = run_notebook(Path(args.notebook), args.timeout)
    except CannotRun as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(Path(args.notebook).name, run))
    failed = run.stopped or run.cell_errors or any(t.status != Result.PASSED for t in run.tests)
    return 1 if failed else 0


def run_notebook(path, timeout=CELL_TIMEOUT):
    """Run the notebook at ``path`` in a fresh kernel; return a Run. The file is not changed."""
    import nbformat  # the notebook tools are imported here: the checks do not need them

    if not path.is_file():
        raise CannotRun(f"{path}: no such file. Give the path of your notebook (.ipynb).")
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as error:  # JSON or notebook-format errors, unreadable files
        raise CannotRun(
            f"{path} is not a readable notebook ({error}). Was it saved by Jupyter?"
        ) from None
    tests = [c for c in notebook.cells if _is_test(c)]
    if not tests:
        raise CannotRun(
            f"{path} has no test cells: is it a course notebook, with its test cells kept?"
        )
    stopped = _execute(notebook, path.resolve().parent, timeout)
    outcomes = [_outcome(cell) for cell in tests]
    errors = [
        (cell.get("execution_count") or index + 1, _first_line(_error(cell)))
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and not _is_test(cell) and _error(cell)
    ]
    return Run(outcomes, errors, stopped)


def _execute(notebook, folder, timeout):
    """Run every cell in order (errors do not stop the run); '' or why it stopped early."""
    from jupyter_client import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from tqdm import tqdm

    client = NotebookClient(
        notebook,
        km=AsyncKernelManager(kernel_spec_manager=_this_python()),
        timeout=timeout,
        interrupt_on_timeout=True,  # a cell past its time is stopped, as at grading
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    )
    code = [(i, c) for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    try:
        # the kernel's own log (its TCP warning) is noise here; the cells' output is kept
        with client.setup_kernel(stderr=subprocess.DEVNULL):
            for index, cell in tqdm(  # disable=None: no bar where stderr is not a terminal
                code,
                desc="running the notebook",
                unit="cell",
                leave=False,
                file=sys.stderr,
                disable=None,
            ):
                client.execute_cell(cell, index)
    except DeadKernelError:
        return (
            "the kernel died (out of memory, or the code called exit): the cells after "
            "it did not run"
        )
    except Exception as error:  # the kernel did not start, or stopped answering
        if not any(c.get("execution_count") for _, c in code):
            raise CannotRun(
                f"could not start a Python kernel ({error}). Is ipykernel installed "
                "(pip install -r requirements.txt)?"
            ) from None
        return f"the run stopped: {error}"
    return ""


def _this_python():
    """A kernel spec manager whose every kernel is this Python (its packages, its autograder)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python",
                language="python",
            )

    return ThisPython()


def _is_test(cell):
    role = cell.get("metadata", {}).get("nbgrader", {})
    return cell.cell_type == "code" and role.get("grade") and not role.get("solution")


def _outcome(cell):
    role = cell.metadata["nbgrader"]
    points = float(role.get("points") or 0)
    name = role.get("grade_id") or "test"
    if cell.get("execution_count") is None:
        return Outcome(name, points, Result.NOT_RUN)
    error = _error(cell)
    return Outcome(name, points, Result.FAILED if error else Result.PASSED, error)


def _error(cell):
    """The error a cell's outputs show, as plain text ('' if none): the message and its notes."""
    for output in cell.get("outputs", ()):
        if output.get("output_type") == "error":
            name = output.get("ename", "Error")
            if name == "KeyboardInterrupt":  # nbclient interrupted the cell at its time limit
                return (
                    "KeyboardInterrupt: the cell ran past its time limit and was stopped "
                    "(an endless loop?)"
                )
            text = f"{name}: {output.get('evalue', '')}"
            # IPython's traceback ends with the message and its notes (where to look)
            entries = [ANSI.sub("", entry).strip() for entry in output.get("traceback") or ()]
            if not str(output.get("evalue", "")).strip():
                return _without_message(name, entries)
            starts = [i for i, entry in enumerate(entries) if entry.startswith(f"{name}:")]
            return "\n".join(entries[starts[-1] :]) if starts else text.strip()
    return ""


def _without_message(name, entries):
    """An error with no message (raise NotImplementedError()): say where it was raised."""
    places = [m for m in map(FRAME.search, entries) if m]
    where = ""
    if places:
        cell, function = places[-1].group("cell"), places[-1].group("function")
        where = f" in {function} ({cell})" if function else f" ({cell})"
    if name == "NotImplementedError":
        return f"{name}{where}: not written yet; replace raise NotImplementedError() with your code"
    return f"{name}{where}"


FRAME = re.compile(r"(?P<cell>Cell In\[\d+\], line \d+)(?:, in (?P<function>\w+))?")


def _first_line(text):
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 160 else line[:157] + "..."


def report(name, run):
    """The table of tests with points, the failures' messages, and the totals."""
    width = max(len("test"), *(len(t.name) for t in run.tests))
    lines = [
        f"{name}, run top to bottom in a fresh kernel as at grading:",
        "",
        f"  {'test':<{width}}  points  result",
    ]
    for test in run.tests:
        score = f"{_number(test.earned)}/{_number(test.points)}"
        lines.append(f"  {test.name:<{width}}  {score:>6}  {test.status}")
    failed = [t for t in run.tests if t.status == Result.FAILED]
    if failed:
        lines += ["", "What the failing tests said:"]
        for test in failed:
            message = test.message.splitlines()
            shown = message[:DETAIL_LINES] + (["..."] if len(message) > DETAIL_LINES else [])
            lines += ["", f"{test.name}:"] + [f"    {line}" for line in shown]
    if run.cell_errors:
        lines += ["", "Other cells that raised an error (the tests after them may fail too):"]
        lines += [f"    cell [{count}]: {text}" for count, text in run.cell_errors]
    if run.stopped:
        lines += ["", f"The run stopped early: {run.stopped}."]
    earned = sum(t.earned for t in run.tests)
    total = sum(t.points for t in run.tests)
    lines += [
        "",
        f"visible tests: {_number(earned)}/{_number(total)} points "
        f"({sum(t.status == Result.PASSED for t in run.tests)} of {len(run.tests)} passed); "
        "hidden tests run at grading.",
    ]
    return "\n".join(lines)


def _number(value):
    return f"{value:g}"


if __name__ == "__main__":  # python -m autograder.student.handin NOTEBOOK
    raise SystemExit(main())
