"""Parallel autograding (`python -m autograder grade`), against SQLite and a real PostgreSQL.

A class of 50 submissions of `backward` (tests/support/class_submissions.py: correct,
blank, partly right, a syntax error, not JSON, a kernel that exits, a memory
hog) is graded with 2 workers; every submission must come out with exactly
its designed score and status, and the gradebook must be intact.
"""

import json
import sqlite3
import subprocess
import sys

import nbformat
import pytest
from traitlets.config import Config

from autograder.instructor.course import Course, InstructorError
from autograder.instructor.execute import execute_notebook
from autograder.instructor.grade import grade, load_status
from autograder.instructor.limits import GradingLimits
from tests.support.assignment_cases import Prepend, Replace
from tests.support.assignment_course import (
    copy_course,
    environment,
    nbgrader,
    read,
    release_notebook,
    source_notebook,
    submit,
)
from tests.support.class_submissions import ASSIGNMENT, expected_scores, submit_class

CLASS_SIZE = 50


def gradebook_scores(course):
    """{student: {test cell: score}} and {student: flagged} of the assignment, from the
    gradebook."""
    scores, flagged = {}, {}
    with course.gradebook() as gradebook:
        for submission in gradebook.find_assignment(ASSIGNMENT).submissions:
            notebook = submission.notebooks[0]
            scores[submission.student.id] = {g.name: g.score for g in notebook.grades}
            flagged[submission.student.id] = notebook.flagged
    return scores, flagged


def grade_class(tmp_path, db_url=None):
    root = copy_course(tmp_path)
    course = Course(root, db_url=db_url)
    nbgrader(
        root,
        "generate_assignment",
        ASSIGNMENT,
        "--force",
        *([f"--CourseDirectory.db_url={db_url}"] if db_url else []),
    )
    students = submit_class(root, CLASS_SIZE)
    outcomes = grade(course, ASSIGNMENT, workers=2, progress=False)
    return course, students, outcomes


def check_class(course, students, outcomes):
    # Nothing lost: one outcome per submission, and the gradebook has each of them.
    assert [o.student for o in outcomes] == sorted(students)
    scores, flagged = gradebook_scores(course)
    assert scores.keys() == students.keys()
    for outcome in outcomes:
        kind = students[outcome.student]
        expected = expected_scores(course.root, kind)
        assert scores[outcome.student] == expected, (kind.name, outcome)
        assert (outcome.status, outcome.score, outcome.max_score) == (
            kind.status,
            sum(expected.values()),
            14.0,
        ), kind.name
        assert [flag.kind for flag in outcome.flags] == list(kind.flags), (
            kind.name,
            outcome.flags,
        )
        assert flagged[outcome.student] == (kind.status == "failed" or bool(kind.flags)), kind.name
        assert (outcome.reason is None) == (kind.status == "graded"), (kind.name, outcome.reason)
    reasons = {students[o.student].name: o.reason for o in outcomes if o.reason}
    assert "JSON" in reasons["not_json"]
    assert "process ended" in reasons["kernel_exit"]
    status = load_status(course, ASSIGNMENT)
    assert {s: v["status"] for s, v in status.items()} == {s: k.status for s, k in students.items()}
    assert all(
        v["flags"] == next(o.flags for o in outcomes if o.student == s) for s, v in status.items()
    )


@pytest.mark.slow
@pytest.mark.sandbox
def test_fifty_submissions_with_two_workers_on_sqlite(tmp_path):
    course, students, outcomes = grade_class(tmp_path)
    check_class(course, students, outcomes)
    with sqlite3.connect(course.root / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
@pytest.mark.sandbox
def test_fifty_submissions_with_two_workers_on_postgresql(tmp_path, fresh_postgres_url):  # noqa: F811
    course, students, outcomes = grade_class(tmp_path, db_url=fresh_postgres_url)
    check_class(course, students, outcomes)
    assert not (course.root / "gradebook.db").exists()


# ------------------------------------------------------------------ limits and reruns


@pytest.fixture(scope="module")
def small_course(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("small"))
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    return root


def submit_with(course, student, cell, code):
    """The instructor's notebook with `code` put at the top of the cell `cell`."""
    notebook = read(source_notebook(ASSIGNMENT, course))
    Prepend(cell, code).apply(notebook.cells)
    submit(course, student, ASSIGNMENT, notebook)


@pytest.mark.slow
def test_in_a_kernel_a_loop_that_ignores_interrupts_is_stopped_and_keeps_earlier_points(
    small_course,
):
    submit_with(
        small_course,
        "stubborn_loop",
        "tanh",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
    )
    course = Course(small_course)
    course.config.Execute.timeout = 3
    [outcome] = grade(
        course, ASSIGNMENT, workers=1, students=["stubborn_loop"], progress=False, sandbox=False
    )
    assert outcome.status == "incomplete" and "ignored the interrupt" in outcome.reason, (
        outcome.reason
    )
    # ReLU 2 + LeakyReLU 1 + Sigmoid 2 before the loop; nothing from the Tanh cell on.
    assert outcome.score == 5.0


@pytest.mark.slow
def test_in_a_kernel_a_notebook_past_its_deadline_is_stopped_and_keeps_earlier_points(small_course):
    submit_with(small_course, "slow_sigmoid", "sigmoid", "import time\ntime.sleep(60)\n")
    course = Course(small_course)
    [outcome] = grade(
        course,
        ASSIGNMENT,
        workers=1,
        students=["slow_sigmoid"],
        progress=False,
        sandbox=False,
        limits=GradingLimits(notebook_timeout=15),
    )
    assert outcome.status == "incomplete" and "longer than 15 s" in outcome.reason, outcome.reason
    assert outcome.score == 3.0  # ReLU 2 + LeakyReLU 1; the Sigmoid cell and all after it: 0


@pytest.mark.slow
@pytest.mark.sandbox
def test_outputs_edited_to_show_a_pass_are_flagged_and_earn_nothing(small_course):
    """The ReLU backward is wrong, and its test cell's output was edited to say it passed."""
    notebook = read(source_notebook(ASSIGNMENT, small_course))
    Replace("relu", "return grad_out * (self.x > 0)", "return grad_out").apply(notebook.cells)
    test = next(
        c
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "test_relu_backward"
    )
    test.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="ReLU.backward: tests passed\n")
    ]
    submit(small_course, "edited_outputs", ASSIGNMENT, notebook)
    [outcome] = grade(
        Course(small_course), ASSIGNMENT, workers=1, students=["edited_outputs"], progress=False
    )
    assert outcome.score == 12.0 and outcome.status == "graded"
    assert [flag.kind for flag in outcome.flags] == ["disagrees"]
    assert "test_relu_backward" in outcome.flags[0].detail


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_hidden_case_failing_is_no_disagreement(small_course):
    """Tanh.backward that only works on 2-D input passes the visible test (its output shows
    the pass honestly) and fails a hidden 3-D case: a lost point, not a flag."""
    notebook = read(source_notebook(ASSIGNMENT, small_course))
    Replace(
        "tanh",
        "return grad_out * (1 - self.out**2)",
        "g = grad_out.reshape(len(grad_out), -1)\n"
        "        return g * (1 - self.out.reshape(len(g), -1) ** 2)",
    ).apply(notebook.cells)
    test = next(
        c
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "test_tanh_backward"
    )
    test.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="Tanh.backward: tests passed\n")
    ]
    submit(small_course, "hidden_only", ASSIGNMENT, notebook)
    [outcome] = grade(
        Course(small_course), ASSIGNMENT, workers=1, students=["hidden_only"], progress=False
    )
    assert outcome.score == 13.0 and outcome.status == "graded", outcome
    assert outcome.flags == []


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_crash_in_the_students_code_points_at_their_cell_by_its_number(small_course):
    """The graded notebook numbers its cells as Jupyter does (In [n]); a traceback from the
    student's code names their cell by that number, and the grader's own frames not at all."""
    submit(small_course, "blank", ASSIGNMENT, read(release_notebook(ASSIGNMENT, small_course)))
    grade(Course(small_course), ASSIGNMENT, workers=1, students=["blank"], progress=False)
    graded = read(small_course / "autograded" / "blank" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    code = [cell for cell in graded.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    [defining] = [cell for cell in code if "def tanh_layer_jacobian" in cell.source]
    tracebacks = [
        "\n".join(output.traceback)
        for cell in code
        for output in cell.outputs
        if output.output_type == "error" and "tanh_layer_jacobian" in "\n".join(output.traceback)
    ]
    assert tracebacks, "no test reached the student's tanh_layer_jacobian"
    for trace in tracebacks:
        assert f'File "Cell In[{defining.execution_count}]", line ' in trace, trace
        assert "student_process" not in trace and "autograder" not in trace, trace


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_failed_check_points_at_the_students_line_as_in_their_notebook(small_course):
    """A wrong dW at grading: the graded error gives the diagnosis and, as the check does in the
    student's own notebook, the line of their code that sets dW, in their cell by its number."""
    notebook = read(source_notebook(ASSIGNMENT, small_course))
    Replace("linear", "self.dW = grad_out.T @ self.x", "self.dW = self.x.T @ grad_out").apply(
        notebook.cells
    )
    submit(small_course, "transposed", ASSIGNMENT, notebook)
    grade(Course(small_course), ASSIGNMENT, workers=1, students=["transposed"], progress=False)
    graded = read(small_course / "autograded" / "transposed" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    code = [cell for cell in graded.cells if cell.cell_type == "code"]
    [linear] = [cell for cell in code if "class Linear" in cell.source]
    line = 1 + linear.source.splitlines().index("        self.dW = self.x.T @ grad_out")
    [failed] = [
        "\n".join(output.traceback)
        for cell in code
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_linear_dW"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert "it is transposed (check the order of the product)" in failed, failed
    assert (
        f"Your code: Cell In[{linear.execution_count}], line {line}, in Linear.backward\n"
        "    self.dW = self.x.T @ grad_out"
    ) in failed, failed


@pytest.mark.slow
@pytest.mark.sandbox
def test_graded_submissions_are_skipped_unless_forced(small_course):
    submit(small_course, "twice", ASSIGNMENT, read(source_notebook(ASSIGNMENT, small_course)))
    course = Course(small_course)
    first = grade(course, ASSIGNMENT, workers=1, students=["twice"], progress=False)
    assert [(o.student, o.score) for o in first] == [("twice", 14.0)]
    assert grade(course, ASSIGNMENT, workers=1, students=["twice"], progress=False) == []
    again = grade(course, ASSIGNMENT, workers=1, students=["twice"], force=True, progress=False)
    assert [(o.student, o.score) for o in again] == [("twice", 14.0)]


def test_asking_for_a_student_who_did_not_submit_names_them(small_course):
    submit(small_course, "present", ASSIGNMENT, read(source_notebook(ASSIGNMENT, small_course)))
    with pytest.raises(InstructorError, match="nobody_here"):
        grade(Course(small_course), ASSIGNMENT, students=["nobody_here"], progress=False)


# ------------------------------------------------------------------ the command line


def autograder(*arguments, cwd):
    return subprocess.run(
        [sys.executable, "-m", "autograder", *arguments],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("command", ["", "release", "collect", "grade", "feedback", "report"])
def test_every_command_has_help(command, small_course):
    result = autograder(*([command] if command else []), "--help", cwd=small_course)
    assert result.returncode == 0 and "usage: python -m autograder" in result.stdout


def test_an_unknown_assignment_is_named_with_the_known_ones(small_course):
    result = autograder("grade", "backwards", cwd=small_course)
    assert result.returncode == 2
    assert "Unknown assignment 'backwards'" in result.stderr and "backward" in result.stderr


def test_grading_with_nothing_collected_says_to_collect_first(small_course):
    result = autograder("grade", "softmax", cwd=small_course)
    assert result.returncode == 2 and "collect softmax" in result.stderr


def test_outside_a_course_the_message_says_where_to_run(tmp_path):
    result = autograder("grade", "backward", cwd=tmp_path)
    assert result.returncode == 2 and "not an nbgrader course" in result.stderr


@pytest.mark.slow
@pytest.mark.sandbox
def test_the_grade_command_prints_each_submission(small_course):
    submit(small_course, "cli_student", ASSIGNMENT, read(source_notebook(ASSIGNMENT, small_course)))
    result = autograder(
        "grade", ASSIGNMENT, "--student", "cli_student", "--workers", "1", cwd=small_course
    )
    assert "cli_student  14/14  graded" in result.stdout, result.stdout
    assert "This run graded 1 new or changed submission: 1 graded, 0 incomplete" in result.stdout
    status = json.loads((small_course / "grading" / f"{ASSIGNMENT}.json").read_text())
    assert status["students"]["cli_student"]["status"] == "graded"
    assert (
        status["students"]["cli_student"]["reason"],
        status["students"]["cli_student"]["flags"],
    ) == (None, [])
    # Other students of this course were graded incomplete or flagged by the tests above: exit 1,
    # and who.
    if any(v["status"] != "graded" or v["flags"] for v in status["students"].values()):
        assert result.returncode == 1 and "need a look" in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Warning" not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.sandbox
def test_metadata_that_is_not_a_dict_costs_nothing_but_a_flag(small_course):
    """A cell whose nbgrader metadata is a string: the rebuild treats it as a cell the student
    added, and the run goes on (it used to stop the whole class in rebuild)."""
    notebook = read(source_notebook(ASSIGNMENT, small_course))
    next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu"
    ).metadata["nbgrader"] = "oops"
    notebook.cells.insert(1, nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": "oops"}))
    submit(small_course, "oops_metadata", ASSIGNMENT, notebook)
    submit(small_course, "after_oops", ASSIGNMENT, read(source_notebook(ASSIGNMENT, small_course)))
    outcomes = grade(
        Course(small_course),
        ASSIGNMENT,
        workers=1,
        students=["oops_metadata", "after_oops"],
        progress=False,
    )
    by_student = {o.student: o for o in outcomes}
    assert by_student["after_oops"].score == 14.0 and by_student["after_oops"].status == "graded"
    oops = by_student["oops_metadata"]
    assert oops.status == "graded" and oops.score < 14.0, (
        oops
    )  # its ReLU cell counts as deleted: the stub is graded
    assert any(flag.kind == "deleted-cell" for flag in oops.flags), oops.flags


@pytest.mark.slow
@pytest.mark.sandbox
def test_an_exception_in_one_students_step_costs_that_student_alone(small_course, monkeypatch):
    from autograder.instructor import grade as grading

    submit(small_course, "unlucky", ASSIGNMENT, read(source_notebook(ASSIGNMENT, small_course)))
    submit(small_course, "lucky", ASSIGNMENT, read(source_notebook(ASSIGNMENT, small_course)))
    real = grading.Grader.rebuild

    def rebuild(self, student):
        if student == "unlucky":
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real(self, student)

    monkeypatch.setattr(grading.Grader, "rebuild", rebuild)
    outcomes = grade(
        Course(small_course), ASSIGNMENT, workers=1, students=["unlucky", "lucky"], progress=False
    )
    by_student = {o.student: o for o in outcomes}
    assert by_student["lucky"].status == "graded" and by_student["lucky"].score == 14.0
    assert (
        by_student["unlucky"].status == "failed"
        and "UnicodeEncodeError" in by_student["unlucky"].reason
    )
    assert load_status(Course(small_course), ASSIGNMENT)["unlucky"]["status"] == "failed"


def test_in_a_kernel_the_first_output_is_kept_and_a_kernel_dead_at_start_is_reported(tmp_path):
    """The kernel client is ready once the kernel answered with its IOPub connected (no
    draining wait): the first cell's output still arrives, and a kernel that dies before it
    answers (here: 40 MiB of memory) is the notebook's problem, not a hang or a traceback."""
    cells = [nbformat.v4.new_code_cell("print('first words')"), nbformat.v4.new_code_cell("1 + 1")]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "first.ipynb"
    nbformat.write(notebook, path)
    assert execute_notebook(path, Config()).problem is None
    ran = nbformat.read(path, as_version=4).cells
    assert [o.get("text") for o in ran[0].outputs] == ["first words\n"]
    assert ran[1].outputs[0]["data"]["text/plain"] == "2"

    nbformat.write(notebook, path)
    problem = execute_notebook(path, Config(), GradingLimits(memory=40 * 2**20)).problem
    assert problem == (
        "the notebook could not be run: RuntimeError: Kernel died before replying to kernel_info"
    )
    assert "NotRun" in str(nbformat.read(path, as_version=4).cells[0].outputs)


def test_in_a_kernel_a_failing_first_cell_keeps_its_error(tmp_path):
    """The kernel_info messages left in IOPub (the client does not drain them) cannot stand in
    for the first cell's own: its error output is there, so its test earns nothing."""
    cells = [nbformat.v4.new_code_cell("raise AssertionError('the first test fails')")]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata.kernelspec = {"name": "python3", "display_name": "Python 3"}
    path = tmp_path / "failing.ipynb"
    nbformat.write(notebook, path)
    assert execute_notebook(path, Config()).problem is None
    [output] = nbformat.read(path, as_version=4).cells[0].outputs
    assert (output.output_type, output.ename, output.evalue) == (
        "error",
        "AssertionError",
        "the first test fails",
    )
