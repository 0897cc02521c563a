"""The nbgrader course in assignments/: the notebooks' structure, and the round trip.

Static checks read the source notebooks. The round trip works on a temporary copy
of the course: `nbgrader generate_assignment`, submissions (the instructor's
solution, the unchanged release, and the partly right or broken cases of
tests/support/assignment_cases.py), `nbgrader autograde`, `nbgrader generate_feedback`;
then the scores are read from the gradebook. `nbgrader validate` and nbval run
the source notebooks.
"""

import ast
import html
import re
import subprocess
import sys

import nbformat
import pytest

from tests.support.assignment_cases import CASES
from tests.support.assignment_course import (
    COURSE,
    HIDDEN_MARKERS,
    SOLUTION_MARKERS,
    assignments,
    copy_course,
    definitions,
    environment,
    feedback_html,
    grade_id,
    grades,
    is_solution,
    is_test,
    nbgrader,
    points,
    read,
    release_notebook,
    secret_lines,
    source_notebook,
    submit,
)

ASSIGNMENTS = assignments()


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def source(request):
    return request.param, read(source_notebook(request.param))


# ------------------------------------------------------------------ static checks


def test_the_config_lists_every_assignment():
    folders = sorted(path.name for path in (COURSE / "source").iterdir() if path.is_dir())
    assert sorted(ASSIGNMENTS) == folders
    for name in ASSIGNMENTS:
        assert source_notebook(name).is_file()


def test_notebooks_are_stored_without_outputs(source):
    name, notebook = source
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{name}: {grade_id(cell)} has outputs"
            )


def test_every_cell_has_its_nbgrader_role(source):
    name, notebook = source
    ids = [grade_id(cell) for cell in notebook.cells]
    assert None not in ids and len(ids) == len(set(ids)), f"{name}: grade_ids missing or repeated"
    for cell in notebook.cells:
        role = cell.metadata["nbgrader"]
        if is_solution(cell):
            assert not role["locked"] and all(m in cell.source for m in SOLUTION_MARKERS), grade_id(
                cell
            )
        else:
            assert role["locked"], (
                f"{name}: {grade_id(cell)} is neither a solution cell nor read-only"
            )
        if is_test(cell):
            assert role["points"] > 0 and all(m in cell.source for m in HIDDEN_MARKERS), grade_id(
                cell
            )


def test_the_stated_total_is_the_sum_of_the_points(source):
    name, notebook = source
    stated = re.search(r"\*\*Total: (\d+) points\*\*", notebook.cells[0].source)
    assert stated, f"{name}: the introduction must state '**Total: N points**'"
    assert int(stated.group(1)) == sum(points(notebook).values())


def test_test_cells_end_with_a_print(source):
    """A test cell whose last line is an expression would show its value as an output,
    which nbgrader reads as a partial score; a print after the hidden tests shows none."""
    name, notebook = source
    for cell in filter(is_test, notebook.cells):
        last = ast.parse(cell.source).body[-1]
        assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call), grade_id(cell)
        assert getattr(last.value.func, "id", None) == "print", f"{name}: {grade_id(cell)}"


def test_deleted_test_cells_can_be_restored(source):
    """nbgrader 0.9 re-inserts a deleted test cell after the solution or test cell before it
    in the source; it fails if that neighbour is a read-only cell."""
    name, notebook = source
    previous = None
    for cell in notebook.cells:
        if is_test(cell):
            assert previous is not None and (is_solution(previous) or is_test(previous)), (
                f"{name}: {grade_id(cell)} must follow a solution or test cell"
            )
        previous = cell


def test_nothing_in_the_course_imports_solutions():
    pattern = re.compile(r"^\s*(import|from)\s+solutions\b", re.MULTILINE)
    for path in COURSE.rglob("*"):
        if path.suffix == ".ipynb":
            text = "\n".join(cell.source for cell in read(path).cells)
        elif path.suffix in (".py", ".md", ".txt"):
            text = path.read_text()
        else:
            continue
        assert not pattern.search(text), f"{path} imports the reference package"


def test_pasted_parts_are_the_earlier_solutions():
    """Where a later assignment asks for an earlier part (pasted into a solution cell),
    the instructor's copy is the same code as that earlier solution (docstrings aside)."""
    latest = {}
    for name in ASSIGNMENTS:
        found = definitions(read(source_notebook(name)))
        for qualified, code in found.items():
            if qualified in latest:
                assert code == latest[qualified][1], (
                    f"{name}: {qualified} differs from {latest[qualified][0]}"
                )
        latest.update({qualified: (name, code) for qualified, code in found.items()})


def test_the_readme_table_matches_the_notebooks():
    rows = {}
    for line in (COURSE / "README.md").read_text().splitlines():
        cells = [cell.strip(" `") for cell in line.strip().strip("|").split("|")]
        if cells and cells[0] in ASSIGNMENTS:
            rows[cells[0]] = int(cells[2])
    assert rows == {name: sum(points(read(source_notebook(name))).values()) for name in ASSIGNMENTS}


# -------------------------------------------------------------------- round trip


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course copy after generate_assignment, submissions, autograde and feedback.

    One autograde run grades every assignment of every student, as an instructor does
    after a deadline; a case with its own cell timeout (the infinite loop) is graded
    afterwards in a run of its own, so that the loop costs seconds, not the configured
    two minutes.
    """
    course = copy_course(tmp_path_factory.mktemp("roundtrip"))
    nbgrader(course, "generate_assignment", "*", "--force")
    for name in ASSIGNMENTS:
        submit(course, "instructor_solution", name, read(source_notebook(name, course)))
        submit(course, "release_unchanged", name, read(release_notebook(name, course)))
    late = [case for case in CASES if case.cell_timeout]
    for case in CASES:
        if case not in late:
            submit(
                course,
                case.student,
                case.assignment,
                case.notebook(read(source_notebook(case.assignment, course))),
            )
    nbgrader(course, "autograde", "*", "--force")
    for case in late:
        submit(
            course,
            case.student,
            case.assignment,
            case.notebook(read(source_notebook(case.assignment, course))),
        )
        nbgrader(
            course,
            "autograde",
            case.assignment,
            "--student",
            case.student,
            "--force",
            f"--Execute.timeout={case.cell_timeout}",
        )
    nbgrader(course, "generate_feedback", "*", "--force")
    return course, grades(course)


def feedback_text(course, student, assignment):
    """The feedback page as text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", feedback_html(course, student, assignment)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_holds_no_solution_and_no_hidden_test(graded, name):
    """No line of any solution or hidden test of the course (a line that occurs only inside
    such regions) is in the release: neither this assignment's nor an earlier one's."""
    course, _ = graded
    sources = [read(source_notebook(other, course)) for other in ASSIGNMENTS]
    release = read(release_notebook(name, course))
    released = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    for markers in (SOLUTION_MARKERS, HIDDEN_MARKERS):
        secrets = secret_lines(sources, markers)
        assert secret_lines([sources[ASSIGNMENTS.index(name)]], markers), (
            f"{name}: no {markers[0]} region"
        )
        assert not secrets & released, f"{name}: released {sorted(secrets & released)[:3]}"
        assert not any(marker in line for line in released for marker in markers)
    for cell in filter(is_solution, release.cells):
        assert "raise NotImplementedError()" in cell.source, grade_id(cell)


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_instructor_solution_scores_full_marks(graded, name):
    course, scores = graded
    assert scores[name, "instructor_solution"] == points(read(source_notebook(name)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_unchanged_release_scores_zero(graded, name):
    course, scores = graded
    assert scores[name, "release_unchanged"] == dict.fromkeys(
        points(read(source_notebook(name))), 0.0
    )
    assert (course / "autograded" / "release_unchanged" / name / f"{name}.ipynb").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.student)
def test_a_partial_submission_scores_the_designed_points(graded, case):
    course, scores = graded
    designed = {
        cell: 0.0 if cell in case.failing else full
        for cell, full in points(read(source_notebook(case.assignment))).items()
    }
    assert case.failing <= designed.keys(), (
        f"{case.student}: unknown cells {case.failing - designed.keys()}"
    )
    assert scores[case.assignment, case.student] == designed, case.mistake


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.student)
def test_the_feedback_shows_the_diagnosis(graded, case):
    course, _ = graded
    text = feedback_text(course, case.student, case.assignment)
    for diagnosis in case.feedback:
        assert diagnosis in text, f"{case.student}: the feedback does not say {diagnosis!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_feedback_leaves_out_the_hidden_tests(graded, name):
    course, _ = graded
    shown = {
        line.strip() for line in feedback_text(course, "instructor_solution", name).splitlines()
    }
    hidden = secret_lines([read(source_notebook(name))], HIDDEN_MARKERS)
    assert hidden and not hidden & shown, sorted(hidden & shown)[:3]


# --------------------------------------------------------------- running the sources


@pytest.mark.slow
def test_nbgrader_validate_passes_on_the_source_notebooks(tmp_path):
    course = copy_course(tmp_path)
    paths = [str(source_notebook(name, course)) for name in ASSIGNMENTS]
    output = nbgrader(course, "validate", *paths).stdout
    assert output.count("Success! Your notebook passes all the tests.") == len(paths), output[
        -3000:
    ]


@pytest.mark.slow
def test_the_source_notebooks_run_clean_under_nbval(tmp_path):
    course = copy_course(tmp_path)
    paths = [str(source_notebook(name, course)) for name in ASSIGNMENTS]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q", *paths],
        cwd=course,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
