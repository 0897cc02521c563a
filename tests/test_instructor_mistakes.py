"""An instructor's mistakes get a message and exit status 2, never a traceback, and never
wrong grades: each case runs the command line as an instructor would.

Wrong assignment name, outside the course, the data an assignment needs missing, a
gradebook that does not know the assignment, grade before collect, a new PostgreSQL
database, and global options after the command.
"""

import re
import subprocess
import sys

import pytest

from tests.support.assignment_course import copy_course, environment, read, source_notebook, submit
from tests.support.postgres import create_database

MISTAKES = []  # (case, CompletedProcess): counted in test_no_traceback_in_any_case


def autograder(*arguments, cwd, env=None):
    result = subprocess.run(
        [sys.executable, "-m", "autograder", *arguments],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    MISTAKES.append((" ".join(arguments), result))
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A fresh course: never released, so the gradebook does not know any assignment."""
    root = copy_course(tmp_path_factory.mktemp("mistakes"))
    submit(root, "ada", "forward", read(source_notebook("forward", root)))
    submit(root, "alan", "mnist", read(source_notebook("mnist", root)))
    return root


def test_a_wrong_assignment_name(course):
    result = autograder("grade", "fowrard", cwd=course)
    assert (
        result.returncode == 2
        and "Unknown assignment 'fowrard'" in result.stderr
        and "forward" in result.stderr
    )


def test_outside_a_course(tmp_path):
    for command in ("collect", "grade", "feedback", "report"):
        arguments = [command, "forward"] + ([str(tmp_path)] if command == "collect" else [])
        result = autograder(*arguments, cwd=tmp_path)
        assert result.returncode == 2 and "not an nbgrader course" in result.stderr, command


def test_feedback_zip_for_an_lms_nothing_was_collected_from_writes_nothing(course):
    result = autograder("feedback", "forward", "--zip", "canvas", cwd=course)
    assert result.returncode == 2 and "leave out --zip canvas" in result.stderr, result.stderr
    assert not (course / "feedback").exists()


def test_grade_before_collect(course):
    result = autograder("grade", "softmax", cwd=course)
    assert result.returncode == 2 and "collect softmax" in result.stderr


def test_feedback_and_report_before_grade(course):
    for command in ("feedback", "report", "export"):
        result = autograder(
            command, "forward", *(["canvas"] if command == "export" else []), cwd=course
        )
        assert result.returncode == 2 and "grade forward first" in result.stderr.lower().replace(
            "run ", ""
        ), (command, result.stderr)


def test_missing_data_stops_before_anyone_is_graded(course, tmp_path):
    env = environment()
    env["MNIST_DIR"] = str(tmp_path / "no-mnist-here")
    result = autograder("grade", "mnist", cwd=course, env=env)
    assert result.returncode == 2, result.stdout
    assert "needs MNIST" in result.stderr and "Nothing was graded" in result.stderr
    assert (
        "MNIST files not found" in result.stderr and "no-mnist-here" in result.stderr
    )  # the loader's message
    assert (
        not (course / "grading" / "mnist.json").exists()
        and not (course / "autograded" / "alan").exists()
    )


@pytest.mark.sandbox
def test_a_gradebook_without_the_assignment_is_registered(course):
    """Never released: grade registers forward through nbgrader, then grades."""
    result = autograder("grade", "forward", "--workers", "1", cwd=course)
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"^ada +12/12 +graded", result.stdout, re.M)


@pytest.mark.sandbox
def test_a_new_postgresql_database_and_options_after_the_command(course, postgres_url):  # noqa: F811
    url = create_database(postgres_url, "mistakes")
    result = autograder("report", "forward", "--db-url", url, cwd=course)
    assert result.returncode == 2 and "Run grade forward first" in result.stderr
    result = autograder("feedback", "forward", "--db-url", url, cwd=course)
    assert result.returncode == 2 and "grade forward first" in result.stderr
    result = autograder(
        "grade", "forward", "--db-url", url, "--workers", "1", "--force", cwd=course
    )
    assert result.returncode == 0 and re.search(r"^ada +12/12 +graded", result.stdout, re.M), (
        result.stderr[-3000:]
    )
    result = autograder("--db-url", url, "report", "forward", cwd=course)
    assert result.returncode == 0, result.stderr[-3000:]


def test_instructor_code_that_does_not_run_in_the_grader_stops_grading(tmp_path):
    """The checks compare with twins built from the instructor's solution cells: if those do not
    run in the grader, every student would fail, so nothing is graded and the cell is named."""
    import nbformat

    root = copy_course(tmp_path)
    path = source_notebook("forward", root)
    notebook = read(path)
    cell = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu"
    )
    cell.source = "import a_module_the_grader_lacks\n" + cell.source
    nbformat.write(notebook, str(path))
    submit(root, "ada", "forward", read(source_notebook("forward", root)))
    result = autograder("grade", "forward", cwd=root)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "does not run in the grader" in result.stderr
        and "a_module_the_grader_lacks" in result.stderr
    )
    assert "Nothing was graded" in result.stderr
    assert not (root / "autograded").exists() or not any((root / "autograded").iterdir())


def test_no_traceback_in_any_case():
    """The count the issue asks for: tracebacks across every case above."""
    assert len(MISTAKES) >= 11  # the runs of the cases that need neither PostgreSQL nor a sandbox
    tracebacks = sum("Traceback" in r.stdout + r.stderr for _, r in MISTAKES)
    print(f"{tracebacks} tracebacks in {len(MISTAKES)} runs of instructor mistakes")
    assert tracebacks == 0
