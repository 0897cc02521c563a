"""A class's results for one assignment: a grades table (CSV) and two figures (PNG).

    report(course, "forward")   # -> {"csv": ..., "scores": ..., "cells": ...}
    summary(course, "forward")  # -> Summary; str(summary) is what the CLI prints

Everything comes from nbgrader's gradebook, read through its Python API (so an
SQLite file and a shared PostgreSQL gradebook work alike), plus the status file
``<course>/grading/<assignment>.json`` that grading writes: it says which
submissions could not be graded, and why. Without that file (grading done with
plain ``nbgrader autograde``) every submission in the gradebook counts as graded.
"""

import csv
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .course import InstructorError
from .status import load_status

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
    """One student's line: scores is {cell label: score, or None where the gradebook has no grade}."""

    student: str
    scores: dict
    max_score: float
    status: str = "graded"
    reason: str | None = None

    @property
    def total(self):
        return sum(score or 0.0 for score in self.scores.values())

    @property
    def percent(self):
        return 100.0 * self.total / self.max_score if self.max_score else 0.0


@dataclass
class Grades:
    """An assignment's graded cells (in notebook order) and one Row per student with a submission."""

    assignment: str
    cells: list
    rows: list = field(default_factory=list)

    @property
    def max_score(self):
        return sum(cell.max_score for cell in self.cells)

    def totals(self):
        return [row.total for row in self.rows]

    def pass_rate(self, cell):
        """The fraction of all students (those whose grading failed included) with the cell's full points."""
        passed = sum(1 for row in self.rows if (row.scores.get(cell.label) or 0.0) >= cell.max_score)
        return passed / len(self.rows)


@dataclass(frozen=True)
class Summary:
    """What the CLI prints after a report: counts, mean and median total, the hardest cell.

    statuses counts the students per grading status (graded; incomplete: some cells never ran;
    failed: nothing could run). Every student counts in the mean, the median and the pass rates
    with the scores the gradebook holds (grading gives a failed submission 0), as in the CSV."""

    assignment: str
    students: int
    statuses: dict
    max_score: float
    mean: float
    median: float
    lowest_cell: str
    lowest_pass_rate: float

    @property
    def graded(self):
        return self.statuses.get("graded", 0)

    def __str__(self):
        # graded first, then the others in the order of the status names
        order = sorted(self.statuses, key=lambda status: (status != "graded", status))
        counts = ", ".join(f"{self.statuses[status]} {status}" for status in order)
        return (
            f"{self.assignment}: {self.students} students ({counts}); "
            f"total score mean {self.mean:.2f}, median {_number(self.median)} of {_number(self.max_score)}; "
            f"lowest pass rate {self.lowest_pass_rate:.0%} ({self.lowest_cell})"
        )


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


def load_grades(course, assignment):
    """The Grades of `assignment` in the course's gradebook, joined with the status file.

    Raises InstructorError for an unknown assignment and for one without any graded submission.
    """
    course.require_assignment(assignment)
    ungraded = InstructorError(
        f"No graded submissions of {assignment!r} in the gradebook ({course.db_url}). "
        f"Run grade {assignment} first (it autogrades submitted/<student>/{assignment}/)."
    )
    # Opening a missing SQLite gradebook would create an empty one: say what to do instead.
    if course.db_url.startswith("sqlite:///") and not Path(course.db_url[len("sqlite:///"):]).is_file():
        raise ungraded
    status = load_status(course, assignment)
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
        for submission in gradebook.assignment_submissions(assignment):
            scores = {cell.label: None for cell in cells}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores[label[notebook.notebook.name, grade.cell.name]] = grade.score
            grades.rows.append(_row(submission.student.id, scores, grades, status))
    # A submission that failed before it reached the gradebook still gets its line and reason.
    seen = {row.student for row in grades.rows}
    for student in sorted(set(status) - seen):
        grades.rows.append(_row(student, {cell.label: None for cell in cells}, grades, status))
    if not grades.rows:
        raise ungraded
    grades.rows.sort(key=lambda row: row.student)
    return grades


def _row(student, scores, grades, status):
    entry = status.get(student) or {}
    return Row(student, scores, grades.max_score, entry.get("status", "graded"), entry.get("reason"))


def summarize(grades):
    """The Summary of loaded Grades."""
    totals = grades.totals()
    rates = [(grades.pass_rate(cell), cell.label) for cell in grades.cells]
    # On a tie, the first such cell of the notebook.
    lowest_rate, lowest_cell = min(rates, key=lambda r: r[0]) if rates else (float("nan"), "no graded cells")
    statuses = dict(Counter(row.status for row in grades.rows))
    return Summary(
        grades.assignment, len(grades.rows), statuses, grades.max_score,
        statistics.mean(totals), statistics.median(totals), lowest_cell, lowest_rate,
    )


def summary(course, assignment):
    """The Summary of an assignment's grades (reads the gradebook)."""
    return summarize(load_grades(course, assignment))


# ------------------------------------------------------------------ writing


def report(course, assignment, out_dir=None):
    """Write the grades table and the two figures of `assignment`.

    out_dir defaults to <course>/reports/<assignment>/. Returns the written paths:
    {"csv": <assignment>_grades.csv, "scores": <assignment>_scores.png, "cells": <assignment>_cells.png}.
    Raises InstructorError for an unknown or not yet graded assignment.
    """
    grades = load_grades(course, assignment)
    out_dir = Path(out_dir) if out_dir else course.folder("reports", assignment)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": out_dir / f"{assignment}_grades.csv",
        "scores": out_dir / f"{assignment}_scores.png",
        "cells": out_dir / f"{assignment}_cells.png",
    }
    write_csv(grades, paths["csv"])
    plot_scores(grades, paths["scores"])
    plot_cells(grades, paths["cells"])
    return paths


def write_csv(grades, path):
    """One row per student: id, a score per graded cell, total, max score, percent, status, reason.
    A cell without a grade in the gradebook is left empty."""
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", *(c.label for c in grades.cells),
                         "total", "max_score", "percent", "status", "reason"])
        for row in grades.rows:
            writer.writerow([
                row.student,
                *("" if row.scores[c.label] is None else _number(row.scores[c.label]) for c in grades.cells),
                _number(row.total), _number(row.max_score), f"{row.percent:.1f}", row.status, row.reason or "",
            ])


def plot_scores(grades, path):
    """Histogram of the total scores, one bar per whole point from 0 to the maximum."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    totals = grades.totals()
    top = int(np.ceil(grades.max_score))
    mean, median = statistics.mean(totals), statistics.median(totals)
    fig, ax = _figure(7, 4)
    ax.hist(totals, bins=np.arange(-0.5, top + 1.5), color="#4c72b0", edgecolor="white", label="students")
    ax.axvline(mean, color="#dd8452", linewidth=2, label=f"mean {mean:.2f}")
    ax.axvline(median, color="#55a868", linewidth=2, linestyle="--", label=f"median {_number(median)}")
    ax.set_xlim(-0.5, top + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"total score (points, out of {_number(grades.max_score)})")
    ax.set_ylabel("number of students")
    title = (f"{grades.assignment}: total scores of {len(totals)} students "
             f"(mean {mean:.2f}, median {_number(median)})")
    ax.set_title(title)
    ax.legend(loc="best")
    _save(fig, path, title, f"Histogram of the total scores of {len(totals)} students, 0 to "
          f"{_number(grades.max_score)} points, with the mean and the median marked.")


def plot_cells(grades, path):
    """Horizontal bars, one per graded cell in notebook order: the share of students with full points.
    Cells under PASS_MARK are drawn in a warning colour, so the part the class missed stands out."""
    from matplotlib.patches import Patch

    rates = [grades.pass_rate(cell) for cell in grades.cells]
    n = len(grades.rows)
    fig, ax = _figure(7, 1.6 + 0.45 * len(rates))
    colors = ["#c44e52" if rate < PASS_MARK else "#4c72b0" for rate in rates]
    positions = range(len(rates))
    ax.barh(positions, rates, color=colors)
    for y, rate in zip(positions, rates):
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
    fig.legend(handles=[Patch(color="#c44e52", label=f"under {PASS_MARK:.0%}"),
                        Patch(color="#4c72b0", label=f"{PASS_MARK:.0%} or more")],
               loc="outside lower center", ncols=2, fontsize="small")
    lows = [cell.name for cell, rate in zip(grades.cells, rates) if rate < PASS_MARK]
    _save(fig, path, title, "Share of students with full points on each test cell. "
          f"Under {PASS_MARK:.0%}: {', '.join(lows) or 'none'}.")


def _figure(width, height):
    """A Figure on its own Agg canvas: nothing touches pyplot's global state or the user's backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots()


def _save(fig, path, title, description):
    # Title and Description go into the PNG's metadata: a text alternative for screen readers and indexes.
    fig.savefig(path, dpi=100, metadata={"Title": title, "Description": description})


def _number(value):
    """3.0 -> "3", 1.5 -> "1.5": scores as the gradebook holds them, without a spurious ".0"."""
    return f"{value:.10g}"
