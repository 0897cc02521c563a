"""A week of grading from LMS exports back to the LMS, through the command line.

The corpus (tests/support/lms_corpus.py): a Canvas and a Moodle export of `forward`, 31
submitters each, and a second export in which one student's submission changed.
Each is collected, graded (with a due date), collected again and graded again,
reported with the LMS's class list, and exported in the LMS's import format; the
Canvas course also gets its feedback pages and the bulk-upload zip. Graded once per
module; every test below reads the same results. The Canvas week is run a second
time against PostgreSQL (--db-url after the command) and must give the same CSV,
byte for byte.
"""

import csv
import os
import re
import subprocess
import sys
import zipfile

import pytest

from tests.support.assignment_course import copy_course, environment
from tests.support.lms_corpus import (
    ASSIGNMENT,
    CANVAS_ASSIGNMENT_ID,
    DUE,
    RESUBMITTED,
    ROSTER_ONLY,
    canvas_export,
    canvas_roster,
    class_list,
    moodle_export,
    moodle_roster,
    utc,
)
from tests.support.postgres import create_database

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # a week, graded in the sandbox

CANVAS_FIRST, MOODLE_FIRST = 1000, 2000


def autograder(*arguments, cwd):
    result = subprocess.run(
        [sys.executable, "-m", "autograder", *arguments],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "Warning" not in result.stdout + result.stderr.replace("warning", ""), result.stderr[
        -3000:
    ]
    return result


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def run_week(tmp, lms, db=()):
    """Everything an instructor does in a week, for one LMS; returns what each step gave."""
    root = copy_course(tmp)
    first = CANVAS_FIRST if lms == "canvas" else MOODLE_FIRST
    people = class_list(first)
    changed = next(p.lms_id for p in people if p.name == "Alice Smith" and p.kind.name == "no_bias")
    export, roster = (
        (canvas_export, canvas_roster) if lms == "canvas" else (moodle_export, moodle_roster)
    )
    steps = {"release": autograder("release", ASSIGNMENT, *db, cwd=root)}
    first_zip = export(root, tmp / f"{lms}-1.zip", people)
    second_zip = export(root, tmp / f"{lms}-2.zip", people, changed={changed})
    roster_file = roster(tmp / f"{lms}-roster.csv", people, first)
    steps["collect 1"] = autograder("collect", ASSIGNMENT, str(first_zip), *db, cwd=root)
    steps["grade 1"] = autograder(
        "grade", ASSIGNMENT, "--due", DUE, "--workers", "2", *db, cwd=root
    )
    steps["csv 1"] = (root / "reports" / ASSIGNMENT / f"{ASSIGNMENT}_grades.csv").read_bytes()
    steps["collect 2"] = autograder("collect", ASSIGNMENT, str(second_zip), *db, cwd=root)
    if lms == "canvas" and not db:  # feedback between collect and grade: no page with the old grade
        steps["feedback before grade 2"] = autograder("feedback", ASSIGNMENT, *db, cwd=root)
        steps["stale page"] = (root / "feedback" / str(changed) / ASSIGNMENT).exists()
    steps["grade 2"] = autograder("grade", ASSIGNMENT, "--workers", "2", *db, cwd=root)
    steps["report"] = autograder("report", ASSIGNMENT, "--roster", str(roster_file), *db, cwd=root)
    steps["export"] = autograder(
        "export", ASSIGNMENT, lms, "--roster", str(roster_file), *db, cwd=root
    )
    return {"root": root, "people": people, "changed": changed, "steps": steps, "first": first}


@pytest.fixture(scope="module")
def canvas(tmp_path_factory):
    week = run_week(tmp_path_factory.mktemp("canvas"), "canvas")
    week["steps"]["feedback"] = autograder(
        "feedback", ASSIGNMENT, "--zip", "canvas", cwd=week["root"]
    )
    return week


@pytest.fixture(scope="module")
def moodle(tmp_path_factory):
    week = run_week(tmp_path_factory.mktemp("moodle"), "moodle")
    week["steps"]["feedback"] = autograder(
        "feedback", ASSIGNMENT, "--zip", "moodle", cwd=week["root"]
    )
    return week


@pytest.fixture(params=["canvas", "moodle"])
def week(request):
    return request.getfixturevalue(request.param)


def grades_csv(week):
    return {
        row["student"]: row
        for row in read_csv(week["root"] / "reports" / ASSIGNMENT / f"{ASSIGNMENT}_grades.csv")
    }


# ------------------------------------------------------------------ every submitter, their grade


def test_every_submitter_is_in_the_csv_with_the_designed_score(week):
    rows = grades_csv(week)
    missing = [p.lms_id for p in week["people"] if p.lms_id not in rows]
    print(f"{len(missing)} of {len(week['people'])} submitters missing from the CSV")
    assert missing == [], f"{len(missing)} submitters missing from the CSV"
    for person in week["people"]:
        row = rows[person.lms_id]
        raw, penalty, status, flags = person.expect(week["root"])
        if person.lms_id == week["changed"]:
            raw, status = 12.0, "graded"  # the second export corrected it
        assert row["status"] == status, (person, row)
        if status == "not collected":
            assert row["reason"] and row["total"] == "0", (person, row)
            continue
        assert float(row["late_penalty"]) == penalty, (person, row)
        assert float(row["total"]) == pytest.approx(raw - penalty), (person, row)
        assert [f.split(":")[0] for f in row["flags"].split("; ") if f] == list(flags), (
            person,
            row,
        )
        assert row["late_by"] == ("16:00:00" if person.late else ""), (person, row)
    for name, offset in ROSTER_ONLY:
        row = rows[str(week["first"] + offset)]
        first, _, last = name.rpartition(" ")
        assert (row["status"], row["total"]) == ("not submitted", "") and row["name"] in (
            name,
            f"{last}, {first}",
        )
    assert len(rows) == len(week["people"]) + len(ROSTER_ONLY)


def test_the_names_survive_and_two_people_with_one_name_are_two_students(week):
    rows = grades_csv(week)
    people = {p.lms_id: p for p in week["people"]}
    alices = [row for row in rows.values() if "Alice" in row["name"] and "Smith" in row["name"]]
    assert len(alices) == 2 and alices[0]["student"] != alices[1]["student"]
    for name in ("Élodie Brûlé", "Zoë Nuñez", "Åsa Öberg"):
        lms_id = next(i for i, p in people.items() if p.name == name)
        first, _, last = name.rpartition(" ")
        assert rows[lms_id]["name"] in (name, f"{last}, {first}"), rows[lms_id]


def test_collect_says_what_changed_and_keeps_its_table(week):
    steps = week["steps"]
    assert steps["collect 1"].returncode == 1  # three submitters not collected
    assert (
        "31 submitters: 28 collected (28 new, 0 changed, 0 unchanged), 3 not collected"
        in steps["collect 1"].stdout
    )
    assert (
        "31 submitters: 28 collected (0 new, 1 changed, 27 unchanged), 3 not collected"
        in steps["collect 2"].stdout
    )
    table = {
        row["student"]: row
        for row in read_csv(week["root"] / "grading" / f"{ASSIGNMENT}-collect.csv")
    }
    assert sorted(table) == sorted(p.lms_id for p in week["people"])
    changed = table[week["changed"]]
    assert (changed["change"], changed["submitted"], changed["outcome"]) == (
        "changed",
        utc(RESUBMITTED),
        "taken",
    )
    for person in week["people"]:
        row = table[person.lms_id]
        assert row["lms_id"] == person.lms_id and row["lms"] in ("canvas", "moodle")
        if person.kind.status == "not collected":
            assert row["outcome"] == "skipped" and row["reason"], row
        elif person.lms_id != week["changed"]:
            assert (row["change"], row["submitted"]) == ("unchanged", utc(person.time)), row
            assert re.fullmatch(r"[0-9a-f]{64}", row["sha256"]), row


def test_a_changed_resubmission_is_regraded_and_nothing_else(week):
    grade_2 = week["steps"]["grade 2"]
    assert "This run graded 1 new or changed submission:" in grade_2.stdout, grade_2.stdout
    assert re.search(rf"^{week['changed']}\s+12/12\s+graded", grade_2.stdout, re.M), grade_2.stdout
    rows = grades_csv(week)
    stale = [
        row for row in rows.values() if row["student"] == week["changed"] and row["total"] != "12"
    ]
    stale += [
        row for row in rows.values() if row["status"] == "not graded"
    ]  # changed, old score held back
    print(f"{len(stale)} stale grades after a changed resubmission")
    assert stale == []


def test_exit_status_and_summaries_say_what_happened(week):
    steps = week["steps"]
    assert steps["release"].returncode == 0, steps["release"].stderr
    for name in ("grade 1", "grade 2", "report", "export"):
        assert steps[name].returncode == 1, (
            name,
            steps[name].stderr[-2000:],
        )  # flagged, not collected, absent
        assert "need a look" in steps[name].stderr
    assert (
        "2 not submitted" in steps["report"].stdout and "3 not collected" in steps["report"].stdout
    )
    assert "1 flagged for a look" in steps["report"].stdout


# ------------------------------------------------------------------ back to the LMS


def fixture_rows(name):
    with open(
        os.path.join(os.path.dirname(__file__), "fixtures", name), newline="", encoding="utf-8"
    ) as stream:
        return list(csv.reader(stream))


def test_the_canvas_import_file_has_canvas_layout(canvas):
    path = canvas["root"] / "reports" / ASSIGNMENT / f"{ASSIGNMENT}-canvas.csv"
    with open(path, newline="", encoding="utf-8") as stream:
        header, points, *rows = list(csv.reader(stream))
    documented_header, documented_points, documented_row = fixture_rows(
        "canvas_gradebook_import.csv"
    )
    assert header[:5] == documented_header[:5]
    assert (
        re.fullmatch(r".+ \(\d+\)", documented_header[5])
        and header[5] == f"forward ({CANVAS_ASSIGNMENT_ID})"
    )
    assert (
        points[0] == documented_points[0]
        and points[1:5] == documented_points[1:5]
        and points[5] == "12"
    )
    assert all(len(row) == len(documented_row) for row in rows)
    by_id = {row[1]: row for row in rows}
    csv_rows = grades_csv(canvas)
    for person in canvas["people"]:
        row = by_id[person.lms_id]
        first, _, last = person.name.rpartition(" ")
        assert row[0] == f"{last}, {first}" and row[2:5] == [
            f"S{person.lms_id}",
            f"u{person.lms_id}",
            "Section 1",
        ]
        assert float(row[5]) == float(csv_rows[person.lms_id]["total"])
    for _, offset in ROSTER_ONLY:  # nothing submitted: the Canvas cell is left alone
        assert by_id[str(CANVAS_FIRST + offset)][5] == ""


def test_the_moodle_import_file_has_moodle_layout(moodle):
    path = moodle["root"] / "reports" / ASSIGNMENT / f"{ASSIGNMENT}-moodle.csv"
    with open(path, newline="", encoding="utf-8") as stream:
        header, *rows = list(csv.reader(stream))
    documented_header, documented_row = fixture_rows("moodle_grade_import.csv")
    assert header[:2] == documented_header[:2] and len(header) == len(documented_header)
    by_email = {row[0]: row for row in rows}
    csv_rows = grades_csv(moodle)
    for person in moodle["people"]:
        row = by_email[f"p{person.lms_id}@example.edu"]
        assert row[1] == person.name and float(row[2]) == float(csv_rows[person.lms_id]["total"])
    assert len(rows) == len(moodle["people"])  # roster people without a submission: no row


def test_feedback_zip_is_named_for_canvas_and_pages_read_offline(canvas):
    result = canvas["steps"]["feedback"]
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(canvas["root"] / "feedback" / f"{ASSIGNMENT}-canvas.zip") as archive:
        names = archive.namelist()
        page = archive.read(
            next(n for n in names if "_1015_" in n)
        ).decode()  # Tony Hoare: deleted test cell
    collected = [p for p in canvas["people"] if p.kind.status != "not collected"]
    assert len(names) == len(collected)
    for person in collected:
        assert (
            sum(
                bool(re.match(rf"[^_/]+(_LATE)?_{person.lms_id}_\d+_forward_feedback\.html$", n))
                for n in names
            )
            == 1
        )
    assert "Note from the grader" in page and "test_tanh_forward" in page
    # Nothing loaded from another host: no external script, stylesheet or image (MathJax's own
    # code, inlined, holds the URL of its website in its About box, which is not a load).
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)
    assert not re.search(r"""(src|href)=["']https?://""", markup), (
        "the feedback page loads from another host"
    )
    assert "<script src=" not in page and "MathJax" in page and "cdnjs" not in page


# ------------------------------------------------------------------ PostgreSQL


def test_postgresql_gives_the_same_csv_byte_for_byte(canvas, postgres_url, tmp_path):  # noqa: F811
    url = create_database(postgres_url, "lms_corpus")
    week = run_week(tmp_path, "canvas", db=("--db-url", url))
    assert not (week["root"] / "gradebook.db").exists()
    for name in ("csv 1",):
        assert week["steps"][name] == canvas["steps"][name]
    ours = (week["root"] / "reports" / ASSIGNMENT / f"{ASSIGNMENT}_grades.csv").read_bytes()
    theirs = (canvas["root"] / "reports" / ASSIGNMENT / f"{ASSIGNMENT}_grades.csv").read_bytes()
    assert ours == theirs


def test_feedback_zip_is_named_for_moodle(moodle):
    result = moodle["steps"]["feedback"]
    assert result.returncode == 0, result.stderr[-3000:]
    with zipfile.ZipFile(moodle["root"] / "feedback" / f"{ASSIGNMENT}-moodle.zip") as archive:
        names = set(archive.namelist())
    collected = [p for p in moodle["people"] if p.kind.status != "not collected"]
    assert names == {
        f"{p.name}_{p.lms_id}_assignsubmission_file_/forward_feedback.html" for p in collected
    }


def test_no_feedback_page_carries_the_grade_of_a_replaced_submission(canvas):
    """Feedback asked for after a changed submission was collected, before it was graded: that
    student gets no page (not the old grade's), it is said, and the exit status is 1."""
    result = canvas["steps"]["feedback before grade 2"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{canvas['changed']}'s submission changed since it was graded" in result.stderr
    assert canvas["steps"]["stale page"] is False
    assert canvas["steps"]["feedback"].returncode == 0  # after grade 2 every page is current
