"""Import a class's submissions into nbgrader's layout: ``submitted/<student>/<assignment>/<notebook>.ipynb``.

    report = collect(course, "forward", "downloads/forward.zip")
    print(format_table(report))

SOURCE is a folder or a .zip file, walked recursively (nested folders in a zip
work). Each notebook's student comes from the first of these that fits:

1. ``pattern``, if given: a regex with a named group ``student``, searched in
   the path relative to SOURCE (for LMSs not listed here);
2. Moodle: ``<Full Name>_<digits>_assignsubmission_file_/<file>.ipynb`` (or the
   same prefix on the file name). The id is the full name, made folder-safe
   (``Jane Doe`` -> ``Jane_Doe``): Moodle's digits are a participant number that
   differs from one assignment to the next, so it would split a student's
   grades; with blind marking (``Participant_<digits>``) it is
   ``participant_<digits>``. Two students with the same name are reported as
   duplicates; pass ``pattern=r"_(?P<student>\\d+)_assignsubmission"`` then;
3. Canvas: ``<login>_<digits>_<digits>_<original name>.ipynb``, or with
   ``_LATE_`` (any case) after the login; the id is the login;
4. nbgrader's layout ``.../<student>/<assignment>/<notebook>.ipynb`` (SOURCE
   may be a ``submitted/`` folder or contain one); a file in a folder named
   after *another* assignment is skipped;
5. a flat folder (at any depth) of ``<student>.ipynb``.

What is taken and what is not (every .ipynb appears in the report once, as
*taken* or *skipped* with a reason; other files are *ignored*, not counted):

- student ids are made safe folder names (see safe_student_id) and compared
  ignoring case ('Alice' and 'alice' are one folder on macOS and Windows);
- one submission per student: when two files (two folders, two LMS entries)
  map to one student, all of them are skipped, each naming the others;
- a flat file named after the assignment (``forward.ipynb``) is skipped: whose?
- a student's only notebook is taken under the assignment's notebook name
  (``forward (1).ipynb`` -> ``forward.ipynb``); if the student sent several and
  exactly one has the right name, that one is taken and the rest skipped;
  otherwise (several candidates) all are skipped;
- nbformat 3 (or older) is converted to 4; invalid JSON or notebook
  structure is skipped with the parse error and its position;
- a file over MAX_NOTEBOOK_BYTES is taken with its outputs cleared (grading
  recomputes them);
- zip entries with absolute paths or ``..`` are not read; ``__MACOSX/``,
  hidden files and folders (``.ipynb_checkpoints``) and non-notebook files are
  listed as ignored;
- an earlier submission of the same student for this assignment is replaced
  (its folder is emptied first, so no stale file such as a timestamp stays).

SOURCE missing, holding no notebook, overlapping the course's own
``submitted/`` folder, or an unknown assignment raise InstructorError before
anything is written.
"""

import json
import re
import shutil
import warnings
import zipfile
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat
from tqdm import tqdm

from .course import Course, InstructorError
from .table import text_table

MAX_NOTEBOOK_BYTES = 5 * 1024 * 1024  # above this a notebook is taken with its outputs cleared
MAX_FILE_BYTES = 200 * 1024 * 1024  # above this a file is not read at all (zip bombs, stray data)
MAX_ID_LENGTH = 64

TAKEN, SKIPPED, IGNORED = "taken", "skipped", "ignored"

CANVAS = re.compile(r"^(?P<student>.+?)_(?P<late>late_)?\d+_\d+_(?P<name>.+)$", re.IGNORECASE)
MOODLE = re.compile(r"(?:^|/)(?P<name>[^/]+?)_(?P<number>\d+)_assignsubmission_file_")


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
class CollectReport:
    """What collect did. `entries` has one Entry per notebook found and per ignored file."""

    assignment: str
    source: Path
    entries: list = field(default_factory=list)

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
    def students(self):
        """Ids of the students whose notebooks were taken, sorted."""
        return sorted({e.student for e in self.taken})

    def entry(self, file):
        """The Entry of `file` (its path relative to SOURCE)."""
        return next(e for e in self.entries if e.file == file)


class _Skip(Exception):
    """Raised by the helpers below: the file is skipped, the message is the reason."""


# ------------------------------------------------------------------ reading SOURCE


@dataclass
class _File:
    """A notebook in SOURCE: its relative path, its size, and `open()` giving a binary stream of
    its bytes; `problem` says why it must not be read at all."""

    rel: str
    size: int = 0
    open: object = None
    problem: str | None = None

    def read(self):
        """The file's bytes; raises _Skip if it cannot or must not be read."""
        if self.problem:
            raise _Skip(self.problem)
        limit = f"{MAX_FILE_BYTES // 2**20} MB"
        if self.size > MAX_FILE_BYTES:
            raise _Skip(f"{self.size / 2**20:.0f} MB is too large to be a notebook (limit {limit}); "
                        "ask the student for the notebook itself")
        try:
            with self.open() as stream:
                data = stream.read(MAX_FILE_BYTES + 1)  # a zip header's size can lie
        except (OSError, RuntimeError, zipfile.BadZipFile) as error:  # e.g. an encrypted or damaged zip entry
            raise _Skip(f"cannot be read: {error}; unpack SOURCE yourself and collect the folder, "
                        "or ask for the file again")
        if len(data) > MAX_FILE_BYTES:
            raise _Skip(f"larger than {limit}: too large to be a notebook; ask the student for the notebook itself")
        return data


def _ignore_reason(parts):
    """(the path to list as ignored, why) for a path that is not a submission, else None."""
    for depth, part in enumerate(parts):
        if part == "__MACOSX":
            return "/".join(parts[:depth + 1]), "macOS metadata, not a submission"
        if part.startswith("."):
            return "/".join(parts[:depth + 1]), "hidden file or folder (e.g. an editor or Jupyter checkpoint copy)"
    if not parts[-1].lower().endswith(".ipynb"):
        return "/".join(parts), "not a notebook (.ipynb): only notebooks are collected"
    return None


@contextmanager
def _zip_member(archive, info):
    """A binary stream of one zip entry (the archive is opened for this read only)."""
    with zipfile.ZipFile(archive) as zf, zf.open(info) as stream:
        yield stream


def _list_folder(root):
    """([_File] of the notebooks under `root`, {path: ignore reason}), walking it recursively."""
    notebooks, ignored = [], {}
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            continue
        parts = path.relative_to(root).parts
        reason = _ignore_reason(parts)
        if reason:
            ignored.setdefault(*reason)
        else:
            notebooks.append(_File("/".join(parts), path.stat().st_size, lambda p=path: p.open("rb")))
    return notebooks, ignored


def _list_zip(archive):
    """Like _list_folder, for the entries of a zip file; entries that would leave the archive
    (absolute paths, '..') are reported, never read."""
    notebooks, ignored = [], {}
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise InstructorError(f"{archive} is not a readable zip file ({error}). "
                              "Download it again, or unpack it and pass the folder.")
    for info in sorted(infos, key=lambda i: i.filename):
        name = info.filename.replace("\\", "/")  # zips made on Windows may use backslashes
        if name.endswith("/"):
            continue
        parts = tuple(p for p in name.split("/") if p not in ("", "."))
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in parts:
            problem = ("unsafe path in the zip (absolute or with '..', it points outside the archive); not read. "
                       "Re-create the zip from the class's folder")
            if name.lower().endswith(".ipynb"):
                notebooks.append(_File(name, problem=problem))
            else:
                ignored[name] = problem
            continue
        reason = _ignore_reason(parts)
        if reason:
            ignored.setdefault(*reason)
        else:
            notebooks.append(_File("/".join(parts), info.file_size, lambda i=info: _zip_member(archive, i)))
    return notebooks, ignored


# ------------------------------------------------------------------ who and which notebook


@dataclass
class _Identity:
    """Whose a file is: the raw student id, the submission it belongs to (files of one folder
    or one LMS entry share `key`), the file's own name, and a note (e.g. late)."""

    student: str
    key: str
    name: str
    note: str = ""


def _simple(name):
    """A name reduced to lower-case letters and digits, to compare 'Forward-Copy1' with 'forward'."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _identify(rel, assignment, others, pattern):
    """The _Identity of the notebook at `rel`; raises _Skip when it cannot be told.

    others: the course's other assignments; pattern: a compiled regex or None."""
    path = PurePosixPath(rel)
    parts = path.parts
    if pattern is not None:
        match = pattern.search(rel)
        if not match or not match.group("student"):
            raise _Skip(f"the path does not match the pattern {pattern.pattern!r}, so its student is unknown; "
                        "fix the pattern or move the file")
        return _Identity(match.group("student"), rel[:match.end()], path.name)

    # The LMS exports first: their names are unambiguous, wherever the files sit.
    matches = list(MOODLE.finditer(rel))
    if matches:
        match = matches[-1]
        name, number = match.group("name").strip(), match.group("number")
        student = f"participant_{number}" if name == "Participant" else name  # blind marking hides names
        rest = rel[match.end():].lstrip("/")
        return _Identity(student, rel[:match.end()], PurePosixPath(rest).name or path.name)

    match = CANVAS.match(path.name)
    if match:
        late = "Canvas marks it late" if match.group("late") else ""
        key = str(path.parent / path.name[:match.start("name")])
        return _Identity(match.group("student"), key, match.group("name"), late)

    # nbgrader's layout <student>/<assignment>/<notebook>: several notebooks in one such folder
    # are one student's candidates (ambiguous), never several students.
    if len(parts) >= 3 and parts[-2] == assignment:
        return _Identity(parts[-3], str(path.parent), path.name)
    if len(parts) >= 3 and parts[-2] in others:
        raise _Skip(f"it is in a folder of assignment {parts[-2]!r}, not {assignment!r}; "
                    f"collect it with that assignment (or move it to <student>/{assignment}/)")

    if _simple(path.stem).startswith(_simple(assignment)):
        raise _Skip(f"cannot tell whose notebook this is: it is named after the assignment, not a student. "
                    f"Put it in <student>/{assignment}/, or name it <student>.ipynb, and collect again")
    return _Identity(path.stem, rel, path.name)


def safe_student_id(raw):
    """(a student id that is a safe folder name, a note if it differs from `raw`); raises _Skip
    when nothing usable is left. Letters (any script), digits, '.', '-' and '_' are kept; other
    characters become '_'; leading dots and dashes go (hidden files, command-line options)."""
    student = re.sub(r"[^\w.-]+", "_", raw.strip())
    student = re.sub(r"_{2,}", "_", student).strip("._-")
    if not student or not re.search(r"[^\W_]", student):
        raise _Skip(f"the student id {raw!r} has no letters or digits to name a folder with; "
                    "rename the file or folder to the student's id, or pass a pattern")
    if len(student) > MAX_ID_LENGTH:
        raise _Skip(f"the student id {raw!r} is longer than {MAX_ID_LENGTH} characters; "
                    "rename the file or folder to the student's id, or pass a pattern")
    note = "" if student == raw else f"student id {raw!r} written as {student!r}"
    return student, note


def _select(student, files, expected):
    """Which of one student's files to take: ({file: (notebook name, note)}, {file: skip reason}).

    files: {rel: _Identity}, all of one student; expected: the assignment's notebook names."""
    keys = {identity.key for identity in files.values()}
    if len(keys) > 1:  # two submissions (folders, LMS entries, flat files) for one student
        return {}, {rel: f"duplicate: {_others(rel, files)} also map{'s' if len(files) == 2 else ''} to "
                         f"student {student!r}. Keep one submission per student (remove the others from "
                         "SOURCE) and collect again; if they are different students, pass a pattern that "
                         "reads a unique id"
                    for rel in files}
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
            skip[rel] = (f"extra notebook: {student!r} also submitted {chosen}, which is the one taken. "
                         f"If this one is the one to grade, remove {chosen} from SOURCE (or put this one "
                         "in its place) and collect again")
        else:
            skip[rel] = (f"ambiguous: {student!r} has several notebooks ({', '.join(sorted(files))}) and "
                         f"not exactly one is named {' or '.join(expected)}. Keep only the one to grade "
                         f"(or name it {expected[0]}) and collect again; if they are different students' "
                         "notebooks, pass a pattern that reads the ids")
    return take, skip


def _others(rel, files):
    return ", ".join(sorted(other for other in files if other != rel))


# ------------------------------------------------------------------ reading one notebook


def load_notebook(data):
    """(an nbformat 4 NotebookNode, [notes]) from a file's bytes; raises _Skip with the reason
    when the bytes are not a notebook nbformat can read and validate."""
    notes = []
    fix = "ask the student to download the notebook again from Jupyter (File > Download) and resubmit it"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _Skip(f"not a notebook: not UTF-8 text (invalid byte at offset {error.start}); {fix}")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise _Skip(f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}; "
                    f"the file is damaged or not a notebook: {fix}")
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
        raise _Skip(f"not a valid nbformat 4 notebook: at {where}: {message}; {fix}")
    except Exception as error:  # e.g. a version nbformat does not know, or cells that are not a list
        raise _Skip(f"not a readable notebook (nbformat {version}): {type(error).__name__}: {error}; {fix}")
    if len(data) > MAX_NOTEBOOK_BYTES:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        notes.append(f"outputs cleared: the file is {len(data) / 2**20:.1f} MB, over the "
                     f"{MAX_NOTEBOOK_BYTES / 2**20:g} MB limit (grading recomputes them)")
    return notebook, notes


# ------------------------------------------------------------------ the command


def collect(course, assignment, source, pattern=None, progress=True):
    """Import the submissions of `assignment` from `source` into `course`'s submitted/ folder.

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
        raise InstructorError(f"Assignment {assignment!r} has no notebook in {course.folder('source', assignment)}.")
    if pattern is not None:
        try:
            pattern = re.compile(pattern)
        except re.error as error:
            raise InstructorError(f"The pattern {pattern!r} is not a valid regular expression: {error}.")
        if "student" not in pattern.groupindex:
            raise InstructorError(f"The pattern {pattern.pattern!r} needs a named group for the student id, "
                                  r"e.g. '(?P<student>[^/_]+)_'.")
    source = Path(source).resolve()
    files, ignored = _open_source(course, source)

    report = CollectReport(assignment, source)
    entries = {}  # rel -> Entry, for the notebooks
    others = set(course.assignments()) - {assignment}
    by_student = defaultdict(dict)  # casefolded id -> {rel: _Identity}; 'Alice' and 'alice' clash on macOS
    notes = defaultdict(list)
    for f in files:
        entries[f.rel] = entry = Entry(f.rel, SKIPPED)
        try:
            if f.problem:  # never even guess a student from an entry that points outside the zip
                raise _Skip(f.problem)
            identity = _identify(f.rel, assignment, others, pattern)
            entry.student, note = safe_student_id(identity.student)
        except _Skip as reason:
            entry.note = str(reason)
            continue
        notes[f.rel] += [n for n in (note, identity.note) if n]
        by_student[entry.student.casefold()][f.rel] = identity

    chosen = {}  # rel -> notebook name
    for group in by_student.values():
        student = entries[next(iter(group))].student
        take, skip = _select(student, group, expected)
        for rel, reason in skip.items():
            entries[rel].note = reason
        for rel, (notebook, note) in take.items():
            chosen[rel] = notebook
            if note:
                notes[rel].insert(0, note)

    replaced = set()
    for f in tqdm([f for f in files if f.rel in chosen], desc=f"collecting {assignment}",
                  unit="notebook", disable=not progress):
        entry = entries[f.rel]
        try:
            notebook, more = load_notebook(f.read())
        except _Skip as reason:
            entry.note = str(reason)
            continue
        folder = course.folder("submitted", entry.student, assignment)
        if folder.exists() and entry.student not in replaced:
            shutil.rmtree(folder)  # an earlier collect's files (and timestamp) must not mix with these
            more.append(f"replaced the earlier submission in submitted/{entry.student}/{assignment}/")
        replaced.add(entry.student)
        folder.mkdir(parents=True, exist_ok=True)
        entry.destination = folder / chosen[f.rel]
        nbformat.write(notebook, str(entry.destination))
        entry.outcome, entry.note = TAKEN, "; ".join(notes[f.rel] + more)

    report.entries = [entries[f.rel] for f in files]
    report.entries += [Entry(rel, IGNORED, reason) for rel, reason in sorted(ignored.items())]
    assert len(report.found) == len(files) == len(report.taken) + len(report.skipped)
    return report


def _open_source(course, source):
    """([_File], {ignored path: reason}) of a folder or zip; raises InstructorError when it
    cannot be used at all."""
    if not source.exists():
        raise InstructorError(f"{source} does not exist. Pass the folder or .zip file of the class's submissions "
                              "(e.g. the download from your LMS).")
    submitted = course.folder("submitted").resolve()
    if source == submitted or submitted.is_relative_to(source) or source.is_relative_to(submitted):
        raise InstructorError(f"{source} overlaps the course's own {submitted}, where collect writes. "
                              "Pass the class's download (a folder or .zip outside the course's submitted/ folder).")
    if source.is_dir():
        files, ignored = _list_folder(source)
    elif zipfile.is_zipfile(source):
        files, ignored = _list_zip(source)
    else:
        raise InstructorError(f"{source} is neither a folder nor a zip file. "
                              "Pass the folder or .zip of the submissions.")
    if not files:
        listed = ", ".join(list(ignored)[:5]) + (", ..." if len(ignored) > 5 else "")
        others = f"; only {len(ignored)} other files ({listed})" if ignored else ""
        raise InstructorError(f"No notebook (.ipynb) in {source}{others}. "
                              "Check that this is the class's submissions for the assignment.")
    return files, ignored


def format_table(report):
    """A plain aligned text table (student, file, outcome, note) of `report`, notebooks first in
    path order, then ignored files, and the summary line 'N notebooks found: T taken, S skipped'."""
    rows = [(e.student or "-", e.file, e.outcome, e.note) for e in report.found + report.ignored]
    lines = [text_table(("student", "file", "outcome", "note"), rows),
             f"{len(report.found)} notebooks found: {len(report.taken)} taken, {len(report.skipped)} skipped"]
    if report.ignored:
        lines.append(f"{len(report.ignored)} other file{'s' if len(report.ignored) > 1 else ''} ignored "
                     "(not notebooks, hidden, or macOS metadata)")
    return "\n".join(lines)
