"""Grading integrity: the adversarial corpus of tests/support/integrity_corpus.py, graded in one
batch.

Every entry is a real notebook with a wrong answer plus an attempt on the grader
(or an honest variant). The corpus is graded with 2 workers in the sandbox (the
default), one run per assignment, and the entries with a cell timeout in a run of
their own. Then:

- every entry scores exactly what its wrong answer deserves (cell by cell), with
  the expected status and flags; over the whole corpus the false credit (points
  above what was deserved) is 0, and so are the false zeros of honest entries;
- the course folder is unchanged except for what grading writes;
- the gradebook is unchanged except for the grades: same assignments, notebooks,
  grade, solution and source cells, and only the students who submitted;
- the honest entries score the same graded alone, in a copy of the course;
- grading the attempts again (force=True) gives the same scores;
- no student's output is live HTML in the feedback pages.
"""

import hashlib
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from autograder.instructor.course import Course
from autograder.instructor.feedback import feedback
from autograder.instructor.grade import grade
from autograder.instructor.nbgrader_run import make_converter, run
from tests.support.assignment_course import (
    copy_course,
    points,
    read,
    release_notebook,
    source_notebook,
    submit,
)
from tests.support.integrity_corpus import ENTRIES, FORK_BOMB_CHILD, LITTER_FILE, LITTER_FOLDERS

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # the corpus, graded in the sandbox

WORKERS = 2
ASSIGNMENTS = sorted({entry.assignment for entry in ENTRIES})
GENERATED = {"submitted", "autograded", "feedback", "grading", "reports"}
BY_STUDENT = {entry.student: entry for entry in ENTRIES}


def test_the_corpus_covers_what_it_must():
    students = [entry.student for entry in ENTRIES]
    assert len(students) == len(set(students)), "student ids must be unique"
    cheats = [entry for entry in ENTRIES if not entry.honest]
    assert len(cheats) >= 30, len(cheats)
    assert sum(entry.honest for entry in ENTRIES) >= 5
    for entry in ENTRIES:
        assert entry.description and not (entry.honest and entry.trick), entry.student
        assert entry.deserved == expected_total(entry), (
            entry.student,
            entry.deserved,
            expected_total(entry),
        )


# ----------------------------------------------------------------- running the corpus


def generate(course, assignments):
    """nbgrader's generate_assignment, in this process (the release, and the gradebook entries)."""
    from nbgrader.converters import GenerateAssignment

    for assignment in assignments:
        problem = run(make_converter(GenerateAssignment, course, assignment, student=".").start)
        assert problem is None, f"generate_assignment {assignment}: {problem}"


def submit_entries(root, entries):
    for entry in entries:
        source = read(source_notebook(entry.assignment, root))
        release = read(release_notebook(entry.assignment, root))
        submit(root, entry.student, entry.assignment, entry.notebook(source, release, root))


def grade_entries(course, entries, force=False):
    """Grade `entries` as the instructor would: one run per assignment with every ordinary
    entry, then a run with a short cell timeout for the entries that need one.
    Returns {student: Outcome} and {student: {test cell: score}}."""
    outcomes = {}
    configured = course.config.Execute.timeout
    for assignment in ASSIGNMENTS:
        mine = [e for e in entries if e.assignment == assignment]
        groups = {}
        for entry in mine:
            groups.setdefault(entry.cell_timeout, []).append(entry.student)
        for timeout, students in sorted(groups.items(), key=lambda item: item[0] or 0):
            course.config.Execute.timeout = timeout or configured
            try:
                for outcome in grade(
                    course,
                    assignment,
                    workers=WORKERS,
                    students=students,
                    force=force,
                    progress=False,
                ):
                    outcomes[outcome.student] = outcome
            finally:
                course.config.Execute.timeout = configured
    return outcomes, cell_scores(course)


def cell_scores(course):
    """{student: {test cell: score}} from the gradebook, for every assignment."""
    scores = {}
    with course.gradebook() as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                cells = scores.setdefault(submission.student.id, {})
                for notebook in submission.notebooks:
                    cells.update({g.name: g.score for g in notebook.grades})
    return scores


def file_hashes(root):
    """{relative path: sha256} of every file of the course, except what grading writes."""
    hashes = {}
    for path in sorted(Path(root).rglob("*")):
        relative = path.relative_to(root)
        if (
            relative.parts[0] in GENERATED
            or relative.parts[0].startswith("gradebook.db")
            or not path.is_file()
        ):
            continue
        hashes[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def gradebook_structure(course):
    """What the instructor put in the gradebook (everything but the students and their grades)."""
    structure = {}
    with course.gradebook() as gradebook:
        for assignment in gradebook.assignments:
            for notebook in assignment.notebooks:
                structure[assignment.name, notebook.name] = {
                    "grade_cells": sorted(
                        (c.name, c.max_score, c.cell_type) for c in notebook.grade_cells
                    ),
                    "solution_cells": sorted(c.name for c in notebook.solution_cells),
                    "task_cells": sorted((c.name, c.max_score) for c in notebook.task_cells),
                    "source_cells": sorted(
                        (c.name, c.cell_type, c.locked, c.source, c.checksum)
                        for c in notebook.source_cells
                    ),
                }
        students = sorted(s.id for s in gradebook.students)
        submissions = sorted(
            (a.name, s.student.id) for a in gradebook.assignments for s in a.submissions
        )
    return structure, students, submissions


def source_points(root):
    return {a: points(read(source_notebook(a, root))) for a in ASSIGNMENTS}


POINTS = source_points(Path(__file__).resolve().parents[1] / "assignments")


def expected_total(entry):
    return float(
        sum(p for cell, p in POINTS[entry.assignment].items() if cell not in entry.failing)
    )


def expected_cells(entry):
    return {
        cell: 0.0 if cell in entry.failing else float(p)
        for cell, p in POINTS[entry.assignment].items()
    }


@dataclass
class Run:
    root: Path
    course: Course
    outcomes: dict
    scores: dict
    files_before: dict
    files_after: dict
    gradebook_before: tuple
    gradebook_after: tuple
    seconds: float
    honest_root: Path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("integrity")
    root = copy_course(base)
    course = Course(root)
    generate(course, ASSIGNMENTS)
    honest_root = base / "honest"
    shutil.copytree(root, honest_root)  # generated, nothing submitted yet
    submit_entries(root, ENTRIES)
    files_before, gradebook_before = file_hashes(root), gradebook_structure(course)
    started = time.perf_counter()
    try:
        outcomes, scores = grade_entries(course, ENTRIES)
        seconds = time.perf_counter() - started
        yield Run(
            root,
            course,
            outcomes,
            scores,
            files_before,
            file_hashes(root),
            gradebook_before,
            gradebook_structure(course),
            seconds,
            honest_root,
        )
    finally:
        for folder in LITTER_FOLDERS:  # what the sandbox let through: not left on the machine
            Path(folder, LITTER_FILE).unlink(missing_ok=True)


# ----------------------------------------------------------------- the tests


def describe(entry, outcome, scores, root=None):
    return (
        f"{entry.student} ({entry.description}): expected {entry.deserved} {entry.status} "
        f"flags {sorted(entry.flags)}; got {outcome.score if outcome else None} "
        f"{outcome.status if outcome else None} "
        f"flags {sorted(flag_kinds(outcome)) if outcome else None}"
        f"{' reason: ' + outcome.reason if outcome and outcome.reason else ''}; "
        f"cells {scores}" + (graded_errors(root, entry) if root else "")
    )


def graded_errors(root, entry):
    """The error outputs of the entry's graded notebook, to see why a cell failed."""
    lines = []
    for path in sorted(
        (Path(root) / "autograded" / entry.student / entry.assignment).glob("*.ipynb")
    ):
        for cell in read(path).cells:
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    lines.append(
                        f"    {cell.metadata.get('nbgrader', {}).get('grade_id', 'a cell')}: "
                        f"{output.get('ename')}: {str(output.get('evalue'))[:300]}"
                    )
    return "\n" + "\n".join(lines) if lines else ""


def flag_kinds(outcome):
    return {flag.kind for flag in outcome.flags}


def test_every_entry_scores_what_it_deserves_with_its_status_and_flags(corpus):
    wrong = []
    for entry in ENTRIES:
        outcome = corpus.outcomes.get(entry.student)
        scores = corpus.scores.get(entry.student)
        expected = (
            expected_cells(entry),
            entry.deserved,
            entry.status,
            set(entry.flags),
            expected_total_max(entry),
        )
        got = (
            (scores, outcome.score, outcome.status, flag_kinds(outcome), outcome.max_score)
            if outcome
            else None
        )
        if got != expected:
            wrong.append(describe(entry, outcome, scores, corpus.root))
    false_credit = total_false_credit(corpus)
    assert not wrong, (
        f"{len(wrong)} of {len(ENTRIES)} entries graded wrongly (false credit in total: "
        f"{false_credit} points):\n" + "\n".join(wrong)
    )


def expected_total_max(entry):
    return float(sum(POINTS[entry.assignment].values()))


def total_false_credit(corpus):
    """Points given above what the wrong answers deserved, per entry and in total."""
    credit = {}
    for entry in ENTRIES:
        outcome = corpus.outcomes.get(entry.student)
        if outcome is not None and outcome.score > entry.deserved:
            credit[entry.student] = outcome.score - entry.deserved
    return sum(credit.values()), credit


def test_no_false_credit_and_no_false_zero(corpus):
    false_credit, where = total_false_credit(corpus)
    false_zeros = {}
    for entry in ENTRIES:
        outcome = corpus.outcomes.get(entry.student)
        scores = corpus.scores.get(entry.student, {})
        lost = [
            cell for cell, value in expected_cells(entry).items() if value and not scores.get(cell)
        ]
        if entry.honest and lost:
            false_zeros[entry.student] = (lost, outcome.reason if outcome else "not graded")
    assert (false_credit, false_zeros) == (0, {}), (
        f"false credit: {false_credit} points {where}; honest test cells scored 0: {false_zeros}"
    )


def test_the_course_folder_is_unchanged_except_the_grading_outputs(corpus):
    before, after = corpus.files_before, corpus.files_after
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    assert not changed, f"files of the course changed by grading: {changed}"
    for entry in ENTRIES:  # the graded notebooks are where they belong, each small
        graded = (
            corpus.root
            / "autograded"
            / entry.student
            / entry.assignment
            / f"{entry.assignment}.ipynb"
        )
        assert graded.is_file() and graded.stat().st_size < 2 * 2**20, (entry.student, graded)


def test_the_gradebook_keeps_the_instructors_cells_and_only_the_submitting_students(corpus):
    structure_before, students_before, _ = corpus.gradebook_before
    structure_after, students_after, submissions = corpus.gradebook_after
    assert structure_after == structure_before
    assert students_before == []
    assert students_after == sorted(BY_STUDENT)
    assert submissions == sorted((e.assignment, e.student) for e in ENTRIES)
    with corpus.course.gradebook() as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                assert submission.max_score == sum(POINTS[assignment.name].values()), (
                    submission.student.id
                )
                for grade_row in (g for nb in submission.notebooks for g in nb.grades):
                    assert 0 <= grade_row.score <= grade_row.max_score, (
                        submission.student.id,
                        grade_row.name,
                    )


def test_honest_entries_score_the_same_graded_alone(corpus):
    honest = [entry for entry in ENTRIES if entry.honest]
    course = Course(corpus.honest_root)
    submit_entries(corpus.honest_root, honest)
    outcomes, scores = grade_entries(course, honest)
    alone = {e.student: (scores[e.student], outcomes[e.student].status) for e in honest}
    together = {
        e.student: (corpus.scores[e.student], corpus.outcomes[e.student].status) for e in honest
    }
    assert alone == together


def test_grading_again_gives_the_same_scores(corpus):
    """Every attempt on the grader, graded a second time in place (force=True): nothing it did the
    first time (files, processes, the gradebook) changes its grade. (The honest entries are graded a
    second time in a course of their own, by the test above.)"""
    attempts = [entry for entry in ENTRIES if not entry.honest]
    again, scores = grade_entries(corpus.course, attempts, force=True)
    first = {
        e.student: (
            corpus.scores[e.student],
            corpus.outcomes[e.student].status,
            sorted(flag_kinds(corpus.outcomes[e.student])),
        )
        for e in attempts
    }
    second = {s: (scores[s], o.status, sorted(flag_kinds(o))) for s, o in again.items()}
    differ = {
        s: (first.get(s), second.get(s))
        for s in first.keys() | second.keys()
        if first.get(s) != second.get(s)
    }
    assert not differ, differ
    assert file_hashes(corpus.root) == corpus.files_before


LIVE_HTML = ("<script>alert", "<img src=x onerror")  # what the students print, unescaped


def test_no_student_output_is_live_html_in_the_feedback(corpus):
    for entry in (e for e in ENTRIES if e.feedback):
        [(student, page, problem)] = feedback(
            corpus.course, entry.assignment, students=[entry.student], progress=False
        )
        assert problem is None, (student, problem)
        html = page.read_text()
        assert len(html) < 4 * 2**20, (student, len(html))
        live = [marker for marker in LIVE_HTML if marker in html]
        assert not live, (
            f"{student}: the feedback page has live HTML from the student's output: {live}"
        )
    html = (
        corpus.root / "feedback" / "cheat_script_output_softmax" / "softmax" / "softmax.html"
    ).read_text()
    for shown in ("&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(6)&gt;"):
        assert html.count(shown) >= 2, shown  # in the code, and printed: shown as text both times


def test_nothing_a_student_starts_or_writes_outlives_the_sandbox(corpus):
    """The fork bomb's children (they become `sleep 617.25`) are gone with their sandbox, and so are
    the files a student wrote outside its scratch folder (/tmp, /var/tmp, /dev/shm, which is
    RAM)."""
    listing = subprocess.run(
        ["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True
    ).stdout
    processes = [line for line in listing.splitlines() if FORK_BOMB_CHILD in line]
    files = [
        str(Path(folder, LITTER_FILE))
        for folder in LITTER_FOLDERS
        if Path(folder, LITTER_FILE).exists()
    ]
    assert (processes, files) == ([], []), (
        f"left behind by students: processes {processes}, files {files}"
    )


def test_what_a_student_reads_of_a_failed_test_names_no_grader_internals(corpus):
    """The error outputs of the test cells (what the feedback shows under a failed test) name no
    file or module of the grader, and no line of a hidden test."""
    hidden_lines = {
        line.strip()
        for assignment in ASSIGNMENTS
        for cell in read(source_notebook(assignment, corpus.root)).cells
        for line in _hidden_part(cell.source).splitlines()
        if len(line.strip()) > 12
    }
    found = []
    for entry in ENTRIES:
        for path in (corpus.root / "autograded" / entry.student / entry.assignment).glob("*.ipynb"):
            for cell in read(path).cells:
                if not cell.metadata.get("nbgrader", {}).get("grade"):
                    continue
                for output in cell.get("outputs", []):
                    if output.get("output_type") != "error":
                        continue
                    text = "\n".join([output.get("evalue", ""), *output.get("traceback", [])])
                    for leak in (
                        "student_process.py",
                        "protocol.py",
                        "autograder.instructor",
                        "remote.py",
                        "__grader__",
                        "autograder.student",
                    ):
                        if leak in text:
                            found.append(f"{entry.student}: {leak}")
                    found += [
                        f"{entry.student}: hidden line {line!r}"
                        for line in hidden_lines
                        if line in text
                    ]
    assert not found, found[:10]


def _hidden_part(source):
    start, end = source.find("### BEGIN HIDDEN TESTS"), source.find("### END HIDDEN TESTS")
    return source[start:end] if start >= 0 else ""
