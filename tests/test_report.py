"""The instructor's report (grades CSV, score histogram, pass rate per cell) and feedback pages.

One course copy per module: `softmax` generated, four students submitted (the
instructor's solution, the unchanged release, and two partly right cases of
tests/support/assignment_cases.py), `nbgrader autograde`, then `feedback()`. By design
the two cases lose exactly the 3 points of test_ce_backward and the release
earns nothing, so the hand counts below are the course's design, not a re-run
of the code under test.
"""

import csv
import html
import json
import re
from types import SimpleNamespace

import matplotlib.image
import pytest

from autograder.instructor.course import Course, InstructorError
from autograder.instructor.feedback import feedback
from autograder.instructor.report import load_grades, report, summarize
from autograder.instructor.status import status_path as status_file
from tests.support.assignment_cases import CASES
from tests.support.assignment_course import (
    HIDDEN_MARKERS,
    copy_course,
    grades,
    nbgrader,
    points,
    read,
    release_notebook,
    secret_lines,
    source_notebook,
    submit,
)

pytestmark = pytest.mark.slow  # the class is graded by nbgrader autograde

ASSIGNMENT = "softmax"
CELLS = points(read(source_notebook(ASSIGNMENT)))  # {grade_id: points}, notebook order
PARTIAL = [case for case in CASES if case.assignment == ASSIGNMENT]  # mean_twice, tampered_test
STUDENTS = ["full", "mean_twice", "tampered_test", "unchanged"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """(Course, {student: {grade_id: score}} from the gradebook, feedback() results)."""
    root = copy_course(tmp_path_factory.mktemp("report"))
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    submit(root, "full", ASSIGNMENT, read(source_notebook(ASSIGNMENT, root)))
    submit(root, "unchanged", ASSIGNMENT, read(release_notebook(ASSIGNMENT, root)))
    for case in PARTIAL:
        submit(
            root, case.student, ASSIGNMENT, case.notebook(read(source_notebook(ASSIGNMENT, root)))
        )
    nbgrader(root, "autograde", ASSIGNMENT, "--force")
    # A student whose autograded notebook is unreadable: their feedback fails, the others' must not.
    broken = root / "autograded" / "broken" / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / f"{ASSIGNMENT}.ipynb").write_text("{ not a notebook")
    course = Course(root)
    scores = {
        student: cells
        for (assignment, student), cells in grades(root).items()
        if assignment == ASSIGNMENT
    }
    return course, scores, feedback(course, ASSIGNMENT, progress=False)


def read_csv(path):
    with open(path, newline="") as stream:
        return list(csv.reader(stream))


def gradebook_totals(course):
    """{student: SubmittedAssignment.score}: nbgrader's own total."""
    with course.gradebook() as gradebook:
        return {s.student.id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)}


# --------------------------------------------------------------------- the CSV


def test_the_csv_matches_the_gradebook(graded, tmp_path):
    course, scores, _ = graded
    assert sorted(scores) == STUDENTS
    paths = report(course, ASSIGNMENT, out_dir=tmp_path)
    header, *rows = read_csv(paths["csv"])
    assert header == [
        "student",
        "name",
        "test_softmax (3)",
        "test_ce_forward (2)",
        "test_ce_backward (3)",
        "late_penalty",
        "total",
        "max_score",
        "percent",
        "submitted",
        "late_by",
        "status",
        "reason",
        "flags",
    ]
    assert [c.split(" (")[0] for c in header[2:5]] == list(CELLS)  # notebook order
    totals = gradebook_totals(course)
    assert [row[0] for row in rows] == STUDENTS
    for (
        student,
        name,
        *cells,
        penalty,
        total,
        max_score,
        percent,
        submitted,
        late_by,
        status,
        reason,
        flags,
    ) in rows:
        assert (name, penalty, submitted, late_by, flags) == ("", "0", "", "", "")
        assert [float(c) for c in cells] == [scores[student][cell] for cell in CELLS], student
        assert float(total) == totals[student] == sum(scores[student].values())
        assert float(max_score) == sum(CELLS.values()) == 8
        assert percent == f"{100 * totals[student] / 8:.1f}"
        # No status file: nbgrader autograde graded everyone.
        assert (status, reason) == ("graded", "")
    assert {row[0]: row[6] for row in rows} == {
        "full": "8",
        "mean_twice": "5",
        "tampered_test": "5",
        "unchanged": "0",
    }


def test_the_default_folder_is_reports_assignment(graded):
    course, _, _ = graded
    paths = report(course, ASSIGNMENT)
    folder = course.root / "reports" / ASSIGNMENT
    assert paths == {
        "csv": folder / "softmax_grades.csv",
        "scores": folder / "softmax_scores.png",
        "cells": folder / "softmax_cells.png",
    }
    assert all(path.is_file() for path in paths.values())


def test_the_status_file_gives_the_reason_of_a_failed_submission(graded, tmp_path):
    course, scores, _ = graded
    path = status_file(course, ASSIGNMENT)
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "assignment": ASSIGNMENT,
                "students": {
                    "full": {"status": "graded", "reason": None},
                    "mean_twice": {
                        "status": "incomplete",
                        "reason": "the kernel died in test_ce_backward",
                    },
                    "tampered_test": {
                        "status": "failed",
                        "reason": "not valid JSON: Expecting value: line 1 column 1",
                    },
                    # failed before it reached the gradebook: still listed, with no scores
                    "ghost": {
                        "status": "failed",
                        "reason": "the submission folder holds no notebook",
                    },
                },
            }
        )
    )
    try:
        header, *rows = read_csv(report(course, ASSIGNMENT, out_dir=tmp_path)["csv"])
        text = str(summarize(load_grades(course, ASSIGNMENT)))
    finally:
        path.unlink()
    by_student = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert sorted(by_student) == sorted(STUDENTS + ["ghost"])
    assert by_student["tampered_test"]["status"] == "failed"
    assert (
        by_student["tampered_test"]["reason"] == "not valid JSON: Expecting value: line 1 column 1"
    )
    assert by_student["tampered_test"]["total"] == "5"  # the gradebook's scores, as they stand
    assert by_student["ghost"] == {
        **dict.fromkeys(header[1:5], ""),
        "student": "ghost",
        "total": "0",
        "late_penalty": "0",
        "submitted": "",
        "late_by": "",
        "flags": "",
        "max_score": "8",
        "percent": "0.0",
        "status": "failed",
        "reason": "the submission folder holds no notebook",
    }
    # A student the status file does not mention is in the gradebook: graded.
    assert (by_student["unchanged"]["status"], by_student["unchanged"]["reason"]) == ("graded", "")
    assert by_student["mean_twice"]["status"] == "incomplete"
    assert by_student["mean_twice"]["reason"] == "the kernel died in test_ce_backward"
    assert "5 students (2 graded, 2 failed, 1 incomplete); total score of the 5 scored" in text


# ------------------------------------------------------------------ the figures


def test_the_figures_are_png_files(graded, tmp_path):
    course, _, _ = graded
    paths = report(course, ASSIGNMENT, out_dir=tmp_path)
    for key, (height, width) in {"scores": (400, 700), "cells": (295, 700)}.items():
        data = paths[key].read_bytes()
        assert data.startswith(PNG_SIGNATURE), key
        image = matplotlib.image.imread(paths[key])
        assert image.shape[:2] == (height, width), key
        assert image.std() > 0.05, f"{key}: the image is blank"
    # The titles and a description are stored as PNG text: what a screen reader can announce.
    assert (
        b"softmax: total scores of 4 students (mean 4.50, median 5)" in paths["scores"].read_bytes()
    )
    cells = paths["cells"].read_bytes()
    assert b"softmax: pass rate per test cell (4 students)" in cells
    assert b"Under 50%: test_ce_backward." in cells


def test_the_pass_rates_match_a_hand_count(graded):
    course, scores, _ = graded
    results = load_grades(course, ASSIGNMENT)
    rates = {cell.name: results.pass_rate(cell) for cell in results.cells}
    by_hand = {
        cell: sum(scores[s][cell] == full for s in STUDENTS) / len(STUDENTS)
        for cell, full in CELLS.items()
    }
    assert (
        rates
        == by_hand
        == {"test_softmax": 3 / 4, "test_ce_forward": 3 / 4, "test_ce_backward": 1 / 4}
    )
    assert [cell.name for cell in results.cells] == list(CELLS)
    result = summarize(load_grades(course, ASSIGNMENT))
    assert (result.students, result.graded, result.statuses) == (4, 4, {"graded": 4})
    assert (result.mean, result.median, result.max_score) == (4.5, 5, 8)
    assert (result.lowest_cell, result.lowest_pass_rate) == ("test_ce_backward (3)", 0.25)
    assert str(result) == (
        "softmax: 4 students (4 graded); total score of the 4 scored: mean 4.50, median 5 "
        "of 8; lowest pass rate 25% (test_ce_backward (3))"
    )


def test_the_lowest_pass_rate_names_every_cell_tied_at_it():
    def summary_of(rates):
        cells = [SimpleNamespace(label=f"test_{name} (1)") for name in rates]
        grades = SimpleNamespace(
            assignment="a",
            cells=cells,
            rows=[],
            max_score=len(cells),
            totals=lambda: [0, 1],
            pass_rate=lambda cell: rates[cell.label[5:-4]],
        )
        summary = summarize(grades)
        return summary.lowest_cell, summary.lowest_pass_rate

    assert summary_of({"a": 0.5, "b": 0.0, "c": 0.0}) == ("test_b (1), test_c (1)", 0.0)
    assert summary_of({"a": 0.5, "b": 0.25}) == ("test_b (1)", 0.25)
    assert summary_of(dict.fromkeys("abcde", 0.0)) == (
        "test_a (1), test_b (1), test_c (1) and 2 more",
        0.0,
    )


# ------------------------------------------------------------------ bad input


def test_an_unknown_assignment_is_named_with_the_known_ones(graded):
    course, _, _ = graded
    for run in (report, load_grades, feedback):
        with pytest.raises(InstructorError, match=r"Unknown assignment 'softmx'.*softmax"):
            run(course, "softmx")


def test_an_ungraded_assignment_says_to_run_grade_first(graded, tmp_path):
    course, _, _ = graded
    # forward was never generated: the gradebook does not know it.
    with pytest.raises(
        InstructorError, match="No graded submissions of 'forward'.*Run grade forward first"
    ):
        report(course, "forward")
    # backward is in the gradebook (as after generate_assignment) with no submission.
    with course.gradebook() as gradebook:
        gradebook.update_or_create_assignment("backward")
    with pytest.raises(
        InstructorError, match="No graded submissions of 'backward'.*Run grade backward first"
    ):
        report(course, "backward", out_dir=tmp_path)
    with pytest.raises(
        InstructorError, match="No autograded submissions of 'backward'.*Run grade backward first"
    ):
        feedback(course, "backward")
    # A course never graded: the error, and no empty gradebook left behind.
    fresh = Course(copy_course(tmp_path))
    with pytest.raises(InstructorError, match="Run grade softmax first"):
        report(fresh, ASSIGNMENT)
    assert not (fresh.root / "gradebook.db").exists()
    assert not (tmp_path / "softmax_grades.csv").exists()


# ------------------------------------------------------------------ feedback


def page_text(path):
    """The feedback page as text: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


def test_feedback_writes_a_page_per_student_and_reports_the_failure(graded):
    course, _, results = graded
    assert [student for student, _, _ in results] == ["broken", *STUDENTS]
    (_, page, error), *others = results
    assert page is None and "Notebook does not appear to be JSON" in error, error
    for student, page, error in others:
        assert error is None, f"{student}: {error}"
        assert page == course.root / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
        assert page.is_file()


def test_feedback_shows_the_diagnosis_and_hides_the_hidden_tests(graded):
    course, _, results = graded
    pages = {student: page for student, page, _ in results if page}
    for case in PARTIAL:
        text = page_text(pages[case.student])
        for diagnosis in case.feedback:
            assert diagnosis in text, f"{case.student}: the feedback does not say {diagnosis!r}"
    hidden = secret_lines([read(source_notebook(ASSIGNMENT))], HIDDEN_MARKERS)
    assert len(hidden) > 10
    for student, page in pages.items():
        shown = {line.strip() for line in page_text(page).splitlines()}
        assert not hidden & shown, (
            f"{student}: the feedback shows hidden tests {sorted(hidden & shown)[:3]}"
        )


def test_feedback_names_each_test_after_its_cell_and_part(graded):
    course, _, results = graded
    page = next(page for _, page, _ in results if page).read_text(encoding="utf-8")
    assert "Test cell" not in page
    graded_ids = points(read(source_notebook(ASSIGNMENT)))
    for grade_id in graded_ids:
        assert re.search(rf'<a href="#{grade_id}">{grade_id} \([^)<]+\)</a>', page), grade_id
    assert '<a href="#test_ce_backward">test_ce_backward (2–3. Softmax cross-entropy)</a>' in page


def test_feedback_of_one_named_student_with_a_progress_bar(graded, capsys):
    course, _, _ = graded
    results = feedback(course, ASSIGNMENT, students=["mean_twice", "nobody"])
    assert results[0][0] == "mean_twice" and results[0][1].is_file() and results[0][2] is None
    assert results[1] == ("nobody", None, "nobody has no autograded softmax: run grade first")
    assert "feedback softmax" in capsys.readouterr().err
