"""A class of submissions of the `backward` assignment with known scores.

Used by tests/test_grade.py (50 submissions, graded with 2 workers against
SQLite and PostgreSQL) and benchmarks/parallel_grading.py (against stock
`nbgrader autograde`). Each kind starts from the instructor's notebook (or the
release) and changes one thing; `expected` is the score the course's design
gives it and `status` what the grading pipeline reports.
"""

from dataclasses import dataclass

from .assignment_cases import CASES, Prepend, Replace
from .assignment_course import points, read, release_notebook, source_notebook, submit

ASSIGNMENT = "backward"


@dataclass(frozen=True)
class Kind:
    name: str
    edits: tuple = ()
    failing: frozenset = frozenset()  # test cells that earn 0
    blank: bool = False  # the unchanged release
    not_json: bool = False  # the file is not a notebook at all
    status: str = "graded"
    stock: bool = True  # stock nbgrader grades it to the same score
    flags: tuple = ()  # kinds of the flags the grader raises (status.Flag.kind)


def _case(student):
    case = next(c for c in CASES if c.student == student)
    return Kind(student, case.edits, case.failing)


LINEAR_TESTS = frozenset({"test_linear_dX", "test_linear_dW", "test_linear_db"})

KINDS = (
    Kind("correct"),
    Kind("blank", blank=True, failing=None),  # None: every test cell earns 0
    _case("dW_transposed"),
    _case("relu_backward_wrong"),
    Kind(
        "syntax_error",
        (Replace("linear", "self.dW = grad_out.T @ self.x", "self.dW = grad_out.T @"),),
        frozenset({"test_linear_dX", "test_linear_dW", "test_linear_db"}),
    ),
    Kind("not_json", not_json=True, failing=None, status="failed", stock=False),
    # The student's process dies in the Linear cell: that cell's tests fail; a new process runs
    # the rest, so the Jacobian still earns its points (stock nbgrader: all cells after, 0).
    Kind(
        "kernel_exit",
        (Prepend("linear", "import os\nos._exit(1)\n"),),
        LINEAR_TESTS,
        status="incomplete",
        stock=False,
        flags=("process-control",),
    ),
    # 16 GB asked for: the kernel's memory limit turns it into a MemoryError in that cell.
    Kind(
        "memory_hog",
        (Prepend("tanh", "hog = np.ones(2**31)\n"),),
        frozenset({"test_tanh_backward"}),
        stock=False,
    ),
)


def expected_scores(course, kind):
    """{test cell: points} that `kind` earns."""
    full = points(read(source_notebook(ASSIGNMENT, course)))
    if kind.failing is None:
        return dict.fromkeys(full, 0.0)
    return {cell: 0.0 if cell in kind.failing else float(value) for cell, value in full.items()}


def submit_class(course, size, kinds=KINDS):
    """Submit `size` students, cycling through `kinds`; returns {student: Kind}.
    The release must have been generated."""
    students = {}
    for number in range(size):
        kind = kinds[number % len(kinds)]
        student = f"s{number:03d}_{kind.name}"
        if kind.blank:
            notebook = read(release_notebook(ASSIGNMENT, course))
        else:
            notebook = read(source_notebook(ASSIGNMENT, course))
            for edit in kind.edits:
                edit.apply(notebook.cells)
        path = submit(course, student, ASSIGNMENT, notebook)
        if kind.not_json:
            path.write_text('{"cells": [ this is not JSON')
        students[student] = kind
    return students
