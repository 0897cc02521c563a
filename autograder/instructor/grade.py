"""Autograde every collected submission of an assignment, on every core.

nbgrader's autograde does three things to each notebook, one notebook after
another: it *sanitizes* it (clears outputs, restores the instructor's test
cells from the gradebook), *executes* it, and *records* the scores in the
gradebook. Here the three steps are split:

    parent process          worker processes (--workers)
    --------------          ----------------------------
    prepare  (sanitize) --> execute (the slow part)
    record   (scores)   <--

Only the parent ever touches the gradebook, so parallel workers can neither
lock an SQLite file nor race each other on PostgreSQL. By default the
"sanitize" step is rebuild.py (the instructor's notebook with only the
student's code put in) and the "execute" step is trusted.py (the student's code
in a sandbox, the tests in the worker); `sandbox=False` runs nbgrader's own
sanitizing and a Jupyter kernel (execute.py), as stock nbgrader does. The
record step is nbgrader's own in both.

A submission that cannot be graded (not JSON, not a notebook, ...) gets 0
points, its notebook is flagged in the gradebook, and the reason is kept in
``<course>/grading/<assignment>.json``; the run goes on.
"""

import ctypes
import functools
import multiprocessing
import os
import resource
import shutil
import signal
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from .course import InstructorError
from .nbgrader_run import make_converter, run
from .rebuild import Flag, claimed_passes, rebuild
from .sandbox import Limits, check_available, hidden_paths
from .status import load_status, save_status
from .referee import reference_namespace
from .trusted import instructor_cells, run_notebook

GRADED, INCOMPLETE, FAILED = "graded", "incomplete", "failed"
PR_SET_PDEATHSIG = 1  # prctl(2)
WORKER_MEMORY = 6 * 2**30  # address space of a grading worker (the student's process has its own limit)


@dataclass
class Outcome:
    """How one student's submission went. status: graded (every cell ran), incomplete (the
    kernel died or ran out of time; the cells after that earned 0) or failed (nothing could
    run; 0 points). reason says why for the last two."""

    student: str
    status: str
    reason: str | None = None
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    flags: list = field(default_factory=list)  # what the instructor should look at (rebuild.Flag)


def submitted_students(course, assignment):
    """Ids of the students with a folder in submitted/<student>/<assignment>/, sorted."""
    submitted = course.folder("submitted")
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())


def grade(course, assignment, workers=None, students=None, force=False, progress=True, sandbox=True):
    """Autograde the collected submissions of `assignment`.

    course: a Course; workers: worker processes (default: one per core);
    students: ids to grade (default: every collected submission); force: also grade
    submissions graded before; sandbox: grade with the tests outside the student's
    process (trusted.py; the default), else run the notebook in a Jupyter kernel as
    stock nbgrader does (execute.py). Returns [Outcome] in student order, one per submission.
    """
    course.require_assignment(assignment)
    everyone = submitted_students(course, assignment)
    if not everyone:
        raise InstructorError(
            f"No submissions of {assignment!r} in {course.folder('submitted')}: "
            f"run `python -m autograder collect {assignment} SOURCE` first."
        )
    unknown = sorted(set(students or []) - set(everyone))
    if unknown:
        raise InstructorError(f"No submission of {assignment!r} from {', '.join(unknown)}; collected: {', '.join(everyone)}.")
    chosen = list(students or everyone)
    status = load_status(course, assignment)
    if not force:
        chosen = [s for s in chosen if status.get(s, {}).get("status") != GRADED
                  or not course.folder("autograded", s, assignment).is_dir()]
    workers = workers or os.cpu_count() or 1
    grader = Grader(course, assignment)
    if sandbox:
        check_available()
    sources = {p.name: str(p) for p in course.source_notebooks(assignment)}
    setup = WorkerSetup(course.config, sandbox, [str(p) for p in hidden_paths(course.root)], sources)

    outcomes, started, flags = {}, {}, {}
    context = multiprocessing.get_context("spawn")  # a clean process: no copied sockets or threads
    slots = context.Value("i", 0)  # each worker's own sandbox user id
    with WorkerPool(workers, mp_context=context, initializer=_start_worker,
                    initargs=(setup, slots)) as pool, \
            tqdm(total=len(chosen), desc=f"grading {assignment}", unit="notebook", disable=not progress) as bar:
        pending = {}
        for student in chosen:
            started[student] = time.perf_counter()
            notebooks, problem, flags[student] = grader.rebuild(student) if sandbox else (*grader.prepare(student), [])
            if problem:
                outcomes[student] = grader.fail(student, problem)
                bar.update()
                continue
            pending[pool.submit(_execute_all, [str(p) for p in notebooks])] = student
        for future in as_completed(pending):
            student = pending[future]
            try:
                problems = [p for p in future.result() if p]
            except Exception as error:  # the worker itself died: record it, keep going
                outcomes[student] = grader.fail(student, f"the grading worker crashed: {error!r}")
            else:
                outcomes[student] = grader.record(student, problems)
            bar.update()
    for student, outcome in outcomes.items():
        outcome.seconds = round(time.perf_counter() - started[student], 2)
        if sandbox and outcome.status != FAILED:
            flags[student] = flags.get(student, []) + grader.disagreements(student)
        outcome.flags = [str(flag) for flag in flags.get(student, [])]
        if outcome.flags:
            grader.flag(student)
        status[student] = {"status": outcome.status, "reason": outcome.reason, "flags": outcome.flags}
    save_status(course, assignment, status)
    return [outcomes[s] for s in sorted(outcomes)]


class Grader:
    """nbgrader's Autograde converter for one assignment, run step by step in this process."""

    def __init__(self, course, assignment):
        self.course = course
        self.assignment = assignment
        self.claims = {}  # student -> test cells their handed-in notebook shows passing

    def _converter(self, student, after_execution):
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import Execute

        converter = make_converter(Autograde, self.course, self.assignment, student)
        if after_execution:  # record: nbgrader's autograde steps that follow the execution
            converter.autograde_preprocessors = [p for p in converter.autograde_preprocessors if p is not Execute]
        else:  # prepare: the sanitizing steps only
            converter.autograde_preprocessors = []
        return converter

    def prepare(self, student):
        """Sanitize the student's notebooks into autograded/ (creating the submission in the
        gradebook). Returns (notebook paths to execute, None) or ([], reason)."""
        problem = run(self._converter(student, after_execution=False).start)
        if problem:
            return [], problem
        notebooks = sorted(self.course.folder("autograded", student, self.assignment).glob("*.ipynb"))
        if not notebooks:
            return [], f"no notebook of {self.assignment} in the submission"
        return notebooks, None

    def rebuild(self, student):
        """Build the graded notebooks from the instructor's source and the student's solution
        cells (rebuild.py) into autograded/, and create the submission in the gradebook.
        Returns (notebook paths to execute, None, [Flag]) or ([], reason, [Flag])."""
        submitted = self.course.folder("submitted", student, self.assignment)
        folder = self.course.folder("autograded", student, self.assignment)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        paths, flags = [], []
        for source_path in self.course.source_notebooks(self.assignment):
            path = submitted / source_path.name
            if not path.is_file():
                return [], f"no {source_path.name} in the submission", flags
            try:
                handed_in = nbformat.read(str(path), as_version=4)
            except Exception as error:
                first_line = (str(error).strip().splitlines() or [""])[0][:300]
                return [], f"{source_path.name} is not a readable notebook ({type(error).__name__}: {first_line})", flags
            graded, found = rebuild(nbformat.read(str(source_path), as_version=4), handed_in)
            flags += found
            self.claims.setdefault(student, set()).update(claimed_passes(handed_in))
            nbformat.write(graded, str(folder / source_path.name))
            paths.append(folder / source_path.name)
        coursedir = self.course.coursedir(self.assignment, student)
        timestamp = coursedir.get_existing_timestamp(str(submitted))
        with self.course.gradebook() as gradebook:
            gradebook.update_or_create_student(student)
            gradebook.update_or_create_submission(self.assignment, student, **({"timestamp": timestamp} if timestamp else {}))
        return paths, None, flags

    def disagreements(self, student):
        """Flags for the tests the handed-in notebook shows passing that failed when graded."""
        claimed = self.claims.get(student, set())
        with self.course.gradebook() as gradebook:
            submission = gradebook.find_submission(self.assignment, student)
            failed = sorted(g.name for nb in submission.notebooks for g in nb.grades
                            if g.name in claimed and (g.score or 0) < (g.max_score or 0))
        return [Flag("disagrees", f"{name}: the notebook as handed in shows it passing; graded, it fails "
                                  "(a hidden case, or outputs edited by hand)") for name in failed]

    def flag(self, student):
        """Mark the student's notebooks as flagged in the gradebook (nbgrader's formgrader shows it)."""
        with self.course.gradebook() as gradebook:
            for notebook in gradebook.find_submission(self.assignment, student).notebooks:
                notebook.flagged = True
            gradebook.db.commit()

    def record(self, student, problems):
        """Run nbgrader's steps after execution on the executed notebooks in autograded/
        (output limits, scores into the gradebook); returns the Outcome."""
        from nbconvert.writers import FilesWriter
        from nbgrader.converters.base import BaseConverter

        converter = self._converter(student, after_execution=True)
        converter._sanitizing = False  # its input folder is now autograded/
        converter.writer = FilesWriter(parent=converter, config=converter.config)
        converter.exporter = converter.exporter_class(parent=converter, config=converter.config)
        converter._init_preprocessors()
        for path in sorted(self.course.folder("autograded", student, self.assignment).glob("*.ipynb")):
            problem = run(lambda: BaseConverter.convert_single_notebook(converter, str(path)))
            if problem:
                return self.fail(student, problem)
        score, max_score = self.scores(student)
        return Outcome(student, INCOMPLETE if problems else GRADED, "; ".join(problems) or None, score, max_score)

    def fail(self, student, reason):
        """0 points and a flag in the gradebook for a submission that could not be graded."""
        with self.course.gradebook() as gradebook:
            gradebook.update_or_create_student(student)
            submission = gradebook.update_or_create_submission(self.assignment, student)
            for notebook in submission.notebooks:
                notebook.flagged = True
                for grade in notebook.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
            gradebook.db.commit()
        _, max_score = self.scores(student)
        return Outcome(student, FAILED, reason, 0.0, max_score)

    def scores(self, student):
        with self.course.gradebook() as gradebook:
            submission = gradebook.find_submission(self.assignment, student)
            return float(submission.score or 0), float(submission.max_score or 0)


# ----------------------------------------------------------------- worker processes

@dataclass
class WorkerSetup:
    """What every worker process needs: the course's config, the mode, what to hide."""

    config: object
    sandbox: bool
    hidden: list
    sources: dict  # notebook file name -> the instructor's source notebook (the referee's code)


_setup = None
_slot = 0


class WorkerPool(ProcessPoolExecutor):
    """The worker processes. Left by an exception (Ctrl-C included) it stops them at once,
    their sandboxes with them, instead of finishing the queue first."""

    def __exit__(self, kind, value, trace):
        if kind is not None:
            self.shutdown(wait=False, cancel_futures=True)
            for worker in multiprocessing.active_children():
                worker.kill()
        return super().__exit__(kind, value, trace)


def _start_worker(setup, slots):
    global _setup, _slot
    # Die with the grading command, however it ends (SIGTERM, SIGKILL): a worker's sandboxes
    # die with the worker (bubblewrap's --die-with-parent).
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != multiprocessing.parent_process().pid:  # it ended before the line above
        os._exit(1)
    _setup = setup
    with slots.get_lock():
        slots.value += 1
        _slot = slots.value
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")  # one BLAS thread per kernel: workers share the cores
    # The grader's own memory is capped too: what a student's process sends it is bounded per
    # message, and a test that still grows without bound fails with a MemoryError, alone.
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, resource.getrlimit(resource.RLIMIT_AS)[1]))


@functools.cache
def _reference(source_path):
    """The instructor's code of a source notebook, run once per worker (trusted.instructor_cells)."""
    if source_path is None:
        return {}
    return reference_namespace(instructor_cells(nbformat.read(source_path, as_version=4)))


def _execute_all(paths):
    """Execute the notebooks at `paths` in place; returns one problem (or None) per notebook."""
    if not _setup.sandbox:
        from .execute import execute_notebook

        return [execute_notebook(Path(path), _setup.config).problem for path in paths]
    config = _setup.config
    limits = Limits()
    if "memory_limit" in config.get("LimitedExecute", {}):
        limits.memory = int(config.LimitedExecute.memory_limit)
    cell_timeout = int(config.get("Execute", {}).get("timeout", 120) or 120)
    notebook_timeout = int(config.get("LimitedExecute", {}).get("notebook_timeout", 900) or 0) or None
    problems = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        found = run_notebook(notebook, _setup.hidden, limits, slot=_slot, cell_timeout=cell_timeout,
                             reference=_reference(_setup.sources.get(Path(path).name)),
                             notebook_timeout=notebook_timeout)
        nbformat.write(notebook, path)
        problems.append("; ".join(found) or None)
    return problems
