"""Import a class's submissions into nbgrader's layout:
``submitted/<student>/<assignment>/<notebook>.ipynb``.

    report = collect(course, "forward", "downloads/forward.zip")
    print(format_table(report))

SOURCE is a folder or a .zip file, walked recursively (nested folders in a zip
work). Whose a file is comes from the structure the LMS (or nbgrader) gave the
export, never from a name a student chose inside their submission; the first
of these that fits:

1. ``pattern``, if given: a regex with a named group ``student``, searched in
   the path relative to SOURCE (for LMSs not listed here);
2. Moodle: the outermost ``<Full Name>_<participant id>_assignsubmission_<plugin>_``
   folder (or the same prefix on a file name, when the download is not in
   folders). The student id is Moodle's participant id (the ``Participant N``
   of its grading worksheet), the full name is kept as the display name; two
   people with one name are two students;
3. Canvas: a file named ``<name>_<user id>_<file id>_<original name>``, or with
   ``_LATE`` after the name. The student id is Canvas's user id (the ``ID``
   column of its gradebook); files with one user id are one submission;
4. nbgrader's exchange: ``<student>+<assignment>+<timestamp>+<random>/`` folders
   (a JupyterHub course's ``inbound/``): the newest per student is taken, its
   time kept, the older ones are listed as superseded;
5. nbgrader's layout ``.../<student>/<assignment>/<notebook>.ipynb`` (SOURCE
   may be a ``submitted/`` folder or contain one; its ``timestamp.txt`` is
   kept); a file in a folder named after *another* assignment is skipped;
6. a folder per student holding the assignment's notebook:
   ``<student>/<assignment>.ipynb``;
7. a flat folder (at any depth) of ``<student>.ipynb``.

Every submitter is accounted for: ``collect`` writes
``<course>/grading/<assignment>-collect.csv`` with one row per submitter
(taken or skipped and why, LMS id, display name, submission time, late mark,
SHA-256 of the file, and whether the submission is new, changed or unchanged
since the last collect). A submitter whose LMS entry has no notebook (a PDF,
a zip) is a row too. Rows of students who are not in this export but were
collected before are kept.

What is taken and what is not (every .ipynb appears in the report once, as
*taken* or *skipped* with a reason; other files are *ignored*, not counted):

- student ids are made safe folder names (see safe_student_id) and compared
  ignoring case ('Alice' and 'alice' are one folder on macOS and Windows);
- one submission per student: when two files (two folders, two entries) map
  to one student, all of them are skipped, each naming the others;
- a flat file named after the assignment (``forward.ipynb``) is skipped: whose?
- a student's only notebook is taken under the assignment's notebook name
  (``forward (1).ipynb`` -> ``forward.ipynb``); if the student sent several and
  exactly one has the right name, that one is taken and the rest skipped;
  otherwise (several candidates) all are skipped;
- nbformat 3 (or older) is converted to 4; invalid JSON, text that is not
  valid Unicode or an invalid notebook structure is skipped with the reason;
- a file over MAX_NOTEBOOK_BYTES is taken with its outputs cleared (grading
  recomputes them);
- symbolic links, hard links and zip entries that are links are refused;
  zip entries with absolute paths or ``..`` are not read; ``__MACOSX/``,
  hidden files and folders (``.ipynb_checkpoints``) and non-notebook files are
  listed as ignored;
- zip entry names are decoded as the zip format says (UTF-8 when the entry
  says so, else code page 437); a name whose bytes are UTF-8 without the flag
  is read as UTF-8, and a name that looks mis-decoded is reported;
- the LMS's submission time (the time the LMS stamped on the file in its
  download, or nbgrader's timestamp) is written to ``timestamp.txt``, where
  nbgrader reads it for late penalties;
- an earlier submission of the same student for this assignment is replaced
  in one step (the new folder is written aside, then swapped in).

Anything that goes wrong with one file costs that submitter alone (skipped,
with the reason). SOURCE missing, holding no notebook, overlapping the
course's own ``submitted/`` folder, or an unknown assignment raise
InstructorError before anything is written.
"""

import csv
import datetime
import hashlib
import io
import json
import os
import re
import shutil
import stat
import warnings
import zipfile
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from tqdm import tqdm

from .course import Course, InstructorError
from .status import write_atomically
from .submissions import fingerprint
from .table import text_table

MAX_NOTEBOOK_BYTES = 5 * 1024 * 1024  # above this a notebook is taken with its outputs cleared
MAX_FILE_BYTES = 200 * 1024 * 1024  # above this a file is not read at all (zip bombs, stray data)
MAX_ID_LENGTH = 64

TAKEN, SKIPPED, IGNORED = "taken", "skipped", "ignored"
NEW, CHANGED, UNCHANGED = "new", "changed", "unchanged"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"  # as nbgrader's timestamp.txt (parse_utc reads it)

CANVAS = re.compile(  # the name part may hold underscores itself (a login such as van_dyke)
    r"^(?P<name>[^/]+?)(?P<late>_late)?_(?P<id>\d+)_(?P<file_id>\d+)_(?P<original>.+)$",
    re.IGNORECASE,
)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_[a-z]+_")
EXCHANGE_FOLDER = "{student}+{assignment}+{timestamp}+{random}"  # nbgrader's inbound/ folders

COLLECT_COLUMNS = (
    "student",
    "name",
    "lms",
    "lms_id",
    "outcome",
    "change",
    "submitted",
    "late",
    "sha256",
    "file",
    "upload_name",
    "reason",
)


@dataclass
class Entry:
    """One file of SOURCE: its path relative to SOURCE ('/'-separated), the outcome (taken,
    skipped or ignored), the student it belongs to (when known), a note saying what was done
    or what is wrong and what to do, and where it was written (taken only)."""

    file: str
    outcome: str
    note: str = ""
    student: str | None = None
    destination: Path | None = None

    def __str__(self):
        return f"{self.file}: {self.outcome}" + (f" ({self.note})" if self.note else "")


@dataclass
class Submitter:
    """One submitter of the export and what became of their submission: a row of
    grading/<assignment>-collect.csv. student is '' when no id could be read from the export.

    lms: canvas, moodle, exchange, nbgrader, folder, flat or pattern; lms_id: the LMS's own id
    (Canvas user id, Moodle participant id); name: the display name the LMS gives; submitted:
    the submission time (TIME_FORMAT) or ''; late: 'yes' when the LMS marked it late;
    change: new, changed or unchanged (taken only); upload_name: the name under which the
    LMS's bulk feedback upload expects this student's file ('' if it has none)."""

    student: str
    name: str = ""
    lms: str = ""
    lms_id: str = ""
    outcome: str = SKIPPED
    change: str = ""
    submitted: str = ""
    late: str = ""
    sha256: str = ""
    file: str = ""
    upload_name: str = ""
    reason: str = ""

    def row(self):
        return [getattr(self, column) for column in COLLECT_COLUMNS]


@dataclass
class CollectReport:
    """What collect did. `entries` has one Entry per notebook found and per ignored file;
    `submitters` one Submitter per submitter of the export."""

    assignment: str
    source: Path
    entries: list = field(default_factory=list)
    submitters: list = field(default_factory=list)
    table: Path | None = None  # grading/<assignment>-collect.csv

    def _with(self, *outcomes):
        return [e for e in self.entries if e.outcome in outcomes]

    @property
    def found(self):
        """Every notebook (.ipynb) found in SOURCE: len(found) == len(taken) + len(skipped)."""
        return self._with(TAKEN, SKIPPED)

    @property
    def taken(self):
        return self._with(TAKEN)

    @property
    def skipped(self):
        return self._with(SKIPPED)

    @property
    def ignored(self):
        """Files that are not submissions (not .ipynb, hidden, macOS metadata)."""
        return self._with(IGNORED)

    @property
    def not_collected(self):
        """Submitters whose submission was not taken."""
        return [s for s in self.submitters if s.outcome != TAKEN]

    @property
    def students(self):
        """Ids of the students whose notebooks were taken, sorted."""
        return sorted({e.student for e in self.taken})

    def entry(self, file):
        """The Entry of `file` (its path relative to SOURCE)."""
        return next(e for e in self.entries if e.file == file)

    def submitter(self, student):
        """The Submitter with this student id."""
        return next(s for s in self.submitters if s.student == student)


class _Skip(Exception):
    """Raised by the helpers below: the file is skipped, the message is the reason."""


# ------------------------------------------------------------------ reading SOURCE


@dataclass
class _File:
    """A file in SOURCE: its relative path, its size, `open()` giving a binary stream of its
    bytes, the time stamped on it (UTC) and notes on its name; `problem` says why it must not
    be read at all, `unsafe` that its path must not even be used to tell whose it is."""

    rel: str
    size: int = 0
    open: object = None
    problem: str | None = None
    unsafe: bool = False
    time: datetime.datetime | None = None
    notes: list = field(default_factory=list)

    @property
    def is_notebook(self):
        return self.rel.lower().endswith(".ipynb")

    def read(self):
        """The file's bytes; raises _Skip if it cannot or must not be read."""
        if self.problem:
            raise _Skip(self.problem)
        limit = f"{MAX_FILE_BYTES // 2**20} MB"
        if self.size > MAX_FILE_BYTES:
            raise _Skip(
                f"{self.size / 2**20:.0f} MB is too large to be a notebook (limit {limit}); "
                "ask the student for the notebook itself"
            )
        try:
            with self.open() as stream:
                data = stream.read(MAX_FILE_BYTES + 1)  # a zip header's size can lie
        except (
            OSError,
            RuntimeError,
            zipfile.BadZipFile,
            EOFError,
        ) as error:  # e.g. an encrypted zip entry
            raise _Skip(
                f"cannot be read: {error}; unpack SOURCE yourself and collect the folder, "
                "or ask for the file again"
            ) from None
        if len(data) > MAX_FILE_BYTES:
            raise _Skip(
                f"larger than {limit}: too large to be a notebook; ask the student for the "
                "notebook itself"
            )
        return data


def _ignore_reason(parts):
    """(the path to list as ignored, why) for a path that is never part of a submission, else
    None."""
    for depth, part in enumerate(parts):
        if part == "__MACOSX":
            return "/".join(parts[: depth + 1]), "macOS metadata, not a submission"
        if part.startswith("."):
            return "/".join(
                parts[: depth + 1]
            ), "hidden file or folder (e.g. an editor or Jupyter checkpoint copy)"
    return None


NOT_NOTEBOOK = "not a notebook (.ipynb): only notebooks are collected"
LINK = (
    "a {kind} ({detail}): links are refused, a link could point at any file on this machine. "
    "Put the file itself in SOURCE"
)


def _list_folder(root):
    """([_File] under `root`, {path: ignore reason}), walking it without following links."""
    files, ignored = [], {}
    for folder, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        here = Path(folder)
        for name in sorted(filenames) + [d for d in dirnames if (here / d).is_symlink()]:
            path = here / name
            parts = path.relative_to(root).parts
            reason = _ignore_reason(parts)
            if reason:
                ignored.setdefault(*reason)
                continue
            info = path.lstat()
            entry = _File(
                "/".join(parts),
                info.st_size,
                lambda p=path: p.open("rb"),
                time=datetime.datetime.fromtimestamp(info.st_mtime, datetime.UTC),
            )
            if stat.S_ISLNK(info.st_mode):
                entry.problem = LINK.format(kind="symbolic link", detail=f"to {os.readlink(path)}")
            elif not stat.S_ISREG(info.st_mode):
                entry.problem = "not a regular file (a device, socket or pipe); not read"
            elif info.st_nlink > 1:
                entry.problem = LINK.format(
                    kind="hard link", detail=f"the same file has {info.st_nlink} names"
                )
            files.append(entry)
        dirnames[:] = [d for d in dirnames if not (here / d).is_symlink()]
    return files, ignored


@contextmanager
def _zip_member(archive, info):
    """A binary stream of one zip entry (the archive is opened for this read only)."""
    with zipfile.ZipFile(archive) as zf, zf.open(info) as stream:
        yield stream


def zip_name(info):
    """(the entry's name, [notes]) decoded as the zip format says: UTF-8 if the entry has the
    UTF-8 flag, else code page 437. Bytes without the flag that are valid UTF-8 and read
    as box-drawing or Greek characters in cp437 were UTF-8: they are read so, with a note;
    other names that look mis-decoded get a note."""
    name = info.filename
    if info.flag_bits & 0x800 or name.isascii():
        return name, []
    raw = name.encode("cp437")
    looks_wrong = any(0xB0 <= byte <= 0xF4 for byte in raw)  # cp437's graphics, Greek and maths
    if looks_wrong:
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            return name, [
                f"the zip gives the name {name!r} without its UTF-8 flag and it reads oddly "
                "in code page 437: check the student's name (re-create the zip with UTF-8 names)"
            ]
        return decoded, [
            f"the zip stores the name {decoded!r} as UTF-8 without saying so (no UTF-8 flag); "
            "read as UTF-8"
        ]
    return name, []


def _list_zip(archive):
    """Like _list_folder, for the entries of a zip file; entries that would leave the archive
    (absolute paths, '..') are reported, never read; entries that are links are refused."""
    files, ignored = [], {}
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise InstructorError(
            f"{archive} is not a readable zip file ({error}). "
            "Download it again, or unpack it and pass the folder."
        ) from None
    for info in sorted(infos, key=lambda i: i.filename):
        decoded, notes = zip_name(info)
        name = decoded.replace("\\", "/")  # zips made on Windows may use backslashes
        if name.endswith("/"):
            continue
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            problem = (
                "unsafe path in the zip (absolute or with '..', it points outside the archive); "
                "not read. Re-create the zip from the class's folder"
            )
            files.append(_File(name, problem=problem, unsafe=True))
            continue
        reason = _ignore_reason(parts)
        if reason:
            ignored.setdefault(*reason)
            continue
        try:
            time = datetime.datetime(*info.date_time, tzinfo=datetime.UTC)
        except ValueError:
            time = None
        entry = _File(
            "/".join(parts),
            info.file_size,
            lambda i=info: _zip_member(archive, i),
            time=time,
            notes=notes,
        )
        if stat.S_ISLNK(info.external_attr >> 16):
            entry.problem = LINK.format(kind="symbolic link", detail="a link entry in the zip")
        files.append(entry)
    return files, ignored


# ------------------------------------------------------------------ who and which notebook


@dataclass
class _Identity:
    """Whose a file is: the raw student id, the submission it belongs to (files of one folder
    or one LMS entry share `key`), the file's own name, and what the LMS says about it."""

    student: str
    key: str
    name: str
    note: str = ""
    lms: str = ""
    display: str = ""
    late: bool = False
    time: datetime.datetime | None = None
    upload_name: str = ""  # the name the LMS's bulk feedback upload expects for this student


def _simple(name):
    """A name reduced to lower-case letters and digits, to compare 'Forward-Copy1' with
    'forward'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _exchange(part, assignment):
    """(student, assignment, time) if `part` is an nbgrader exchange folder name, else None."""
    pieces = part.rsplit("+", 3)
    if len(pieces) != 4 or not pieces[0]:
        return None
    from nbgrader.utils import parse_utc

    try:
        time = parse_utc(pieces[2])
    except (ValueError, OverflowError):
        return None
    return pieces[0], pieces[1], time


def _identify(rel, assignment, others, pattern, times):
    """The _Identity of the file at `rel` (None for a non-notebook outside an LMS entry);
    raises _Skip when it cannot be told.

    others: the course's other assignments; pattern: a compiled regex or None; times:
    {folder: time} read from nbgrader's timestamp.txt files in SOURCE."""
    path = PurePosixPath(rel)
    parts = path.parts
    notebook = path.suffix.lower() == ".ipynb"
    if pattern is not None:
        if not notebook:
            return None
        match = pattern.search(rel)
        if not match or not match.group("student"):
            raise _Skip(
                f"the path does not match the pattern {pattern.pattern!r}, so its student is "
                "unknown; fix the pattern or move the file"
            )
        return _Identity(match.group("student"), rel[: match.end()], path.name, lms="pattern")

    # The LMS exports first: the LMS names the outermost folder (Moodle) or prefixes the file
    # name (Canvas); whatever name the student gave a file comes after that and is never read.
    for depth, part in enumerate(parts):
        match = MOODLE.match(part)
        if match:
            name, number = match.group("name").strip(), match.group("id")
            folder = depth < len(parts) - 1
            key = (
                "/".join(parts[: depth + 1])
                if folder
                else "/".join(parts[:depth]) + "|" + match.group(0)
            )
            own = "/".join(parts[depth + 1 :]) if folder else part[match.end() :]
            upload = match.group(0) + "/" if folder else match.group(0)
            display = "" if name == "Participant" else name  # blind marking hides names
            return _Identity(
                number,
                key,
                PurePosixPath(own).name or path.name,
                lms="moodle",
                display=display,
                upload_name=upload,
            )
    match = CANVAS.match(path.name)
    if match:
        late = bool(match.group("late"))
        key = f"{path.parent}|canvas|{match.group('id')}"
        return _Identity(
            match.group("id"),
            key,
            match.group("original"),
            "Canvas marks it late" if late else "",
            lms="canvas",
            display=match.group("name"),
            late=late,
            upload_name=path.name[: match.start("original")],
        )
    for depth, part in enumerate(parts[:-1]):
        found = _exchange(part, assignment)
        if found:
            student, other, time = found
            if other != assignment:
                raise _Skip(
                    f"it is in an nbgrader exchange folder of assignment {other!r}, not "
                    f"{assignment!r}; collect it with that assignment"
                )
            return _Identity(
                student, "/".join(parts[: depth + 1]), path.name, lms="exchange", time=time
            )
    if not notebook:
        return None

    # nbgrader's layout <student>/<assignment>/<notebook>: several notebooks in one such folder
    # are one student's candidates (ambiguous), never several students.
    if len(parts) >= 3 and parts[-2] == assignment:
        return _Identity(
            parts[-3], str(path.parent), path.name, lms="nbgrader", time=times.get(str(path.parent))
        )
    if len(parts) >= 3 and parts[-2] in others:
        raise _Skip(
            f"it is in a folder of assignment {parts[-2]!r}, not {assignment!r}; "
            f"collect it with that assignment (or move it to <student>/{assignment}/)"
        )

    if _simple(path.stem).startswith(_simple(assignment)):
        if len(parts) >= 2 and parts[-2] not in others and parts[-2] != "submitted":
            return _Identity(parts[-2], str(path.parent), path.name, lms="folder")
        raise _Skip(
            f"cannot tell whose notebook this is: it is named after the assignment, not a student. "
            f"Put it in <student>/{assignment}/, or name it <student>.ipynb, and collect again"
        )
    return _Identity(path.stem, rel, path.name, lms="flat")


def safe_student_id(raw):
    """(a student id that is a safe folder name, a note if it differs from `raw`); raises _Skip
    when nothing usable is left. Letters (any script), digits, '.', '-' and '_' are kept; other
    characters become '_'; leading dots and dashes go (hidden files, command-line options)."""
    student = re.sub(r"[^\w.-]+", "_", raw.strip())
    student = re.sub(r"_{2,}", "_", student).strip("._-")
    if not student or not re.search(r"[^\W_]", student):
        raise _Skip(
            f"the student id {raw!r} has no letters or digits to name a folder with; "
            "rename the file or folder to the student's id, or pass a pattern"
        )
    if len(student) > MAX_ID_LENGTH:
        raise _Skip(
            f"the student id {raw!r} is longer than {MAX_ID_LENGTH} characters; "
            "rename the file or folder to the student's id, or pass a pattern"
        )
    note = "" if student == raw else f"student id {raw!r} written as {student!r}"
    return student, note


def _newest_exchange(files):
    """For nbgrader exchange folders (several per student): {rel: skip reason} for every file
    not in the newest folder. files: {rel: _Identity}, all of one student."""
    if any(identity.lms != "exchange" for identity in files.values()):
        return {}
    newest = max((identity.time, identity.key) for identity in files.values())[1]
    return {
        rel: f"superseded: {newest} is this student's newest submission, and the one taken"
        for rel, identity in files.items()
        if identity.key != newest
    }


def _select(student, files, expected):
    """Which of one student's files to take: ({file: (notebook name, note)}, {file: skip reason}).

    files: {rel: _Identity}, all of one student; expected: the assignment's notebook names."""
    keys = {identity.key for identity in files.values()}
    if len(keys) > 1:  # two submissions (folders, LMS entries, flat files) for one student
        return {}, {
            rel: f"duplicate: {_others(rel, files)} also map{'s' if len(files) == 2 else ''} to "
            f"student {student!r}. Keep one submission per student (remove the others from "
            "SOURCE) and collect again; if they are different students, pass a pattern that "
            "reads a unique id"
            for rel in files
        }
    take, skip = {}, {}
    for notebook in expected:
        exact = [rel for rel, identity in files.items() if identity.name == notebook]
        if len(exact) == 1:
            take[exact[0]] = (notebook, "")
    rest = [rel for rel in files if rel not in take]
    if not take and len(expected) == 1 and len(rest) == 1:  # the student's only notebook
        rel = rest.pop()
        take[rel] = (expected[0], f"taken as {expected[0]} (submitted as {files[rel].name!r})")
    chosen = ", ".join(sorted(take))
    for rel in rest:
        if take:
            skip[rel] = (
                f"extra notebook: {student!r} also submitted {chosen}, which is the one taken. "
                f"If this one is the one to grade, remove {chosen} from SOURCE (or put this one "
                "in its place) and collect again"
            )
        else:
            skip[rel] = (
                f"ambiguous: {student!r} has several notebooks ({', '.join(sorted(files))}) and "
                f"not exactly one is named {' or '.join(expected)}. Keep only the one to grade "
                f"(or name it {expected[0]}) and collect again; if they are different students' "
                "notebooks, pass a pattern that reads the ids"
            )
    return take, skip


def _others(rel, files):
    return ", ".join(sorted(other for other in files if other != rel))


# ------------------------------------------------------------------ reading one notebook


def load_notebook(data):
    """(an nbformat 4 NotebookNode, [notes]) from a file's bytes; raises _Skip with the reason
    when the bytes are not a notebook nbformat can read, validate and write back."""
    notes = []
    fix = (
        "ask the student to download the notebook again from Jupyter (File > Download) "
        "and resubmit it"
    )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _Skip(
            f"not a notebook: not UTF-8 text (invalid byte at offset {error.start}); {fix}"
        ) from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Skip(
            f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}; "
            f"the file is damaged or not a notebook: {fix}"
        ) from None
    except RecursionError:
        raise _Skip(f"not a notebook: its JSON is nested too deeply to read; {fix}") from None
    if not isinstance(raw, dict) or "nbformat" not in raw:
        raise _Skip(f"JSON but not a Jupyter notebook (no 'nbformat' field); {fix}")
    version = raw["nbformat"]
    try:
        notebook = nbformat.from_dict(raw)
        if version != 4:
            notebook = nbformat.convert(notebook, 4)
            notes.append(f"converted from nbformat {version} to 4")
        with warnings.catch_warnings():  # normalize() warns about the cell ids it adds
            warnings.simplefilter("ignore")
            notebook = nbformat.from_dict(nbformat.validator.normalize(notebook)[1])
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        where = "/".join(map(str, error.absolute_path)) or "top level"
        message = error.message if len(error.message) <= 120 else error.message[:117] + "..."
        raise _Skip(f"not a valid nbformat 4 notebook: at {where}: {message}; {fix}") from None
    except (
        Exception
    ) as error:  # e.g. a version nbformat does not know, or cells that are not a list
        raise _Skip(
            f"not a readable notebook (nbformat {version}): {type(error).__name__}: {error}; {fix}"
        ) from None
    if len(data) > MAX_NOTEBOOK_BYTES:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        notes.append(
            f"outputs cleared: the file is {len(data) / 2**20:.1f} MB, over the "
            f"{MAX_NOTEBOOK_BYTES / 2**20:g} MB limit (grading recomputes them)"
        )
    try:
        nbformat.writes(notebook).encode("utf-8")
    except (
        UnicodeEncodeError
    ) as error:  # JSON may spell a lone surrogate (\ud800), which no file can hold
        bad = error.object[error.start : error.end].encode("unicode_escape").decode()
        raise _Skip(
            f"not a notebook: it holds text that is not valid Unicode ({bad}, a lone surrogate); "
            f"{fix}"
        ) from None
    return notebook, notes


# ------------------------------------------------------------------ the command


def collect(course, assignment, source, pattern=None, progress=True):
    """Import the submissions of `assignment` from `source` into `course`'s submitted/ folder,
    and write grading/<assignment>-collect.csv.

    course: a Course (or its folder); source: a folder or a .zip file; pattern: a regex with a
    named group `student`, searched in each path relative to source, instead of detecting the
    layout; progress: show a tqdm bar. Returns a CollectReport. Raises InstructorError (before
    writing anything) for an unknown assignment, a missing or notebook-less source, a bad
    pattern, or a source that overlaps the course's own submitted/ folder.
    """
    course = course if isinstance(course, Course) else Course(course)
    course.require_assignment(assignment)
    expected = [p.name for p in course.source_notebooks(assignment)]
    if not expected:
        raise InstructorError(
            f"Assignment {assignment!r} has no notebook in {course.folder('source', assignment)}."
        )
    if pattern is not None:
        try:
            pattern = re.compile(pattern)
        except re.error as error:
            raise InstructorError(
                f"The pattern {pattern!r} is not a valid regular expression: {error}."
            ) from None
        if "student" not in pattern.groupindex:
            raise InstructorError(
                f"The pattern {pattern.pattern!r} needs a named group for the student id, "
                r"e.g. '(?P<student>[^/_]+)_'."
            )
    source = Path(source).resolve()
    files, ignored = _open_source(course, source)
    times = _timestamps(files)

    report = CollectReport(assignment, source)
    entries = {}  # rel -> Entry, for the notebooks
    identities = {}  # rel -> _Identity
    others = set(course.assignments()) - {assignment}
    by_student = defaultdict(
        dict
    )  # casefolded id -> {rel: _Identity}; 'Alice' and 'alice' clash on macOS
    extras = defaultdict(list)  # casefolded id -> [non-notebook files of the student's LMS entry]
    notes = defaultdict(list)
    unknown = []  # Submitters without an id
    for f in files:
        if f.is_notebook or f.unsafe:
            entries[f.rel] = entry = Entry(f.rel, SKIPPED)
        else:
            entry = None
        try:
            if f.unsafe:  # never even guess a student from an entry that points outside the zip
                raise _Skip(f.problem)
            identity = _identify(f.rel, assignment, others, pattern, times)
            if identity is None:  # a stray file outside any LMS entry
                ignored.setdefault(f.rel, NOT_NOTEBOOK)
                continue
            student, note = safe_student_id(identity.student)
        except _Skip as reason:
            if entry is None:
                ignored.setdefault(f.rel, f"{NOT_NOTEBOOK}; {reason}")
            else:
                entry.note = str(reason)
                unknown.append(
                    Submitter("", file=f.rel, reason=str(reason), name=PurePosixPath(f.rel).name)
                )
            continue
        identities[f.rel] = identity
        if entry is None:
            ignored.setdefault(f.rel, NOT_NOTEBOOK)
            extras[student.casefold()].append((student, f))
            continue
        entry.student = student
        notes[f.rel] += [n for n in (note, identity.note, *f.notes) if n]
        by_student[student.casefold()][f.rel] = identity

    chosen = {}  # rel -> notebook name
    for group in by_student.values():
        student = entries[next(iter(group))].student
        superseded = _newest_exchange(group)
        for rel, reason in superseded.items():
            entries[rel].note = reason
        take, skip = _select(
            student, {r: i for r, i in group.items() if r not in superseded}, expected
        )
        for rel, reason in skip.items():
            entries[rel].note = reason
        for rel, (notebook, note) in take.items():
            chosen[rel] = notebook
            if note:
                notes[rel].insert(0, note)

    by_rel = {f.rel: f for f in files}
    written = defaultdict(dict)  # student -> {notebook name: (NotebookNode, _File, _Identity)}
    shas = {}
    for f in tqdm(
        [f for f in files if f.rel in chosen],
        desc=f"reading {assignment}",
        unit="notebook",
        disable=not progress,
    ):
        entry = entries[f.rel]
        try:
            data = f.read()
            shas[f.rel] = hashlib.sha256(data).hexdigest()
            notebook, more = load_notebook(data)
        except _Skip as reason:
            entry.note = str(reason)
            continue
        except Exception as error:  # anything else about one file costs that file alone
            entry.note = f"could not be collected: {type(error).__name__}: {error}"
            continue
        notes[f.rel] += more
        written[entry.student][chosen[f.rel]] = (notebook, f, identities[f.rel])

    rows = {}
    for key, group in by_student.items():
        student = entries[next(iter(group))].student
        rows[key] = _submitter(
            course,
            assignment,
            student,
            group,
            entries,
            written.get(student, {}),
            expected,
            notes,
            shas,
            by_rel,
        )
    for key, found in extras.items():
        if key not in rows:  # an LMS entry without any notebook: a PDF, a zip, ...
            student, first = found[0]
            identity = identities[first.rel]
            rows[key] = Submitter(
                student,
                identity.display,
                identity.lms,
                student,
                SKIPPED,
                "",
                _time(identity, first),
                "yes" if identity.late else "",
                "",
                first.rel,
                identity.upload_name,
                _no_notebook([f for _, f in found]),
            )
    report.entries = [entries[f.rel] for f in files if f.rel in entries]
    report.entries += [Entry(rel, IGNORED, reason) for rel, reason in sorted(ignored.items())]
    report.submitters = sorted(rows.values(), key=lambda s: s.student.casefold()) + unknown
    assert (
        len(report.found)
        == sum(f.is_notebook or f.unsafe for f in files)
        == len(report.taken) + len(report.skipped)
    )
    report.table = save_collect_table(course, assignment, report.submitters)
    return report


def _submitter(
    course, assignment, student, group, entries, notebooks, expected, notes, shas, by_rel
):
    """Write one student's chosen notebooks (all or none) and return their Submitter."""
    first = by_rel[sorted(group)[0]]
    identity = group[first.rel]
    row = Submitter(
        student,
        identity.display,
        identity.lms,
        student if identity.lms in ("canvas", "moodle") else "",
        file=first.rel,
        upload_name=identity.upload_name,
        late="yes" if identity.late else "",
    )
    row.sha256 = ", ".join(shas[rel] for rel in sorted(group) if rel in shas)
    if set(notebooks) != set(expected):
        reasons = [entries[rel].note for rel in sorted(group) if entries[rel].note]
        if notebooks and not reasons:
            reasons = [f"the submission lacks {', '.join(sorted(set(expected) - set(notebooks)))}"]
        row.reason = "; ".join(dict.fromkeys(reasons)) or "no notebook taken"
        for (
            _,
            f,
            _,
        ) in notebooks.values():  # some of several notebooks were readable: none is written
            entries[f.rel].note = f"not taken: {row.reason}"
        return row
    files = sorted((f for _, f, _ in notebooks.values()), key=lambda f: f.rel)
    identity = group[files[0].rel]
    row.upload_name = identity.upload_name
    time = _time(identity, files[0])
    row.submitted = time.strftime(TIME_FORMAT) if time else ""
    row.file = ", ".join(f.rel for f in files)
    row.sha256 = ", ".join(shas[f.rel] for f in files)
    try:
        row.change = _replace_submission(course, student, assignment, notebooks, row.submitted)
    except Exception as error:  # e.g. a full disk: this student alone
        row.reason = f"could not be written: {type(error).__name__}: {error}"
        for f in files:
            entries[f.rel].note = row.reason
        return row
    row.outcome = TAKEN
    row.reason = "; ".join(dict.fromkeys(n for f in files for n in notes[f.rel]))
    for name, (_, f, _) in notebooks.items():
        entries[f.rel].outcome = TAKEN
        entries[f.rel].destination = course.folder("submitted", student, assignment, name)
        entries[f.rel].note = "; ".join(
            notes[f.rel] + ([f"{row.change} submission"] if row.change != NEW else [])
        )
    return row


def _time(identity, file):
    """The LMS's submission time: nbgrader's (exchange, timestamp.txt), else for an LMS export
    the time the LMS stamped on the file; None for other layouts."""
    return identity.time or (file.time if identity.lms in ("canvas", "moodle") else None)


def _no_notebook(files):
    names = ", ".join(PurePosixPath(f.rel).name for f in files)
    problems = [f"{f.rel}: {f.problem}" for f in files if f.problem]
    if problems:
        return "not collected: " + "; ".join(problems)
    if any(f.rel.lower().endswith((".zip", ".tar", ".gz", ".7z", ".rar")) for f in files):
        return (
            f"not collected: an archive ({names}) instead of the notebook; unpack it and collect "
            "its notebook with --pattern, or ask the student to submit the .ipynb itself"
        )
    return (
        f"not collected: no notebook in the submission, only {names}; "
        "ask the student for the .ipynb"
    )


def _replace_submission(course, student, assignment, notebooks, submitted):
    """Write the student's notebooks (and timestamp.txt) to a new folder, then swap it in for
    the earlier one; returns new, changed or unchanged."""
    folder = course.folder("submitted", student, assignment)
    before = fingerprint(folder)
    partial = folder.with_name(f".{assignment}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, (notebook, _, _) in notebooks.items():
        nbformat.write(notebook, str(partial / name))
    if submitted:
        (partial / "timestamp.txt").write_text(submitted + "\n")
    after = fingerprint(partial)
    if before == after:
        shutil.rmtree(partial)
        return UNCHANGED
    old = folder.with_name(f".{assignment}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return NEW if before is None else CHANGED


def _timestamps(files):
    """{folder: time} of nbgrader's timestamp.txt files in SOURCE."""
    from nbgrader.utils import parse_utc

    found = {}
    for f in files:
        if PurePosixPath(f.rel).name == "timestamp.txt" and not f.problem and f.size < 1000:
            try:
                found[str(PurePosixPath(f.rel).parent)] = parse_utc(f.read().decode().strip())
            except Exception:  # an unreadable time is no time: the file's own stamp is used
                pass
    return found


# ------------------------------------------------------------------ the table on disk


def collect_table_path(course, assignment):
    return course.folder("grading", f"{assignment}-collect.csv")


def load_collect_table(course, assignment):
    """[Submitter] of grading/<assignment>-collect.csv; [] if collect has not run."""
    path = collect_table_path(course, assignment)
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    if rows and set(COLLECT_COLUMNS) - set(rows[0]):
        raise InstructorError(
            f"{path} is not collect's table (columns {', '.join(COLLECT_COLUMNS)}). "
            "Collect again to rewrite it."
        )
    return [Submitter(**{column: row[column] for column in COLLECT_COLUMNS}) for row in rows]


def save_collect_table(course, assignment, submitters):
    """Write the table: this collect's submitters, then those of earlier collects who are
    not in this export but whose submission is still in submitted/. Returns its path."""
    path = collect_table_path(course, assignment)
    here = {s.student.casefold() for s in submitters if s.student}
    kept = [
        s
        for s in load_collect_table(course, assignment)
        if s.student
        and s.student.casefold() not in here
        and course.folder("submitted", s.student, assignment).is_dir()
    ]
    for row in kept:
        row.change = "not in this export"
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLLECT_COLUMNS)
    for row in sorted(
        submitters + kept, key=lambda s: (s.student == "", s.student.casefold(), s.file)
    ):
        writer.writerow(row.row())
    write_atomically(path, stream.getvalue())
    return path


def display_names(course, assignment):
    """{student: (first name, last name)} from collect's table, for nbgrader's student records."""
    names = {}
    for row in load_collect_table(course, assignment):
        if row.student and row.name:
            first, _, last = row.name.rpartition(" ")
            names[row.student] = (first or None, last)
    return names


# ------------------------------------------------------------------ SOURCE as a whole


def _open_source(course, source):
    """([_File], {ignored path: reason}) of a folder or zip; raises InstructorError when it
    cannot be used at all."""
    if not source.exists():
        raise InstructorError(
            f"{source} does not exist. Pass the folder or .zip file of the class's submissions "
            "(e.g. the download from your LMS)."
        )
    submitted = course.folder("submitted").resolve()
    if source == submitted or submitted.is_relative_to(source) or source.is_relative_to(submitted):
        raise InstructorError(
            f"{source} overlaps the course's own {submitted}, where collect writes. "
            "Pass the class's download (a folder or .zip outside the course's submitted/ folder)."
        )
    if source.is_dir():
        files, ignored = _list_folder(source)
    elif zipfile.is_zipfile(source):
        files, ignored = _list_zip(source)
    else:
        raise InstructorError(
            f"{source} is neither a folder nor a zip file. "
            "Pass the folder or .zip of the submissions."
        )
    if not any(f.is_notebook or f.unsafe for f in files):
        others = [f.rel for f in files] + list(ignored)
        listed = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        more = f"; only {len(others)} other files ({listed})" if others else ""
        raise InstructorError(
            f"No notebook (.ipynb) in {source}{more}. "
            "Check that this is the class's submissions for the assignment."
        )
    return files, ignored


def format_table(report):
    """A plain aligned text table (student, file, outcome, note) of `report`, notebooks first in
    path order, then ignored files, and summary lines: notebooks found, taken and skipped;
    submitters collected (new, changed, unchanged) and not collected; where the table is."""
    rows = [(e.student or "-", e.file, e.outcome, e.note) for e in report.found + report.ignored]
    lines = [
        text_table(("student", "file", "outcome", "note"), rows),
        f"{len(report.found)} notebooks found: {len(report.taken)} taken, {len(report.skipped)} "
        "skipped",
    ]
    if report.ignored:
        lines.append(
            f"{len(report.ignored)} other file{'s' if len(report.ignored) > 1 else ''} ignored "
            "(not notebooks, hidden, or macOS metadata)"
        )
    taken = [s for s in report.submitters if s.outcome == TAKEN]
    changes = ", ".join(
        f"{sum(s.change == c for s in taken)} {c}" for c in (NEW, CHANGED, UNCHANGED)
    )
    lines.append(
        f"{len(report.submitters)} submitters: {len(taken)} collected ({changes}), "
        f"{len(report.not_collected)} not collected"
    )
    if report.table:
        lines.append(f"table of every submitter: {report.table}")
    return "\n".join(lines)
