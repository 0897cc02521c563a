"""A class's results for one assignment: a grades table (CSV) and two figures (PNG).

    report(course, "forward")   # -> {"csv": ..., "scores": ..., "cells": ...}
    summarize(load_grades(course, "forward"))  # -> Summary; str(summary) is what the CLI prints

Scores come from nbgrader's gradebook, read through its Python API (so an
SQLite file and a shared PostgreSQL gradebook work alike). The CSV has a row
for every submitter, whatever became of them:

- graded / incomplete / failed: how grading went, from the status file
  ``<course>/grading/<assignment>.json`` that grade writes (without that file,
  grading done with plain ``nbgrader autograde``, a submission in the
  gradebook counts as graded);
- not graded: collected, but new or changed since it was graded (its old
  score is not shown as if it were current): run grade;
- not collected: in the LMS's export, but collect could not take it (a PDF,
  not JSON, a duplicate, ...), from ``grading/<assignment>-collect.csv``;
- not submitted: on the roster (the LMS's class list, ``roster``) with no
  submission.

The total is nbgrader's score minus its late penalty; the columns
``late_by`` and ``late_penalty`` show both.
"""

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .course import InstructorError
from .status import SCORED, Flag, Status, load_status, write_atomically
from .submissions import submitted_students

PASS_MARK = 0.5  # cells fewer students than this fully passed are highlighted


@dataclass(frozen=True)
class Cell:
    """A graded cell: its notebook, its grade_id and its points."""

    notebook: str
    name: str
    max_score: float
    label: str = ""  # the column header, e.g. "test_softmax (3)"


@dataclass
class Row:
    """One submitter's line: scores is {cell label: score, or None where the gradebook has no
    grade}.

    name: the LMS's display name; submitted: the LMS's submission time; late_by: seconds
    after the due date; penalty: nbgrader's late penalty (points); flags: [Flag], what the grader
    asks the instructor to look at."""

    student: str
    scores: dict
    max_score: float
    status: Status = Status.GRADED
    reason: str | None = None
    name: str = ""
    submitted: str = ""
    late_by: float = 0.0
    penalty: float = 0.0
    flags: list = field(default_factory=list)

    @property
    def scored(self):
        return self.status.scored

    @property
    def raw(self):
        return sum(score or 0.0 for score in self.scores.values())

    @property
    def total(self):
        return max(0.0, self.raw - self.penalty)

    @property
    def percent(self):
        return 100.0 * self.total / self.max_score if self.max_score else 0.0

    @property
    def lms_grade(self):
        """The points to give the LMS: the total for a scored row, 0 for a submission that was
        not collected, None (leave the LMS's cell alone) for one not graded or not submitted."""
        if self.scored:
            return self.total
        return 0.0 if self.status == Status.NOT_COLLECTED else None


@dataclass
class Grades:
    """An assignment's graded cells (in notebook order) and one Row per submitter (and per
    roster student without a submission)."""

    assignment: str
    cells: list
    rows: list = field(default_factory=list)

    @property
    def max_score(self):
        return sum(cell.max_score for cell in self.cells)

    @property
    def scored(self):
        """The rows with scores from grading (graded, incomplete or failed)."""
        return [row for row in self.rows if row.scored]

    def totals(self):
        return [row.total for row in self.scored]

    def pass_rate(self, cell):
        """The fraction of the scored students (those whose grading failed included) with the
        cell's full points."""
        rows = self.scored
        passed = sum(1 for row in rows if (row.scores.get(cell.label) or 0.0) >= cell.max_score)
        return passed / len(rows)

    def needs_attention(self):
        """The rows that are not simply graded: another status, or flags."""
        return [row for row in self.rows if row.status != Status.GRADED or row.flags]


@dataclass(frozen=True)
class Summary:
    """What the CLI prints after a report: counts, mean and median total, the hardest cell.

    statuses counts the rows per status (graded; incomplete: a cell crashed, hung or ran out
    of memory; failed: nothing could run; not graded, not collected, not submitted). The mean,
    the median and the pass rates are over the scored rows (graded, incomplete, failed; a
    failed submission has 0), as the gradebook holds them, late penalties deducted."""

    assignment: str
    students: int
    statuses: dict
    max_score: float
    mean: float
    median: float
    lowest_cell: str
    lowest_pass_rate: float
    flagged: int = 0

    @property
    def graded(self):
        return self.statuses.get(Status.GRADED, 0)

    def __str__(self):
        # graded first, then the others in the order of the status names
        order = sorted(self.statuses, key=lambda status: (status != Status.GRADED, status))
        counts = ", ".join(f"{self.statuses[status]} {status}" for status in order)
        scored = sum(self.statuses.get(status, 0) for status in SCORED)
        text = (
            f"{self.assignment}: {self.students} students ({counts}); total score of the {scored} "
            f"scored: mean {self.mean:.2f}, median {_number(self.median)} of "
            f"{_number(self.max_score)}; lowest pass rate {self.lowest_pass_rate:.0%} "
            f"({self.lowest_cell})"
        )
        if self.flagged:
            text += f"; {self.flagged} flagged for a look (see the flags column)"
        return text


# ------------------------------------------------------------------ reading


def cell_order(course, assignment):
    """{(notebook, grade_id): position} of the graded cells in the source notebooks."""
    import nbformat

    order = {}
    for path in course.source_notebooks(assignment):
        for cell in nbformat.read(str(path), as_version=4).cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id:
                order.setdefault((path.stem, grade_id), len(order))
    return order


def load_grades(course, assignment, roster=None):
    """The Grades of `assignment`: the gradebook's scores joined with the status file, collect's
    table and the roster (a lms.Roster or None).

    Raises InstructorError for an unknown assignment and for one without any graded submission.
    """
    from .collect import load_collect_table
    from .submissions import submission_fingerprint

    course.require_assignment(assignment)
    ungraded = InstructorError(
        f"No graded submissions of {assignment!r} in the gradebook ({course.db_url}). "
        f"Run grade {assignment} first (it autogrades submitted/<student>/{assignment}/)."
    )
    # Opening a missing SQLite gradebook would create an empty one: say what to do instead.
    if (
        course.db_url.startswith("sqlite:///")
        and not Path(course.db_url[len("sqlite:///") :]).is_file()
    ):
        raise ungraded
    status = load_status(course, assignment)
    collected = load_collect_table(course, assignment)
    order = cell_order(course, assignment)

    from nbgrader.api import MissingEntry

    with course.gradebook() as gradebook:
        try:
            entry = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise ungraded from None
        many = len(entry.notebooks) > 1  # grade_ids are unique per notebook only
        found = [
            (notebook.name, cell.name, cell.max_score)
            for notebook in entry.notebooks
            for cell in notebook.grade_cells + notebook.task_cells
        ]
        # Notebook order; a cell no longer in the source goes last, by name.
        found.sort(key=lambda c: (order.get(c[:2], len(order)), c[0], c[1]))
        cells = [
            Cell(nb, name, points, f"{nb + ':' if many else ''}{name} ({_number(points)})")
            for nb, name, points in found
        ]
        label = {(cell.notebook, cell.name): cell.label for cell in cells}
        grades = Grades(assignment, cells)
        rows = {}
        for submission in gradebook.assignment_submissions(assignment):
            scores = {cell.label: None for cell in cells}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores[label[notebook.notebook.name, grade.cell.name]] = grade.score
            row = _row(submission.student.id, scores, grades, status)
            row.late_by = float(submission.total_seconds_late or 0)
            row.penalty = float(submission.late_submission_penalty or 0)
            student = submission.student
            row.name = " ".join(part for part in (student.first_name, student.last_name) if part)
            rows[row.student] = row
    # A submission that failed before it reached the gradebook still gets its line and reason.
    for student in sorted(set(status) - set(rows)):
        rows[student] = _row(student, {cell.label: None for cell in cells}, grades, status)
    if not any(row.scored for row in rows.values()):
        raise ungraded
    empty = {cell.label: None for cell in cells}
    # Collected since it was graded, or never graded: its old score (if any) is not current.
    for student in submitted_students(course, assignment):
        graded = status.get(student, {}).get("sha256")
        if student not in rows or (
            graded and graded != submission_fingerprint(course, student, assignment)
        ):
            rows[student] = Row(
                student,
                dict(empty),
                grades.max_score,
                Status.NOT_GRADED,
                f"collected since it was last graded: run grade {assignment}"
                if student in rows
                else f"collected, never graded: run grade {assignment}",
            )
    unidentified = []
    for submitter in collected:
        row = rows.get(submitter.student)
        if row is not None:
            row.name = row.name or submitter.name
            row.submitted = submitter.submitted
            if submitter.late == "yes" and row.scored and not row.late_by:
                row.flags = row.flags + [
                    Flag(
                        "late-mark",
                        "the LMS marks this submission late, but nbgrader has no due "
                        f"date before its time: set one with grade {assignment} --due DATE",
                    )
                ]
            if (
                submitter.outcome != "taken"
            ):  # the LMS's latest was not collected; the earlier one stands
                row.flags = row.flags + [
                    Flag(
                        "not-collected",
                        f"the latest submission was not collected ({submitter.reason}); "
                        "this row is for the earlier one",
                    )
                ]
        else:
            row = Row(
                submitter.student,
                dict(empty),
                grades.max_score,
                Status.NOT_COLLECTED,
                submitter.reason,
                submitter.name or submitter.file,
                submitter.submitted,
            )
            if submitter.student:
                rows[submitter.student] = row
            else:
                unidentified.append(row)
    for person in roster.people if roster else []:
        if person.student in rows:
            rows[person.student].name = person.name
        else:
            rows[person.student] = Row(
                person.student,
                dict(empty),
                grades.max_score,
                Status.NOT_SUBMITTED,
                f"on the {roster.lms} class list, no submission in any collected export",
                person.name,
            )
    grades.rows = sorted(rows.values(), key=lambda row: row.student.casefold()) + unidentified
    return grades


def _row(student, scores, grades, status):
    entry = status.get(student) or {}
    return Row(
        student,
        scores,
        grades.max_score,
        entry.get("status", Status.GRADED),
        entry.get("reason"),
        flags=list(entry.get("flags", [])),
    )


TIED_NAMED = 3  # cells named at the lowest pass rate; more are counted


def summarize(grades):
    """The Summary of loaded Grades."""
    totals = grades.totals()
    rates = [(grades.pass_rate(cell), cell.label) for cell in grades.cells]
    lowest_rate, lowest_cell = float("nan"), "no graded cells"
    if rates:  # every cell tied at the lowest rate, in notebook order
        lowest_rate = min(rate for rate, _ in rates)
        tied = [label for rate, label in rates if rate == lowest_rate]
        lowest_cell = ", ".join(tied[:TIED_NAMED])
        if len(tied) > TIED_NAMED:
            lowest_cell += f" and {len(tied) - TIED_NAMED} more"
    statuses = dict(Counter(row.status for row in grades.rows))
    return Summary(
        grades.assignment,
        len(grades.rows),
        statuses,
        grades.max_score,
        statistics.mean(totals),
        statistics.median(totals),
        lowest_cell,
        lowest_rate,
        sum(bool(row.flags) for row in grades.rows),
    )


# ------------------------------------------------------------------ writing


def report(course, assignment, out_dir=None, roster=None):
    """Write the grades table and the two figures of `assignment`.

    out_dir defaults to <course>/reports/<assignment>/; roster: a lms.Roster (adds a row for
    each student on it who submitted nothing). Returns the written paths:
    {"csv": <assignment>_grades.csv, "scores": <assignment>_scores.png, "cells":
    <assignment>_cells.png}.
    Raises InstructorError for an unknown or not yet graded assignment.
    """
    grades = load_grades(course, assignment, roster)
    paths = report_paths(course, assignment, out_dir)
    paths["csv"].parent.mkdir(parents=True, exist_ok=True)
    write_csv(grades, paths["csv"])
    plot_scores(grades, paths["scores"])
    plot_cells(grades, paths["cells"])
    return paths


def report_paths(course, assignment, out_dir=None):
    out_dir = Path(out_dir) if out_dir else course.folder("reports", assignment)
    return {
        "csv": out_dir / f"{assignment}_grades.csv",
        "scores": out_dir / f"{assignment}_scores.png",
        "cells": out_dir / f"{assignment}_cells.png",
    }


CSV_COLUMNS = (
    "student",
    "name",
    "late_penalty",
    "total",
    "max_score",
    "percent",
    "submitted",
    "late_by",
    "status",
    "reason",
    "flags",
)  # a score column per graded cell goes after "name"


def write_csv(grades, path):
    """One row per submitter: id, name, a score per graded cell, late penalty, total, max
    score, percent, submission time, how late, status, reason and flags. A cell without a
    grade in the gradebook is left empty, and so are the total and percent of a row with no
    grade to give (not graded, not submitted: see Row.lms_grade). Written whole or not at
    all."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS[:2], *(c.label for c in grades.cells), *CSV_COLUMNS[2:]])
    for row in grades.rows:
        writer.writerow(
            [
                row.student,
                row.name,
                *(
                    "" if row.scores[c.label] is None else _number(row.scores[c.label])
                    for c in grades.cells
                ),
                _number(row.penalty),
                "" if row.lms_grade is None else _number(row.lms_grade),
                _number(row.max_score),
                "" if row.lms_grade is None else f"{row.percent:.1f}",
                row.submitted,
                _duration(row.late_by),
                row.status,
                row.reason or "",
                "; ".join(map(str, row.flags)),
            ]
        )
    write_atomically(Path(path), stream.getvalue())


def _duration(seconds):
    """'' for on time, else e.g. '1 day, 2:00:00'."""
    import datetime

    return str(datetime.timedelta(seconds=round(seconds))) if seconds > 0 else ""


def plot_scores(grades, path):
    """Histogram of the total scores, one bar per whole point from 0 to the maximum."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    totals = grades.totals()
    top = int(np.ceil(grades.max_score))
    mean, median = statistics.mean(totals), statistics.median(totals)
    fig, ax = _figure(7, 4)
    ax.hist(
        totals,
        bins=np.arange(-0.5, top + 1.5),
        color="#4c72b0",
        edgecolor="white",
        label="students",
    )
    ax.axvline(mean, color="#dd8452", linewidth=2, label=f"mean {mean:.2f}")
    ax.axvline(
        median, color="#55a868", linewidth=2, linestyle="--", label=f"median {_number(median)}"
    )
    ax.set_xlim(-0.5, top + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"total score (points, out of {_number(grades.max_score)})")
    ax.set_ylabel("number of students")
    title = (
        f"{grades.assignment}: total scores of {len(totals)} students "
        f"(mean {mean:.2f}, median {_number(median)})"
    )
    ax.set_title(title)
    ax.legend(loc="best")
    _save(
        fig,
        path,
        title,
        f"Histogram of the total scores of {len(totals)} students, 0 to "
        f"{_number(grades.max_score)} points, with the mean and the median marked.",
    )


def plot_cells(grades, path):
    """Horizontal bars, one per graded cell in notebook order: the share of students with full
    points.
    Cells under PASS_MARK are drawn in a warning colour, so the part the class missed stands out."""
    from matplotlib.patches import Patch

    rates = [grades.pass_rate(cell) for cell in grades.cells]
    n = len(grades.scored)
    fig, ax = _figure(7, 1.6 + 0.45 * len(rates))
    colors = ["#c44e52" if rate < PASS_MARK else "#4c72b0" for rate in rates]
    positions = range(len(rates))
    ax.barh(positions, rates, color=colors)
    for y, rate in zip(positions, rates, strict=True):
        label = f"{rate:.0%} ({round(rate * n)}/{n})"
        if rate > 0.8:  # no room right of a long bar: write inside it
            ax.text(rate - 0.01, y, label, va="center", ha="right", color="white")
        else:
            ax.text(rate + 0.01, y, label, va="center")
    ax.axvline(PASS_MARK, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(list(positions), [cell.label for cell in grades.cells])
    ax.invert_yaxis()  # the first cell of the notebook on top
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter("{x:.0%}")
    ax.set_xlabel("students with the cell's full points")
    ax.set_ylabel("test cell (points)")
    title = f"{grades.assignment}: pass rate per test cell ({n} students)"
    ax.set_title(title)
    # Below the axes, where no bar can hide it.
    fig.legend(
        handles=[
            Patch(color="#c44e52", label=f"under {PASS_MARK:.0%}"),
            Patch(color="#4c72b0", label=f"{PASS_MARK:.0%} or more"),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize="small",
    )
    lows = [cell.name for cell, rate in zip(grades.cells, rates, strict=True) if rate < PASS_MARK]
    _save(
        fig,
        path,
        title,
        "Share of students with full points on each test cell. "
        f"Under {PASS_MARK:.0%}: {', '.join(lows) or 'none'}.",
    )


def _figure(width, height):
    """A Figure on its own Agg canvas: nothing touches pyplot's global state or the user's
    backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig, path, title, description):
    # Title and Description go into the PNG's metadata: a text alternative for screen readers and
    # indexes.
    fig.savefig(path, dpi=100, metadata={"Title": title, "Description": description})


def _number(value):
    """3.0 -> "3", 1.5 -> "1.5": scores as the gradebook holds them, without a spurious ".0"."""
    return f"{value:.10g}"
