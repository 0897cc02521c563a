"""An LMS corpus: a Canvas export and a Moodle export of the `forward` assignment, built
from the course's real notebooks, each with what a real class sends.

Each export has 31 submitters: correct, blank (the release), partly wrong (tests/support/
assignment_cases.py's forward cases), a deleted test cell (restored and flagged), late
work, two people with one name, non-ASCII names (in the Moodle zip: with the UTF-8 flag,
in code page 437 without it, and UTF-8 bytes without the flag), a PDF-only submission,
a file that is not JSON, a zipped folder, and a notebook that a student named after
another student's LMS entry. A second export changes one student's submission. Two
more students are on the class list (roster) and submitted nothing.

`Submitter.expect` is what the course's design gives each one: the raw score, the late
penalty (10 % of the score per started day, nbgrader_config.py), the status.
"""

import csv
import datetime
import io
import zipfile
from dataclasses import dataclass

import nbformat

from .assignment_cases import CASES, Delete
from .assignment_course import points, read, release_notebook, source_notebook

ASSIGNMENT = "forward"
DUE = "2024-03-01 17:00:00 UTC"
ON_TIME = (2024, 3, 1, 12, 0, 0)
LATE = (2024, 3, 2, 9, 0, 0)  # 16 h late: one started day, 10 % off
RESUBMITTED = (2024, 3, 1, 16, 30, 0)
CANVAS_ASSIGNMENT_ID = "4711"


@dataclass(frozen=True)
class Kind:
    name: str
    failing: frozenset = frozenset()  # test cells that earn 0 (None: all)
    status: str = "graded"
    flags: tuple = ()
    content: str = "notebook"  # notebook, blank, not_json, pdf, zip


def _case(name):
    case = next(c for c in CASES if c.student == name and c.assignment == ASSIGNMENT)
    return Kind(name, case.failing)


CORRECT = Kind("correct")
KINDS = {
    "correct": CORRECT,
    "blank": Kind("blank", None, content="blank"),
    "no_bias": _case("no_bias"),
    "syntax_error": _case("syntax_error"),
    "exception_in_cell": _case("exception_in_cell"),
    "deleted_test_cell": Kind("deleted_test_cell", flags=("deleted-test-cell",)),
    "not_json": Kind("not_json", None, "not collected", content="not_json"),
    "pdf": Kind("pdf", None, "not collected", content="pdf"),
    "zip": Kind("zip", None, "not collected", content="zip"),
}


@dataclass(frozen=True)
class Submitter:
    lms_id: str
    name: str
    kind: Kind
    late: bool = False
    zip_name: str = (
        "utf-8"  # how the Moodle zip stores the folder name: utf-8 (flagged), cp437, utf-8-no-flag
    )
    decoy: bool = False  # the student's file is named like another student's LMS entry

    @property
    def time(self):
        return LATE if self.late else ON_TIME

    def expect(self, course):
        """(raw score, late penalty, status, flag kinds) by the course's design."""
        full = points(read(source_notebook(ASSIGNMENT, course)))
        if self.kind.failing is None:
            raw = 0.0
        else:
            raw = float(sum(value for cell, value in full.items() if cell not in self.kind.failing))
        penalty = round(raw * 0.1, 2) if self.late and self.kind.status == "graded" else 0.0
        return raw, penalty, self.kind.status, self.kind.flags


def class_list(first_id):
    """The 31 submitters of one export, ids from first_id."""
    spec = [
        ("Ada Lovelace", "correct"),
        ("Alan Turing", "correct"),
        ("Alice Smith", "correct"),
        ("Alice Smith", "no_bias"),  # two people with one name
        ("Élodie Brûlé", "correct"),
        ("Zoë Nuñez", "no_bias"),
        ("Åsa Öberg", "correct"),
        ("Grace Hopper", "blank"),
        ("Edsger Dijkstra", "blank"),
        ("Barbara Liskov", "blank"),
        ("John Backus", "no_bias"),
        ("Ken Thompson", "no_bias"),
        ("Dennis Ritchie", "exception_in_cell"),
        ("Frances Allen", "exception_in_cell"),
        ("Niklaus Wirth", "syntax_error"),
        ("Tony Hoare", "deleted_test_cell"),
        ("Donald Knuth", "not_json"),
        ("Leslie Lamport", "pdf"),
        ("Butler Lampson", "zip"),
    ] + [(f"Student Number{n:02d}", "correct") for n in range(1, 10)]
    people = [
        Submitter(str(first_id + i), name, KINDS[kind]) for i, (name, kind) in enumerate(spec)
    ]
    people += [
        Submitter(str(first_id + 50), "Late Comer", CORRECT, late=True),
        Submitter(str(first_id + 51), "Later Still", KINDS["no_bias"], late=True),
        Submitter(str(first_id + 52), "Bob Jones", CORRECT, decoy=True),
    ]
    # Name storage in the Moodle zip: cp437 without flag, and UTF-8 bytes without the flag.
    return [
        _with(p, zip_name="cp437")
        if p.name == "Zoë Nuñez"
        else _with(p, zip_name="utf-8-no-flag")
        if p.name == "Åsa Öberg"
        else p
        for p in people
    ]


def _with(person, **changes):
    return Submitter(**{**person.__dict__, **changes})


ROSTER_ONLY = (
    ("Never Submitted", 90),
    ("Also Absent", 91),
)  # (name, id offset): on the class list only


def notebook_bytes(course, kind):
    """The bytes a student of `kind` uploads."""
    if kind.content == "not_json":
        return b'{"cells": [ this is not JSON'
    if kind.content == "pdf":
        return b"%PDF-1.4\n% a printout of the notebook\n"
    if kind.content == "blank":
        return nbformat.writes(read(release_notebook(ASSIGNMENT, course))).encode()
    notebook = read(source_notebook(ASSIGNMENT, course))
    if kind.name == "deleted_test_cell":
        Delete("test_tanh_forward").apply(notebook.cells)
    else:
        case = next(
            (c for c in CASES if c.student == kind.name and c.assignment == ASSIGNMENT), None
        )
        if case is not None:
            notebook = case.notebook(notebook)
    return nbformat.writes(notebook).encode()


def _zip_bytes(inner_name, data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(inner_name, data)
    return buffer.getvalue()


def canvas_name(person):
    """Canvas's sortable-name part of a download file name: last then first, lower case, letters
    only."""
    first, _, last = person.name.rpartition(" ")
    return "".join(ch for ch in (last + first).lower() if ch.isalnum())


def canvas_export(course, path, people, file_id=500000, changed=()):
    """A Canvas "Download Submissions" zip: <name>[_LATE]_<user id>_<file id>_<original name>.
    changed: ids whose submission is corrected (the no_bias mistake fixed) in this export."""
    members = []
    for number, person in enumerate(people):
        kind = CORRECT if person.lms_id in changed else person.kind
        data = notebook_bytes(course, kind)
        original = {"pdf": "forward.pdf", "zip": "forward.zip"}.get(kind.content, "forward.ipynb")
        if kind.content == "zip":
            data = _zip_bytes("forward/forward.ipynb", notebook_bytes(course, CORRECT))
        if person.decoy:  # Canvas keeps the name the student gave the file after its own prefix
            original = f"{canvas_name(people[0])}_{people[0].lms_id}_{file_id}_forward.ipynb"
        late = "_LATE" if person.late else ""
        name = f"{canvas_name(person)}{late}_{person.lms_id}_{file_id + number}_{original}"
        members.append(
            (name, data, RESUBMITTED if person.lms_id in changed else person.time, "utf-8")
        )
    write_zip(path, members)
    return path


def moodle_export(course, path, people, changed=()):
    """A Moodle "Download all submissions" zip (in folders): <Full Name>_<participant
    id>_assignsubmission_file_/<file>."""
    members = []
    for person in people:
        kind = CORRECT if person.lms_id in changed else person.kind
        folder = f"{person.name}_{person.lms_id}_assignsubmission_file_/"
        data = notebook_bytes(course, kind)
        own = {"pdf": "forward.pdf", "zip": "my_work.zip"}.get(kind.content, "forward.ipynb")
        if kind.content == "zip":
            data = _zip_bytes("my_work/forward.ipynb", notebook_bytes(course, CORRECT))
        if person.decoy:  # named like the first student's entry: still this student's file
            own = f"{people[0].name}_{people[0].lms_id}_assignsubmission_file_forward.ipynb"
        members.append(
            (
                folder + own,
                data,
                RESUBMITTED if person.lms_id in changed else person.time,
                person.zip_name,
            )
        )
    write_zip(path, members)
    return path


def write_zip(path, members):
    """A zip of (name, bytes, date_time, encoding) members. encoding utf-8: the name with the
    UTF-8 flag (as Python writes non-ASCII names); cp437 or utf-8-no-flag: the name's bytes in
    that encoding with no flag (ASCII placeholders of the same length, patched afterwards)."""
    patches = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, (name, data, date_time, encoding) in enumerate(members):
            stored = name
            if encoding != "utf-8" and not name.isascii():
                raw = name.encode("cp437" if encoding == "cp437" else "utf-8")
                stored = (f"@{number:04d}" + "#" * len(raw))[: len(raw)]
                patches[stored.encode()] = raw
            archive.writestr(zipfile.ZipInfo(stored, date_time), data)
    content = path.read_bytes()
    for placeholder, raw in patches.items():
        assert content.count(placeholder) == 2
        content = content.replace(placeholder, raw)
    path.write_bytes(content)


def canvas_roster(path, people, first_id):
    """Canvas's gradebook export (the class list): two header rows, then one row per student."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "Student",
                "ID",
                "SIS User ID",
                "SIS Login ID",
                "Section",
                f"forward ({CANVAS_ASSIGNMENT_ID})",
                "Current Score",
            ]
        )
        writer.writerow(["    Points Possible", "", "", "", "", "12", "(read only)"])
        everyone = [(p.name, p.lms_id) for p in people] + [
            (n, str(first_id + k)) for n, k in ROSTER_ONLY
        ]
        for name, lms_id in everyone:
            first, _, last = name.rpartition(" ")
            writer.writerow(
                [f"{last}, {first}", lms_id, f"S{lms_id}", f"u{lms_id}", "Section 1", "", ""]
            )
    return path


def moodle_roster(path, people, first_id):
    """Moodle's grading worksheet of the assignment (its class list, with email addresses)."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "Identifier",
                "Full name",
                "Email address",
                "Status",
                "Grade",
                "Maximum Grade",
                "Grade can be changed",
                "Last modified (submission)",
                "Last modified (grade)",
                "Feedback comments",
            ]
        )
        everyone = [(p.name, p.lms_id) for p in people] + [
            (n, str(first_id + k)) for n, k in ROSTER_ONLY
        ]
        for name, lms_id in everyone:
            writer.writerow(
                [
                    f"Participant {lms_id}",
                    name,
                    f"p{lms_id}@example.edu",
                    "Submitted for grading",
                    "",
                    "12.00",
                    "Yes",
                    "",
                    "-",
                    "",
                ]
            )
    return path


def utc(date_time):
    return datetime.datetime(*date_time).strftime("%Y-%m-%d %H:%M:%S UTC")
