"""<course>/grading/<assignment>.json: how each submission's grading went (written by grade, read by report).

    {"assignment": "forward", "students": {"alice": {"status": "graded", "reason": null, "flags": []}}}
"""

import json

from .course import InstructorError


def status_path(course, assignment):
    return course.folder("grading", f"{assignment}.json")


def load_status(course, assignment):
    """{student: {"status": ..., "reason": ..., "flags": [...]}}; {} if there is no file yet."""
    path = status_path(course, assignment)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())["students"]
    except (ValueError, KeyError, TypeError) as error:
        raise InstructorError(f"{path} is not a grading status file ({error}). Run grade again to rewrite it.")


def save_status(course, assignment, students):
    path = status_path(course, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"assignment": assignment, "students": dict(sorted(students.items()))}, indent=1))
