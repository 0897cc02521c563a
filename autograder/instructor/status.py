"""How each submission's grading went: its Status, its Flags, and the status file
<course>/grading/<assignment>.json (written by grade, read by report and feedback).

    {"assignment": "forward", "students": {"alice": {"status": "graded", "reason": null,
                                                     "flags": [{"kind": ..., "detail": ...}],
                                                     "sha256": "<fingerprint of what was graded>"}}}

`sha256` is the fingerprint (submissions.fingerprint) of the submission folder that was
graded: grade regrades a submission whose folder no longer has it, and report marks
its row as changed since graded instead of showing the old score as current.
"""

import dataclasses
import json
import os
from enum import StrEnum

from .course import InstructorError


class Status(StrEnum):
    """What became of a submitter, as the grades CSV, the status file and the CLI write it.

    The first three come from grading (grade writes them; their scores count), the others
    from report: a submission collected but not graded since, one collect could not take,
    and a student on the roster without a submission."""

    GRADED = "graded"  # every cell ran
    INCOMPLETE = "incomplete"  # the code died or ran out of time: the cells after it earned 0
    FAILED = "failed"  # nothing could run: 0 points
    NOT_GRADED = "not graded"
    NOT_COLLECTED = "not collected"
    NOT_SUBMITTED = "not submitted"

    @property
    def scored(self):
        """True for the statuses whose scores come from grading (a failed one has 0)."""
        return self in SCORED


SCORED = (Status.GRADED, Status.INCOMPLETE, Status.FAILED)


@dataclasses.dataclass(frozen=True)
class Flag:
    """Something the instructor should look at. kind: a short code; detail: what and where.

    Kept as a Flag until it is printed (str: "kind: detail"); the status file stores
    {"kind": ..., "detail": ...}."""

    kind: str
    detail: str

    def __str__(self):
        return f"{self.kind}: {self.detail}"

    @classmethod
    def read(cls, stored):
        """The Flag of a status file entry (earlier versions wrote "kind: detail" strings)."""
        if isinstance(stored, str):
            kind, _, detail = stored.partition(": ")
            return cls(kind, detail)
        return cls(**stored)


def status_path(course, assignment):
    return course.folder("grading", f"{assignment}.json")


def load_status(course, assignment):
    """{student: {"status": Status, "reason": ..., "flags": [...], "sha256": ...}}; {} if there
    is no file yet. A student without a status counts as graded (grading by plain nbgrader)."""
    path = status_path(course, assignment)
    if not path.is_file():
        return {}
    try:
        students = json.loads(path.read_text())["students"]
        for entry in students.values():
            entry["status"] = Status(entry.get("status", Status.GRADED))
            entry["flags"] = [Flag.read(flag) for flag in entry.get("flags", [])]
        return students
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InstructorError(
            f"{path} is not a grading status file ({error}). Run grade again to rewrite it."
        ) from None


def save_status(course, assignment, students):
    """Write the status file whole or not at all (a new file renamed over the old one)."""
    path = status_path(course, assignment)
    text = json.dumps(
        {"assignment": assignment, "students": dict(sorted(students.items()))},
        indent=1,
        default=dataclasses.asdict,  # a Flag; a Status is a str
    )
    write_atomically(path, text)


def write_atomically(path, text):
    """Write `text` to `path` so that a reader sees the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
