"""Statuses and flags stay structured (Status, Flag) from grading to the status file and back;
only printing turns them into text."""

import json
from types import SimpleNamespace

import pytest

from autograder.instructor.course import InstructorError
from autograder.instructor.status import (
    SCORED,
    Flag,
    Status,
    load_status,
    save_status,
    status_path,
)


class FakeCourse(SimpleNamespace):
    def folder(self, *parts):
        return self.root.joinpath(*parts)


def test_statuses_print_as_the_csv_writes_them():
    assert [str(status) for status in Status] == [
        "graded",
        "incomplete",
        "failed",
        "not graded",
        "not collected",
        "not submitted",
    ]
    assert [status for status in Status if status.scored] == list(SCORED)
    assert str(Flag("disagrees", "test_relu: fails when graded")) == (
        "disagrees: test_relu: fails when graded"
    )


def test_the_status_file_round_trips_statuses_and_flags(tmp_path):
    course = FakeCourse(root=tmp_path)
    flags = [Flag("deleted-cell", "relu"), Flag("ipython-hooks", "cell 3")]
    save_status(course, "forward", {"ann": {"status": Status.INCOMPLETE, "flags": flags}})
    stored = json.loads(status_path(course, "forward").read_text())["students"]["ann"]
    assert stored["status"] == "incomplete"
    assert stored["flags"][0] == {"kind": "deleted-cell", "detail": "relu"}
    loaded = load_status(course, "forward")["ann"]
    assert loaded["status"] is Status.INCOMPLETE and loaded["flags"] == flags


def test_flags_written_as_text_by_earlier_versions_are_read(tmp_path):
    course = FakeCourse(root=tmp_path)
    path = status_path(course, "forward")
    path.parent.mkdir(parents=True)
    students = {"bo": {"status": "graded", "flags": ["late-mark: the LMS says late"]}}
    path.write_text(json.dumps({"assignment": "forward", "students": students}))
    assert load_status(course, "forward")["bo"]["flags"] == [Flag("late-mark", "the LMS says late")]


def test_an_unknown_status_is_a_clear_error(tmp_path):
    course = FakeCourse(root=tmp_path)
    path = status_path(course, "forward")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"assignment": "forward", "students": {"cy": {"status": "done"}}}))
    with pytest.raises(InstructorError, match="is not a grading status file.*Run grade again"):
        load_status(course, "forward")
