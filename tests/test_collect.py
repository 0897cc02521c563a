"""collect: a class's submissions (folder or zip, nbgrader / flat / Canvas / Moodle layouts)
into <course>/submitted/<student>/<assignment>/<notebook>.ipynb, every notebook reported."""

import copy
import csv
import hashlib
import json
import zipfile

import nbformat
import pytest

from autograder.instructor.collect import (
    IGNORED,
    MAX_NOTEBOOK_BYTES,
    SKIPPED,
    TAKEN,
    collect,
    format_table,
    safe_student_id,
)
from autograder.instructor.course import Course, InstructorError
from tests.support.assignment_course import copy_course, read, source_notebook


@pytest.fixture(scope="module")
def notebook():
    """The instructor's forward notebook: a real, release-like nbformat 4 notebook."""
    return read(source_notebook("forward"))


@pytest.fixture
def course(tmp_path):
    return Course(copy_course(tmp_path))


@pytest.fixture
def source(tmp_path):
    folder = tmp_path / "download"
    folder.mkdir()
    return folder


def put(folder, rel, content):
    """Write a notebook (NotebookNode), text or bytes at folder/rel; returns the path."""
    path = folder / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        nbformat.write(content, str(path))
    return path


def zip_of(path, members):
    """A zip at `path` with {name: notebook, text or bytes} (names used verbatim)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            if not isinstance(content, (str, bytes)):
                content = nbformat.writes(content)
            zf.writestr(name, content)
    return path


def submitted(course, student, name="forward.ipynb"):
    return course.folder("submitted", student, "forward", name)


def outcomes(report):
    """{file: (outcome, student)} of every entry."""
    return {e.file: (e.outcome, e.student) for e in report.entries}


def check(report, course, found):
    """Count in == count out, and every taken notebook is a valid v4 notebook where nbgrader
    looks."""
    assert len(report.found) == found == len(report.taken) + len(report.skipped)
    assert {e.file for e in report.found}.isdisjoint(e.file for e in report.ignored)
    for entry in report.taken:
        assert entry.destination == submitted(course, entry.student, entry.destination.name)
        written = nbformat.read(str(entry.destination), as_version=nbformat.NO_CONVERT)
        assert written.nbformat == 4
        nbformat.validate(written)
    assert all(e.note for e in report.skipped + report.ignored)  # every skip says why


def with_output(notebook, text):
    """A copy of `notebook` whose first code cell has one stream output of `text`."""
    notebook = copy.deepcopy(notebook)
    cell = next(c for c in notebook.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    cell.execution_count = 1
    return notebook


# ------------------------------------------------------------------ the shapes


@pytest.mark.parametrize("inside", ["", "submitted"])
def test_nbgrader_layout(course, source, notebook, inside):
    root = source / "export"
    put(root, "submitted/alice/forward/forward.ipynb", with_output(notebook, "hello"))
    put(root, "submitted/bob/forward/forward.ipynb", notebook)
    put(root, "submitted/bob/backward/backward.ipynb", notebook)
    put(root, "submitted/bob/forward/timestamp.txt", "2024-01-01 10:00:00")
    put(root, "submitted/alice/forward/.ipynb_checkpoints/forward-checkpoint.ipynb", notebook)

    report = collect(course, "forward", root / inside if inside else root, progress=False)

    prefix = "" if inside else "submitted/"
    assert outcomes(report) == {
        f"{prefix}alice/forward/forward.ipynb": (TAKEN, "alice"),
        f"{prefix}bob/backward/backward.ipynb": (SKIPPED, None),
        f"{prefix}bob/forward/forward.ipynb": (TAKEN, "bob"),
        f"{prefix}alice/forward/.ipynb_checkpoints": (IGNORED, None),
        f"{prefix}bob/forward/timestamp.txt": (IGNORED, None),
    }
    other = report.entry(f"{prefix}bob/backward/backward.ipynb").note
    assert (
        "assignment 'backward', not 'forward'" in other
        and "collect it with that assignment" in other
    )
    check(report, course, found=3)
    assert report.students == ["alice", "bob"]
    assert (
        read(submitted(course, "alice")).cells == with_output(notebook, "hello").cells
    )  # outputs kept
    assert report.entry(f"{prefix}alice/forward/forward.ipynb").note == ""


def test_flat_folder(course, source, notebook):
    put(source, "alice.ipynb", notebook)
    put(source, "bob smith.ipynb", notebook)
    put(source, "section 2/carol.ipynb", notebook)
    put(source, "forward.ipynb", notebook)  # whose?

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {
        "alice.ipynb": (TAKEN, "alice"),
        "bob smith.ipynb": (TAKEN, "bob_smith"),
        "forward.ipynb": (SKIPPED, None),
        "section 2/carol.ipynb": (TAKEN, "carol"),
    }
    assert report.entry("alice.ipynb").note == "taken as forward.ipynb (submitted as 'alice.ipynb')"
    assert "student id 'bob smith' written as 'bob_smith'" in report.entry("bob smith.ipynb").note
    note = report.entry("forward.ipynb").note
    assert "cannot tell whose notebook this is" in note and "<student>/forward/" in note
    check(report, course, found=4)


def test_canvas_export(course, source, notebook):
    put(source, "alice_123_4567_forward.ipynb", notebook)
    put(source, "bob_LATE_88_9999_Forward-1.ipynb", notebook)
    put(source, "carol_late_5_6_my_work.ipynb", notebook)
    put(source, "van_der_berg_LATE_77_70_forward.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {
        "alice_123_4567_forward.ipynb": (TAKEN, "123"),
        "bob_LATE_88_9999_Forward-1.ipynb": (TAKEN, "88"),
        "carol_late_5_6_my_work.ipynb": (TAKEN, "5"),
        "van_der_berg_LATE_77_70_forward.ipynb": (TAKEN, "77"),
    }
    assert report.submitter("77").name == "van_der_berg" and report.submitter("77").late
    assert report.entry("alice_123_4567_forward.ipynb").note == ""  # the original name was right
    bob = report.entry("bob_LATE_88_9999_Forward-1.ipynb").note
    assert (
        "taken as forward.ipynb (submitted as 'Forward-1.ipynb')" in bob
        and "Canvas marks it late" in bob
    )
    # Canvas's user id is the student id; the name part and the late mark are kept.
    bob = report.submitter("88")
    assert (bob.lms, bob.lms_id, bob.name, bob.late, bob.upload_name) == (
        "canvas",
        "88",
        "bob",
        "yes",
        "bob_LATE_88_9999_",
    )
    assert report.submitter("123").late == ""
    check(report, course, found=4)


def test_moodle_export(course, source, notebook):
    put(source, "Jane Doe_1234_assignsubmission_file_/forward.ipynb", notebook)
    put(source, "Jane Doe_1234_assignsubmission_file_/notes.pdf", b"%PDF")
    put(source, "Participant_77_assignsubmission_file_/my work.ipynb", notebook)
    put(source, "Max Muster_55_assignsubmission_file_forward.ipynb", notebook)  # without folders

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {
        "Jane Doe_1234_assignsubmission_file_/forward.ipynb": (TAKEN, "1234"),
        "Max Muster_55_assignsubmission_file_forward.ipynb": (TAKEN, "55"),
        "Participant_77_assignsubmission_file_/my work.ipynb": (TAKEN, "77"),
        "Jane Doe_1234_assignsubmission_file_/notes.pdf": (IGNORED, None),
    }
    assert "not a notebook" in report.entry("Jane Doe_1234_assignsubmission_file_/notes.pdf").note
    assert [(s.student, s.name, s.lms) for s in report.submitters] == [
        ("1234", "Jane Doe", "moodle"),
        ("55", "Max Muster", "moodle"),
        ("77", "", "moodle"),
    ]
    check(report, course, found=3)


def test_pattern_overrides_detection(course, source, notebook):
    put(source, "week3/alice-forward-final.ipynb", notebook)
    put(source, "week3/bob-forward.ipynb", notebook)
    put(source, "week3/README.ipynb", notebook)

    report = collect(
        course, "forward", source, pattern=r"/(?P<student>[a-z]+)-forward", progress=False
    )

    assert outcomes(report) == {
        "week3/README.ipynb": (SKIPPED, None),
        "week3/alice-forward-final.ipynb": (TAKEN, "alice"),
        "week3/bob-forward.ipynb": (TAKEN, "bob"),
    }
    note = report.entry("week3/README.ipynb").note
    assert "does not match the pattern" in note and "fix the pattern or move the file" in note
    check(report, course, found=3)

    with pytest.raises(InstructorError, match="named group for the student id"):
        collect(course, "forward", source, pattern=r"(\w+)-forward", progress=False)
    with pytest.raises(InstructorError, match="not a valid regular expression"):
        collect(course, "forward", source, pattern=r"(?P<student>", progress=False)


def test_zip_with_nested_folders_and_junk(course, tmp_path, notebook):
    archive = zip_of(
        tmp_path / "class.zip",
        {
            "2024/flat/alice.ipynb": notebook,
            "2024/flat/bob.ipynb": notebook,
            "2024/nbgrader/carol/forward/forward.ipynb": notebook,
            "2024/canvas/dave_1_2_forward.ipynb": notebook,
            "__MACOSX/2024/flat/._alice.ipynb": b"\x00\x05\x16\x07",
            "2024/.DS_Store": b"\x00",
            "2024/data.csv": "x,y\n",
            "../evil.ipynb": notebook,
            "/abs/erin.ipynb": notebook,
            "..\\..\\frank.ipynb": notebook,
        },
    )

    report = collect(course, "forward", archive, progress=False)

    assert outcomes(report) == {
        "2024/flat/alice.ipynb": (TAKEN, "alice"),
        "2024/flat/bob.ipynb": (TAKEN, "bob"),
        "2024/nbgrader/carol/forward/forward.ipynb": (TAKEN, "carol"),
        "2024/canvas/dave_1_2_forward.ipynb": (TAKEN, "1"),
        "../evil.ipynb": (SKIPPED, None),
        "/abs/erin.ipynb": (SKIPPED, None),
        "../../frank.ipynb": (SKIPPED, None),
        "2024/.DS_Store": (IGNORED, None),
        "2024/data.csv": (IGNORED, None),
        "__MACOSX": (IGNORED, None),
    }
    for unsafe in ("../evil.ipynb", "/abs/erin.ipynb", "../../frank.ipynb"):
        note = report.entry(unsafe).note
        assert "unsafe path in the zip" in note and "Re-create the zip" in note
    assert not (tmp_path / "evil.ipynb").exists() and not (tmp_path.parent / "frank.ipynb").exists()
    assert sorted(p.name for p in course.folder("submitted").iterdir()) == [
        "1",
        "alice",
        "bob",
        "carol",
    ]
    check(report, course, found=7)


# ------------------------------------------------------------------ bad input


def test_unusable_source_raises_and_writes_nothing(course, source, tmp_path, notebook):
    with pytest.raises(InstructorError, match="does not exist. Pass the folder or .zip"):
        collect(course, "forward", tmp_path / "nowhere", progress=False)
    put(source, "readme.txt", "hello")
    put(source, ".ipynb_checkpoints/alice-checkpoint.ipynb", notebook)
    with pytest.raises(InstructorError, match=r"No notebook \(.ipynb\) in .*only 2 other files"):
        collect(course, "forward", source, progress=False)
    put(source, "alice.ipynb", notebook)
    with pytest.raises(InstructorError, match="Unknown assignment 'fwd'.*forward"):
        collect(course, "fwd", source, progress=False)
    with pytest.raises(InstructorError, match="neither a folder nor a zip"):
        collect(course, "forward", source / "readme.txt", progress=False)
    with pytest.raises(InstructorError, match="overlaps the course's own"):
        collect(course, "forward", course.root, progress=False)
    assert not course.folder("submitted").exists()


def test_duplicate_students_are_all_skipped(course, source, notebook):
    put(source, "alice.ipynb", notebook)
    put(source, "resubmitted/alice.ipynb", notebook)
    put(source, "Bob/forward/forward.ipynb", notebook)
    put(source, "bob.ipynb", notebook)  # same folder on a case-insensitive disk
    put(source, "carol.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    assert [e.file for e in report.taken] == ["carol.ipynb"]
    for file, other in [
        ("alice.ipynb", "resubmitted/alice.ipynb"),
        ("resubmitted/alice.ipynb", "alice.ipynb"),
        ("Bob/forward/forward.ipynb", "bob.ipynb"),
        ("bob.ipynb", "Bob/forward/forward.ipynb"),
    ]:
        note = report.entry(file).note
        assert note.startswith(f"duplicate: {other} also maps to student")
        assert "Keep one submission per student" in note and "pass a pattern" in note
    assert not submitted(course, "alice").exists() and not submitted(course, "bob").exists()
    check(report, course, found=5)


def test_wrong_notebook_names(course, source, notebook):
    put(source, "alice/forward/forward (1).ipynb", notebook)
    put(source, "bob/forward/Forward-Copy1.ipynb", notebook)
    put(source, "carol/forward/forward (1).ipynb", notebook)
    put(source, "carol/forward/Forward-Copy1.ipynb", notebook)
    put(source, "dave/forward/forward.ipynb", notebook)
    put(source, "dave/forward/forward (1).ipynb", notebook)
    put(source, "erin/forward/forward.ipynb", notebook)
    put(source, "erin/forward/scratch.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {
        "alice/forward/forward (1).ipynb": (TAKEN, "alice"),
        "bob/forward/Forward-Copy1.ipynb": (TAKEN, "bob"),
        "carol/forward/Forward-Copy1.ipynb": (SKIPPED, "carol"),
        "carol/forward/forward (1).ipynb": (SKIPPED, "carol"),
        "dave/forward/forward (1).ipynb": (SKIPPED, "dave"),
        "dave/forward/forward.ipynb": (TAKEN, "dave"),
        "erin/forward/forward.ipynb": (TAKEN, "erin"),
        "erin/forward/scratch.ipynb": (SKIPPED, "erin"),
    }
    assert (
        report.entry("alice/forward/forward (1).ipynb").note
        == "taken as forward.ipynb (submitted as 'forward (1).ipynb')"
    )
    assert (
        submitted(course, "bob").is_file()
        and not submitted(course, "bob", "Forward-Copy1.ipynb").exists()
    )
    ambiguous = report.entry("carol/forward/Forward-Copy1.ipynb").note
    assert ambiguous.startswith(
        "ambiguous: 'carol' has several notebooks (carol/forward/Forward-Copy1.ipynb, "
        "carol/forward/forward (1).ipynb)"
    )
    assert (
        "Keep only the one to grade (or name it forward.ipynb)" in ambiguous
        and "pass a pattern" in ambiguous
    )
    extra = report.entry("dave/forward/forward (1).ipynb").note
    assert extra.startswith(
        "extra notebook: 'dave' also submitted dave/forward/forward.ipynb, which is the one taken."
    )
    assert "If this one is the one to grade, remove dave/forward/forward.ipynb" in extra
    assert not submitted(course, "carol").exists()
    assert report.entry("erin/forward/scratch.ipynb").note.startswith(
        "extra notebook: 'erin' also submitted erin/forward/forward.ipynb"
    )
    check(report, course, found=8)


def test_nbformat3_is_converted(course, source, notebook):
    put(source, "alice.ipynb", nbformat.writes(nbformat.convert(copy.deepcopy(notebook), 3)))

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {"alice.ipynb": (TAKEN, "alice")}
    assert "converted from nbformat 3 to 4" in report.entry("alice.ipynb").note
    written = read(submitted(course, "alice"))
    assert [c.source for c in written.cells] == [c.source for c in notebook.cells]
    assert [c.metadata.get("nbgrader") for c in written.cells] == [
        c.metadata.get("nbgrader") for c in notebook.cells
    ]
    check(report, course, found=1)


def test_broken_notebooks_are_skipped_with_the_error(course, source, notebook):
    text = nbformat.writes(notebook)
    put(source, "alice.ipynb", text[: len(text) // 2])  # truncated upload
    put(source, "bob.ipynb", "[1, 2, 3]")
    invalid = json.loads(text)
    invalid["cells"][2]["source"] = 5
    put(source, "carol.ipynb", json.dumps(invalid))
    put(source, "dave.ipynb", b"PK\x03\x04\xff\xfe binary")
    put(source, "erin.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {
        "alice.ipynb": (SKIPPED, "alice"),
        "bob.ipynb": (SKIPPED, "bob"),
        "carol.ipynb": (SKIPPED, "carol"),
        "dave.ipynb": (SKIPPED, "dave"),
        "erin.ipynb": (TAKEN, "erin"),
    }
    lines = text[: len(text) // 2].count("\n") + 1
    assert report.entry("alice.ipynb").note.startswith("not valid JSON: ")
    assert f"at line {lines}, column " in report.entry("alice.ipynb").note
    assert report.entry("bob.ipynb").note.startswith(
        "JSON but not a Jupyter notebook (no 'nbformat' field)"
    )
    assert report.entry("carol.ipynb").note.startswith(
        "not a valid nbformat 4 notebook: at cells/2/source: 5 is not valid"
    )
    assert report.entry("dave.ipynb").note.startswith(
        "not a notebook: not UTF-8 text (invalid byte at offset 4)"
    )
    for entry in report.skipped:
        assert (
            "ask the student to download the notebook again from Jupyter (File > Download)"
            in entry.note
        )
    assert sorted(p.name for p in course.folder("submitted").iterdir()) == ["erin"]
    check(report, course, found=5)


def test_huge_outputs_are_cleared(course, source, notebook):
    big = put(source, "alice.ipynb", with_output(notebook, "x" * (MAX_NOTEBOOK_BYTES + 2**20)))
    put(source, "bob.ipynb", with_output(notebook, "small output"))
    assert big.stat().st_size > MAX_NOTEBOOK_BYTES

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {"alice.ipynb": (TAKEN, "alice"), "bob.ipynb": (TAKEN, "bob")}
    note = report.entry("alice.ipynb").note
    assert (
        "outputs cleared: the file is 6.0 MB, over the 5 MB limit (grading recomputes them)" in note
    )
    cleared = read(submitted(course, "alice"))
    assert all(
        c.outputs == [] and c.execution_count is None
        for c in cleared.cells
        if c.cell_type == "code"
    )
    assert [c.source for c in cleared.cells] == [c.source for c in notebook.cells]
    assert submitted(course, "alice").stat().st_size < 2 * notebook_size(notebook)
    assert "outputs cleared" not in report.entry("bob.ipynb").note
    assert read(submitted(course, "bob")).cells == with_output(notebook, "small output").cells
    check(report, course, found=2)


def notebook_size(notebook):
    return len(nbformat.writes(notebook).encode())


def test_unsafe_student_ids(course, source, notebook):
    assert safe_student_id("alice") == ("alice", "")
    assert safe_student_id("Jane Doe") == (
        "Jane_Doe",
        "student id 'Jane Doe' written as 'Jane_Doe'",
    )
    assert safe_student_id("-rf")[0] == "rf"
    assert safe_student_id(".hidden")[0] == "hidden"
    assert safe_student_id("José Núñez")[0] == "José_Núñez"
    put(source, "___.ipynb", notebook)
    put(source, "$(rm -rf).ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {"$(rm -rf).ipynb": (TAKEN, "rm_-rf"), "___.ipynb": (SKIPPED, None)}
    note = report.entry("___.ipynb").note
    assert "student id '___' has no letters or digits" in note and "or pass a pattern" in note
    check(report, course, found=2)


def test_earlier_submission_is_replaced(course, source, notebook):
    old = submitted(course, "alice")
    put(old.parent, "forward.ipynb", with_output(notebook, "old run"))
    put(old.parent, "timestamp.txt", "2020-01-01 00:00:00")
    put(source, "alice.ipynb", notebook)

    report = collect(course, "forward", source, progress=True)

    assert "changed submission" in report.entry("alice.ipynb").note
    assert report.submitter("alice").change == "changed"
    assert sorted(p.name for p in old.parent.iterdir()) == ["forward.ipynb"]
    assert read(old).cells == notebook.cells
    check(report, course, found=1)
    again = collect(course, "forward", source, progress=False)
    assert again.submitter("alice").change == "unchanged" and again.entry(
        "alice.ipynb"
    ).note.endswith("; unchanged submission")


def test_format_table(course, source, notebook):
    put(source, "alice.ipynb", notebook)
    put(source, "bob.ipynb", "{")
    put(source, "notes.txt", "hi")

    report = collect(course, "forward", source, progress=False)
    table = format_table(report)
    lines = table.splitlines()

    assert lines[0].split() == ["student", "file", "outcome", "note"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split()[:3] == ["alice", "alice.ipynb", "taken"]
    assert lines[3].split()[:3] == ["bob", "bob.ipynb", "skipped"] and "not valid JSON" in lines[3]
    assert lines[4].split()[:3] == ["-", "notes.txt", "ignored"]
    assert (
        len(
            {
                line.index(
                    " taken" if "taken" in line else " skipped" if "skipped" in line else " ignored"
                )
                for line in lines[2:5]
            }
        )
        == 1
    )  # the outcome column is aligned
    assert lines[-4] == "2 notebooks found: 1 taken, 1 skipped"
    assert lines[-3] == "1 other file ignored (not notebooks, hidden, or macOS metadata)"
    assert lines[-2] == "2 submitters: 1 collected (1 new, 0 changed, 0 unchanged), 1 not collected"
    assert (
        lines[-1] == f"table of every submitter: {course.root / 'grading' / 'forward-collect.csv'}"
    )


# ------------------------------------------------------------------ identity, links, names


def zip_raw_names(path, members):
    """A zip whose entry names are the given raw bytes with no UTF-8 flag (as older zip tools
    write them). members: {name bytes: notebook or bytes}. Python's zipfile sets the flag for
    any non-ASCII name, so ASCII placeholders of the same length are patched afterwards."""
    placeholders = {}
    with zipfile.ZipFile(path, "w") as zf:
        for number, (raw, content) in enumerate(members.items()):
            placeholder = (f"@{number:03d}" + "#" * len(raw))[: len(raw)].encode()
            assert len(placeholder) == len(raw)
            placeholders[placeholder] = raw
            zf.writestr(
                placeholder.decode(),
                content if isinstance(content, bytes) else nbformat.writes(content),
            )
    data = path.read_bytes()
    for placeholder, raw in placeholders.items():
        assert data.count(placeholder) == 2  # the local header and the central directory
        data = data.replace(placeholder, raw)
    path.write_bytes(data)
    return path


def test_names_in_zips_with_and_without_the_utf8_flag(course, tmp_path, notebook):
    flagged = zip_of(
        tmp_path / "flagged.zip",
        {"Élodie Brûlé_2001_assignsubmission_file_/forward.ipynb": notebook},
    )
    report = collect(course, "forward", flagged, progress=False)
    assert report.submitter("2001").name == "Élodie Brûlé" and report.submitter("2001").reason == ""

    folder = "_2002_assignsubmission_file_/forward.ipynb"
    unflagged = zip_raw_names(
        tmp_path / "cp437.zip",
        {
            "Zoë Nuñez".encode("cp437")
            + folder.encode(): notebook,  # as the zip format says: cp437
            "Åsa Öberg".encode()
            + folder.replace("2002", "2003").encode(): notebook,  # UTF-8, flag missing
            "Séverine".encode("cp1252")
            + folder.replace("2002", "2004").encode(): notebook,  # neither
        },
    )
    report = collect(course, "forward", unflagged, progress=False)
    names = {s.student: s.name for s in report.submitters}
    assert names["2002"] == "Zoë Nuñez" and report.submitter("2002").reason == ""
    assert (
        names["2003"] == "Åsa Öberg"
        and "as UTF-8 without saying so" in report.submitter("2003").reason
    )
    assert "check the student's name" in report.submitter("2004").reason
    assert {s.outcome for s in report.submitters} == {TAKEN}


def test_same_name_is_two_students_and_a_decoy_file_name_decides_nothing(course, source, notebook):
    put(source, "Alice Smith_2001_assignsubmission_file_/forward.ipynb", notebook)
    put(
        source,
        "Alice Smith_2004_assignsubmission_file_/forward.ipynb",
        with_output(notebook, "other"),
    )
    # Bob uploads a file named like Alice's folder: it is still Bob's.
    put(
        source,
        "Bob Jones_2002_assignsubmission_file_/Alice "
        "Smith_2001_assignsubmission_file_forward.ipynb",
        with_output(notebook, "bob"),
    )

    report = collect(course, "forward", source, progress=False)

    assert [(s.student, s.name, s.outcome) for s in report.submitters] == [
        ("2001", "Alice Smith", TAKEN),
        ("2002", "Bob Jones", TAKEN),
        ("2004", "Alice Smith", TAKEN),
    ]
    assert read(submitted(course, "2002")).cells == with_output(notebook, "bob").cells
    assert read(submitted(course, "2001")).cells == notebook.cells
    check(report, course, found=3)


def test_links_are_refused(course, source, tmp_path, notebook):
    secret = put(tmp_path / "elsewhere", "forward.ipynb", notebook)
    put(source, "alice.ipynb", notebook)
    (source / "bob.ipynb").symlink_to(secret)
    (source / "Carol C_7_assignsubmission_file_").symlink_to(
        secret.parent, target_is_directory=True
    )
    put(source, "dave/forward/forward.ipynb", notebook)
    (source / "erin.ipynb").hardlink_to(secret)
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("frank.ipynb")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, str(secret))
        zf.writestr("gina.ipynb", nbformat.writes(notebook))

    report = collect(course, "forward", source, progress=False)
    assert (
        outcomes(report)["bob.ipynb"] == (SKIPPED, "bob")
        and "symbolic link" in report.entry("bob.ipynb").note
    )
    assert (
        outcomes(report)["erin.ipynb"] == (SKIPPED, "erin")
        and "hard link" in report.entry("erin.ipynb").note
    )
    carol = report.submitter("7")
    assert carol.outcome == SKIPPED and "symbolic link" in carol.reason
    assert sorted(s.student for s in report.submitters if s.outcome == TAKEN) == ["alice", "dave"]
    assert not submitted(course, "bob").exists() and not submitted(course, "7").exists()

    report = collect(course, "forward", archive, progress=False)
    assert (
        outcomes(report)["frank.ipynb"] == (SKIPPED, "frank")
        and "symbolic link" in report.entry("frank.ipynb").note
    )
    assert outcomes(report)["gina.ipynb"] == (TAKEN, "gina")


def test_a_lone_surrogate_costs_that_student_alone(course, source, notebook):
    text = nbformat.writes(notebook).replace(
        '"cells": [',
        '"cells": [{"cell_type": "markdown", "id": "x", "metadata": {}, "source": "\\ud800"}, ',
        1,
    )
    put(source, "alice.ipynb", text)
    put(source, "bob.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    assert outcomes(report) == {"alice.ipynb": (SKIPPED, "alice"), "bob.ipynb": (TAKEN, "bob")}
    assert "lone surrogate" in report.entry("alice.ipynb").note
    check(report, course, found=2)


def test_student_folders_and_the_nbgrader_exchange(course, source, notebook):
    put(source, "alice/forward.ipynb", notebook)
    put(source, "bob/Forward (2).ipynb", notebook)
    inbound = source / "inbound"
    put(
        inbound,
        "carol+forward+2024-03-01 10:00:00.000000 UTC+abc/forward.ipynb",
        with_output(notebook, "old"),
    )
    put(
        inbound,
        "carol+forward+2024-03-02 09:30:00.000000 UTC+def/forward.ipynb",
        with_output(notebook, "new"),
    )
    put(
        inbound,
        "carol+forward+2024-03-02 09:30:00.000000 UTC+def/timestamp.txt",
        "2024-03-02 09:30:00.000000 UTC",
    )
    put(inbound, "dave+backward+2024-03-01 10:00:00.000000 UTC+abc/backward.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    taken = {s.student: s for s in report.submitters if s.outcome == TAKEN}
    assert sorted(taken) == ["alice", "bob", "carol"]
    assert read(submitted(course, "carol")).cells == with_output(notebook, "new").cells
    assert taken["carol"].submitted == "2024-03-02 09:30:00 UTC"
    assert (
        submitted(course, "carol").parent / "timestamp.txt"
    ).read_text().strip() == "2024-03-02 09:30:00 UTC"
    old = "inbound/carol+forward+2024-03-01 10:00:00.000000 UTC+abc/forward.ipynb"
    assert outcomes(report)[old] == (SKIPPED, "carol") and report.entry(old).note.startswith(
        "superseded"
    )
    assert (
        "not 'forward'"
        in report.entry(
            "inbound/dave+backward+2024-03-01 10:00:00.000000 UTC+abc/backward.ipynb"
        ).note
    )


def test_every_submitter_is_in_the_collect_table(course, source, notebook):
    jane = put(source, "smithjane_11_101_forward.ipynb", notebook)
    put(source, "doejohn_12_102_report.pdf", b"%PDF-1.4")
    put(source, "roeann_13_103_forward.zip", b"PK\x03\x04")
    put(source, "kimlee_14_104_forward.ipynb", "{ not json")
    put(source, "forward.ipynb", notebook)

    report = collect(course, "forward", source, progress=False)

    rows = {s.student: s for s in report.submitters}
    assert sorted(rows) == ["", "11", "12", "13", "14"]
    assert rows["11"].outcome == TAKEN and rows["11"].change == "new"
    assert rows["11"].sha256 == hashlib.sha256(jane.read_bytes()).hexdigest()
    assert "no notebook in the submission, only doejohn_12_102_report.pdf" in rows["12"].reason
    assert "an archive (roeann_13_103_forward.zip)" in rows["13"].reason
    assert "not valid JSON" in rows["14"].reason and rows["14"].outcome == SKIPPED
    assert "cannot tell whose notebook" in rows[""].reason
    with open(report.table, newline="") as stream:
        table = list(csv.DictReader(stream))
    assert [row["student"] for row in table] == ["11", "12", "13", "14", ""]
    assert [row["outcome"] for row in table] == [TAKEN, SKIPPED, SKIPPED, SKIPPED, SKIPPED]
    assert all(row["reason"] for row in table[1:])
