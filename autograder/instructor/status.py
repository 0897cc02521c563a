"""<course>/grading/<assignment>.json: how each submission's grading went (written by grade, read
by report).

    {"assignment": "forward",
     "students": {"alice": {"status": "graded", "reason": null, "flags": [],
                            "sha256": "<fingerprint of what was graded>"}}}

`sha256` is the fingerprint (submissions.fingerprint) of the submission folder that was
graded: grade regrades a submission whose folder no longer has it, and report marks
its row as changed since graded instead of showing the old score as current.
"""

import json
import os

from .course import InstructorError


def status_path(course, assignment):
    return course.folder("grading", f"{assignment}.json")


def load_status(course, assignment):
    """{student: {"status": ..., "reason": ..., "flags": [...], "sha256": ...}}; {} if there is no
    file yet."""
    path = status_path(course, assignment)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["students"]
    except (ValueError, KeyError, TypeError) as error:
        raise InstructorError(
            f"{path} is not a grading status file ({error}). Run grade again to rewrite it."
        ) from None


def save_status(course, assignment, students):
    """Write the status file whole or not at all (a new file renamed over the old one)."""
    path = status_path(course, assignment)
    text = json.dumps(
        {"assignment": assignment, "students": dict(sorted(students.items()))}, indent=1
    )
    write_atomically(path, text)


def write_atomically(path, text):
    """Write `text` to `path` so that a reader sees the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
