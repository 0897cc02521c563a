"""What the LMSs give and take: class lists (rosters), grade import files, feedback upload zips.

    roster = load_roster("gradebook_export.csv")     # Canvas's gradebook export, Moodle's worksheet
    export_canvas(grades, roster, "canvas.csv")      # Canvas: Grades > Import
    export_moodle(grades, roster, "moodle.csv")      # Moodle: Grades > Import > CSV file
    feedback_zip(course, "forward", "canvas", "feedback-canvas.zip")

The layouts follow the LMSs' own documentation:

- Canvas, "How do I import grades in the Gradebook?" (Canvas Instructor Guide):
  the CSV Canvas exports from the Gradebook, edited and imported back. Header
  ``Student,ID,SIS User ID,SIS Login ID,Section,<Assignment> (<assignment id>)``,
  then a ``Points Possible`` row, then one row per student; ``ID`` is
  Canvas's user id, which Canvas matches on. A column title without an id in
  parentheses makes Canvas create a new assignment.
- Canvas, "How do I upload a file as a comment to student submissions in
  bulk?" (re-upload submissions): a zip of files named as in Canvas's
  "Download Submissions" (``<name>_<user id>_<file id>_...``), which Canvas
  matches to the student by the name's prefix.
- Moodle, "Grade import" (docs.moodle.org, Grade import > CSV import): a CSV
  whose first row names the columns, one column that identifies the user
  (mapped at import to email address, username or ID number) and one per
  grade item; here ``Email address`` (from the roster) and the assignment.
- Moodle, "Assignment settings > Feedback files > Upload multiple feedback files
  in a zip": files inside folders named as in "Download all submissions"
  (``<Full Name>_<participant id>_assignsubmission_file_/``).

A roster is the LMS's class list, used to add a row for every student who
submitted nothing and to give the export what the LMS matches on:

- Canvas: the Gradebook's "Export" CSV (``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, ...; its ``Points Possible`` row is skipped);
- Moodle: the assignment's "Download grading worksheet" CSV (``Identifier``
  ``Participant N``, ``Full name``, ``Email address``, ...), whose
  participant ids are the ones in Moodle's submission folders.
"""

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .collect import _simple
from .course import InstructorError
from .report import _number

CANVAS_FIXED = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "    Points Possible"  # the first cell of Canvas's second header row, as exported
MOODLE_WORKSHEET = ("Identifier", "Full name", "Email address")


@dataclass(frozen=True)
class Person:
    """A student on the LMS's class list. student: the id the pipeline uses (the LMS's id)."""

    student: str
    name: str
    lms: str
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""
    email: str = ""


@dataclass
class Roster:
    """The LMS's class list: its people in file order, and (Canvas) its assignment columns."""

    lms: str
    people: list
    columns: list  # the grade columns of a Canvas export, e.g. "Forward pass (1234)"

    def person(self, student):
        return next((p for p in self.people if p.student == student), None)


def load_roster(path):
    """The Roster in a Canvas gradebook export or a Moodle grading worksheet; raises
    InstructorError naming the columns expected when the file is neither."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InstructorError(
            f"Cannot read the roster {path}: {error}. Pass the LMS's class list as a UTF-8 CSV."
        ) from None
    rows = list(csv.reader(io.StringIO(text)))
    header = [cell.strip() for cell in rows[0]] if rows else []
    if tuple(header[:5]) == CANVAS_FIXED:
        people = []
        for row in rows[1:]:
            cells = dict(zip(header, row, strict=False))  # a short row: its last cells empty
            if (
                not cells.get("ID", "").strip().isdigit()
            ):  # Points Possible, Test Student rows, blanks
                continue
            people.append(
                Person(
                    cells["ID"].strip(),
                    cells["Student"].strip(),
                    "canvas",
                    cells["SIS User ID"],
                    cells["SIS Login ID"],
                    cells["Section"],
                )
            )
        return Roster("canvas", people, header[5:])
    if set(MOODLE_WORKSHEET) <= set(header):
        people = []
        for row in rows[1:]:
            cells = dict(zip(header, row, strict=False))  # a short row: its last cells empty
            match = re.fullmatch(r"\D*(\d+)", cells.get("Identifier", "").strip())
            if match:
                people.append(
                    Person(
                        match.group(1),
                        cells["Full name"].strip(),
                        "moodle",
                        email=cells["Email address"].strip(),
                    )
                )
        return Roster("moodle", people, [])
    raise InstructorError(
        f"{path} is not a class list this tool reads: expected Canvas's gradebook export (columns "
        f"{', '.join(CANVAS_FIXED)}, ...) or Moodle's grading worksheet (columns "
        f"{', '.join(MOODLE_WORKSHEET)}, ...); its first row is {', '.join(header[:6]) or 'empty'}."
    )


# ------------------------------------------------------------------ grades back to the LMS


def canvas_column(assignment, roster):
    """The Canvas column to fill: the roster's column titled after the assignment (so Canvas
    updates that assignment), else the assignment's name (Canvas creates a new one)."""
    wanted = _simple(assignment)
    for column in roster.columns if roster else []:
        title = re.sub(r"\s*\(\d+\)$", "", column)
        if _simple(title) == wanted:
            return column
    return assignment


def export_canvas(grades, roster, path):
    """Write Canvas's gradebook import CSV for `grades` (report.Grades). Rows for everyone
    with a score; roster people without a submission get an empty cell (left as it is)."""
    column = canvas_column(grades.assignment, roster)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*CANVAS_FIXED, column])
    writer.writerow([POINTS_POSSIBLE, "", "", "", "", _number(grades.max_score)])
    for row in grades.rows:
        if not row.student.isdigit():
            continue  # not a Canvas user id: nothing Canvas could match
        person = roster.person(row.student) if roster else None
        writer.writerow(
            [
                person.name if person else row.name,
                row.student,
                person.sis_user_id if person else "",
                person.sis_login_id if person else "",
                person.section if person else "",
                "" if row.lms_grade is None else _number(row.lms_grade),
            ]
        )
    Path(path).write_text(stream.getvalue(), encoding="utf-8")
    return Path(path)


def export_moodle(grades, roster, path):
    """Write Moodle's "Import grades from CSV" file: Email address, Full name, the grade.
    Needs the grading worksheet as roster (Moodle's submission folders carry no email)."""
    if roster is None or roster.lms != "moodle":
        raise InstructorError(
            "A Moodle grade import matches students by email address, which the submission "
            "folders do not carry: pass --roster with the assignment's grading worksheet "
            "(Moodle: the assignment > View all submissions > Download grading worksheet)."
        )
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["Email address", "Full name", grades.assignment])
    for row in grades.rows:
        person = roster.person(row.student)
        if person is None or row.lms_grade is None:
            continue
        writer.writerow([person.email, person.name, _number(row.lms_grade)])
    Path(path).write_text(stream.getvalue(), encoding="utf-8")
    return Path(path)


def feedback_zip(course, assignment, submitters, path):
    """A zip of each student's feedback page, named for the bulk feedback upload of the LMS
    the submission came from (Canvas: the download's file-name prefix; Moodle: the
    download's folder). submitters: collect's rows. Returns (path, [students without a page])."""
    from .feedback import feedback_page

    missing = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in submitters:
            if row.outcome != "taken" or not row.upload_name:
                continue
            page = feedback_page(course, row.student, assignment)
            if page is None:
                missing.append(row.student)
                continue
            # Moodle's upload name is the participant's folder ("..._file_/"), Canvas's the
            # download's file-name prefix ("name_id_fileid_"): either way, our file name follows.
            archive.write(page, f"{row.upload_name}{assignment}_feedback.html")
    return Path(path), missing
