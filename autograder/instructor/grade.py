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

Before any student is graded, a preflight checks what would otherwise give a
whole class wrong grades: the gradebook knows the assignment (it is registered
through nbgrader's generate_assignment when it does not), and every data set
the assignment declares (``metadata.backprop.data`` of its source notebook,
e.g. ``["mnist"]``) is present and verified.

Only submissions that are new or changed since they were last graded are
graded (their fingerprint, submissions.py, differs from the one in the status
file); `force` grades all. A submission that cannot be graded (not JSON, not a
notebook, any error in a step of its own) gets 0 points, its notebook is
flagged in the gradebook, and the reason is kept in
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

from .course import InstructorError, one_blas_thread
from .limits import GradingLimits
from .nbgrader_run import make_converter, run
from .rebuild import claimed_passes, rebuild
from .referee import ReferenceUnavailable, reference_namespace
from .sandbox import Limits, SandboxUnavailable, check_available, hidden_paths
from .status import Flag, Status, load_status, save_status
from .submissions import (
    submission_fingerprint,
    submitted_students,  # noqa: F401 (public here too)
)
from .trusted import declared_data as notebook_data
from .trusted import failed_in_hidden_part, instructor_cells, run_notebook

PR_SET_PDEATHSIG = 1  # prctl(2)
WORKER_MEMORY = (
    6 * 2**30
)  # address space of a grading worker (the student's process has its own limit)


@dataclass
class Outcome:
    """How one student's submission went. status: graded (every cell ran), incomplete (the
    kernel died or ran out of time; the cells after that earned 0) or failed (nothing could
    run; 0 points). reason says why for the last two."""

    student: str
    status: Status
    reason: str | None = None
    score: float = 0.0
    max_score: float = 0.0
    seconds: float = 0.0
    flags: list = field(default_factory=list)  # what the instructor should look at: [Flag]
    worker: str | None = None  # the cluster's worker that graded it (--cluster)


class GradingLost(Exception):
    """The submission could not be graded where it was sent (cluster.py); the message says why."""


def grade(
    course,
    assignment,
    workers=None,
    students=None,
    force=False,
    progress=True,
    sandbox=True,
    due=None,
    limits=None,
    cluster=None,
):
    """Autograde the collected submissions of `assignment` that are new or changed since
    they were last graded.

    course: a Course; workers: worker processes (default: one per core);
    students: ids to consider (default: every collected submission); force: grade them
    even if unchanged since graded; sandbox: grade with the tests outside the student's
    process (trusted.py; the default), else run the notebook in a Jupyter kernel as
    stock nbgrader does (execute.py); due: a due date to store as nbgrader's (e.g.
    "2024-03-01 17:00:00 UTC"; a changed due date regrades everyone, for the late penalties);
    limits: the GradingLimits of a notebook, in either mode (default: from the course's config);
    cluster: "tcp://HOST:PORT" (a Dask scheduler) or "local:N" to grade there (cluster.py),
    default: the course's `Cluster.address` setting, else ("off" too) this machine's workers.
    Returns [Outcome] in student order, one per submission graded. Raises InstructorError
    (before grading anyone) when the preflight fails: see preflight().
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
        raise InstructorError(
            f"No submission of {assignment!r} from {', '.join(unknown)}; collected: "
            f"{', '.join(everyone)}."
        )
    chosen = list(students or everyone)
    if due is not None:
        register_assignment(course, assignment)
        set_due_date(course, assignment, due)
    current_due = due_date(course, assignment)
    status = load_status(course, assignment)
    fingerprints = {
        student: submission_fingerprint(course, student, assignment) for student in chosen
    }
    if not force:
        chosen = [
            s
            for s in chosen
            if status.get(s, {}).get("sha256") != fingerprints[s]
            or status.get(s, {}).get("due") != current_due
            or not course.folder("autograded", s, assignment).is_dir()
        ]
    if not chosen:
        return []
    workers = workers or os.cpu_count() or 1
    cluster = cluster or course.config.get("Cluster", {}).get("address") or None
    cluster = None if cluster == "off" else cluster
    if cluster and not sandbox:
        raise InstructorError("--cluster grades in the sandbox only: leave out --kernel.")
    sources = {p.name: p.read_text(encoding="utf-8") for p in course.source_notebooks(assignment)}
    limits = limits or GradingLimits.from_options(course.config)
    # The config goes to the workers only for the kernels: unpickling it imports what it
    # names (nbgrader's preprocessors, about 0.7 s of a worker's start-up).
    config = None if sandbox else course.config
    setup = WorkerSetup(
        config, sandbox, [str(p) for p in hidden_paths(course.root)], sources, limits
    )
    if cluster:
        from .cluster import ClusterPool

        pool = ClusterPool(
            cluster, setup, course.root, assignment, declared_data(course, assignment)
        )
    else:
        context = multiprocessing.get_context("spawn")  # a clean process: no copied sockets
        slots = context.Value("i", 0)  # each worker's own sandbox user id
        pool = WorkerPool(
            workers, mp_context=context, initializer=_start_worker, initargs=(setup, slots)
        )
    from .nbgrader_internals import one_engine_per_database  # not in the worker processes

    with pool, one_engine_per_database():
        if not cluster:
            # The workers start up (imports, the instructor's code) while this process
            # checks: a failed check below stops them before anyone is graded.
            pool.start_all(workers)
        _check_before_grading(course, assignment, sandbox, sources, here=not cluster)
        return _grade_with(
            pool,
            Grader(course, assignment),
            chosen,
            status,
            fingerprints,
            current_due,
            progress,
            sandbox,
        )


def _check_before_grading(course, assignment, sandbox, sources, here=True):
    """The preflight, and in the sandbox mode the sandbox (here: on this machine; a cluster's
    workers check their own, cluster.py) and the instructor's code that every student's
    grading needs: InstructorError before anyone is graded. sources: {name: notebook text}."""
    preflight(course, assignment)
    if sandbox and here:
        try:
            check_available()
        except SandboxUnavailable as error:
            raise InstructorError(
                f"{error} (or grade with --kernel, the stock way, without the sandbox)."
            ) from None
    if sandbox:
        for path in course.source_notebooks(assignment):  # the twins' code: a failure here
            try:  # would fail every student
                _reference(sources[path.name])
            except ReferenceUnavailable as error:
                raise InstructorError(
                    f"{path}: {error}. Nothing was graded: fix the source notebook "
                    "(nbgrader validate checks it runs)."
                ) from None


def _grade_with(pool, grader, chosen, status, fingerprints, current_due, progress, sandbox):
    """Grade the `chosen` students on the started `pool`; [Outcome] in student order."""
    course, assignment = grader.course, grader.assignment
    outcomes, started, retry = {}, {}, set()

    def finish(outcome, flags):
        """Record one student's outcome: flags, seconds, and their line in the status file."""
        student = outcome.student
        outcome.seconds = round(time.perf_counter() - started[student], 2)
        outcome.flags = list(flags)
        outcome.worker = worker.get(student)
        if outcome.flags:
            grader.isolated(student, grader.flag, student)
        status[student] = {
            "status": outcome.status,
            "reason": outcome.reason,
            "flags": outcome.flags,
            # A submission the grading machinery failed is graded again by the next run.
            "sha256": None if student in retry else fingerprints[student],
            "due": current_due,
        }
        save_status(
            course, assignment, status
        )  # after each student: an interrupted run loses nothing
        outcomes[student] = outcome
        bar.update()

    worker = {}  # student -> the cluster's worker that graded it
    with tqdm(
        total=len(chosen), desc=f"grading {assignment}", unit="notebook", disable=not progress
    ) as bar:
        pending, flags = {}, {}
        for student in chosen:
            started[student] = time.perf_counter()
            prepared = grader.isolated(
                student, grader.rebuild if sandbox else grader.prepare, student
            )
            if isinstance(prepared, Outcome):  # the step itself raised: already recorded as failed
                finish(prepared, [])
                continue
            notebooks, problem, flags[student] = prepared if sandbox else (*prepared, [])
            if problem:
                finish(grader.fail(student, problem), flags[student])
                continue
            pending[pool.execute(student, [str(p) for p in notebooks])] = student
        for future in as_completed(pending):
            student = pending[future]
            worker[student] = getattr(future, "worker", None)
            try:
                problems = [p for p in future.result() if p]
            except InstructorError:  # the cluster's scheduler is gone: a rerun grades the rest
                raise
            except GradingLost as lost:
                outcome = grader.fail(student, str(lost))
            except Exception as error:  # the worker itself died: record it, keep going
                outcome = grader.fail(
                    student,
                    f"the grading worker crashed ({type(error).__name__}: {error}): "
                    "run grade again to retry this submission",
                )
                retry.add(student)
            else:
                outcome = grader.isolated(student, grader.record, student, problems)
            found = flags.get(student, [])
            if sandbox and outcome.status != Status.FAILED:
                try:
                    found = found + grader.disagreements(student)
                except Exception as error:  # a flag, never a zeroed grade: the scores stand
                    found = found + [
                        Flag("disagrees", f"not checked: {type(error).__name__}: {error}")
                    ]
            finish(outcome, found)
    return [outcomes[s] for s in sorted(outcomes)]


# ----------------------------------------------------------------- preflight


def preflight(course, assignment):
    """Check, before anyone is graded, what would otherwise cost the whole class points:
    the gradebook knows the assignment (registered here through nbgrader's
    generate_assignment when it does not), and every data set the assignment declares is
    present and verified. Raises InstructorError saying what to do."""
    register_assignment(course, assignment)
    for name in declared_data(course, assignment):
        check_data(name)


def gradebook_knows(course, assignment):
    """True if the gradebook has the assignment with every source notebook and its graded cells."""
    from nbgrader.api import MissingEntry

    expected = {path.stem for path in course.source_notebooks(assignment)}
    if not course.gradebook_exists():
        return False
    with course.gradebook() as gradebook:
        try:
            entry = gradebook.find_assignment(assignment)
        except MissingEntry:
            return False
        return expected <= {notebook.name for notebook in entry.notebooks}


def register_assignment(course, assignment):
    """Make sure the gradebook knows `assignment`: nbgrader's generate_assignment (which also
    writes release/<assignment>/) registers its notebooks and graded cells."""
    from nbgrader.converters import GenerateAssignment

    if gradebook_knows(course, assignment):
        return
    problem = run(make_converter(GenerateAssignment, course, assignment).start)
    if problem or not gradebook_knows(course, assignment):
        raise InstructorError(
            f"The gradebook ({course.db_url}) does not know assignment {assignment!r}, and "
            f"registering it from source/{assignment}/ failed: "
            f"{problem or 'no notebooks were recorded'}. Fix the source notebook, then run `python "
            f"-m autograder release {assignment}` and grade again."
        )


def due_date(course, assignment):
    """nbgrader's due date of the assignment (ISO text, UTC), or None (none set, or not
    registered)."""
    from nbgrader.api import MissingEntry

    with course.gradebook() as gradebook:
        try:
            duedate = gradebook.find_assignment(assignment).duedate
        except MissingEntry:
            return None
        return duedate.isoformat() if duedate else None


def set_due_date(course, assignment, due):
    """Store `due` (text such as "2024-03-01 17:00:00 UTC") as nbgrader's due date."""
    from nbgrader.utils import parse_utc

    try:
        parsed = parse_utc(due)
    except (ValueError, OverflowError) as error:
        raise InstructorError(
            f"Cannot read the due date {due!r} ({error}); write it as "
            "'2024-03-01 17:00:00 UTC' (or another time zone name or offset)."
        ) from None
    with course.gradebook() as gradebook:
        gradebook.update_or_create_assignment(assignment, duedate=parsed)


def declared_data(course, assignment):
    """The data sets the assignment's source notebooks declare in `metadata.backprop.data`."""
    names = []
    for path in course.source_notebooks(assignment):
        try:
            declared = notebook_data(nbformat.read(str(path), as_version=4))
        except ValueError as error:
            raise InstructorError(f"{path}: {error}") from None
        names += [name for name in declared if name not in names]
    return names


def check_data(name):
    """Raise InstructorError unless the data set `name` is present and verified."""
    if name == "mnist":
        from ..student.mnist import MNISTNotFound, load_mnist

        try:
            load_mnist(
                progress=False
            )  # finds the files as the notebooks do and checks every SHA-256
        except MNISTNotFound as error:
            raise InstructorError(
                f"The assignment needs MNIST, and the grader cannot use it, so every "
                f"student would lose the points of the cells that use it. Nothing was "
                f"graded. The loader says:\n{error}\nFor grading, set MNIST_DIR to the "
                f"folder with the files (or copy them into the cache folder), then run "
                f"grade again; `grade` itself has no --data-dir or --download."
            ) from None
        return
    raise InstructorError(
        f"Unknown data set {name!r} in metadata.backprop.data of the source notebook: "
        "the grader knows 'mnist'."
    )


class Grader:
    """nbgrader's Autograde converter for one assignment, run step by step in this process."""

    def __init__(self, course, assignment):
        from .collect import display_names

        self.course = course
        self.assignment = assignment
        self.claims = {}  # student -> test cells their handed-in notebook shows passing
        self.names = display_names(course, assignment)  # student -> (first, last) from the LMS

    def isolated(self, student, step, *args):
        """step(*args), or, if it raises, the student's failed Outcome: whatever goes wrong in
        one student's step costs that student alone, with the reason."""
        try:
            return step(*args)
        except Exception as error:
            reason = f"{step.__name__} failed: {type(error).__name__}: {_first_line(error)}"
            try:
                return self.fail(student, reason)
            except Exception as again:  # the gradebook refused even the failure: still one line
                return Outcome(
                    student,
                    Status.FAILED,
                    f"{reason}; recording it failed too: {_first_line(again)}",
                )

    def _converter(self, student, after_execution):
        from nbgrader.converters import Autograde
        from nbgrader.preprocessors import CheckCellMetadata, Execute

        converter = make_converter(Autograde, self.course, self.assignment, student)
        if after_execution:  # record: nbgrader's autograde steps that follow the execution
            # Less the metadata check: the cells and their metadata are the instructor's
            # (rebuild.py) or were checked when sanitized (prepare), and the execution
            # writes the notebook from memory, so they cannot have changed since.
            converter.autograde_preprocessors = [
                p
                for p in converter.autograde_preprocessors
                if p not in (Execute, CheckCellMetadata)
            ]
        else:  # prepare: the sanitizing steps only
            converter.autograde_preprocessors = []
        return converter

    def prepare(self, student):
        """Sanitize the student's notebooks into autograded/ (creating the submission in the
        gradebook). Returns (notebook paths to execute, None) or ([], reason)."""
        problem = run(self._converter(student, after_execution=False).start)
        if problem:
            return [], problem
        notebooks = sorted(
            self.course.folder("autograded", student, self.assignment).glob("*.ipynb")
        )
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
                return (
                    [],
                    f"{source_path.name} is not a readable notebook ({type(error).__name__}: "
                    f"{first_line})",
                    flags,
                )
            graded, found = rebuild(nbformat.read(str(source_path), as_version=4), handed_in)
            flags += found
            self.claims.setdefault(student, set()).update(claimed_passes(handed_in))
            nbformat.write(graded, str(folder / source_path.name))
            paths.append(folder / source_path.name)
        coursedir = self.course.coursedir(self.assignment, student)
        timestamp = coursedir.get_existing_timestamp(str(submitted))
        with self.course.gradebook() as gradebook:
            self._student(gradebook, student)
            # A resubmission without a time must not keep the earlier one's (and its late penalty).
            gradebook.update_or_create_submission(self.assignment, student, timestamp=timestamp)
        return paths, None, flags

    def _student(self, gradebook, student):
        first, last = self.names.get(student, (None, None))
        return gradebook.update_or_create_student(
            student, **({"first_name": first, "last_name": last} if first or last else {})
        )

    def disagreements(self, student):
        """Flags for the tests the handed-in notebook shows passing that failed when graded in
        their visible part (failing a hidden case the student never saw is no disagreement)."""
        claimed = self.claims.get(student, set())
        for graded in self.course.folder("autograded", student, self.assignment).glob("*.ipynb"):
            claimed = claimed - failed_in_hidden_part(nbformat.read(str(graded), as_version=4))
        with self.course.gradebook() as gradebook:
            submission = gradebook.find_submission(self.assignment, student)
            failed = sorted(
                g.name
                for nb in submission.notebooks
                for g in nb.grades
                if g.name in claimed and (g.score or 0) < (g.max_score or 0)
            )
        return [
            Flag(
                "disagrees",
                f"{name}: the notebook as handed in shows it passing; graded, it fails "
                "(outputs edited by hand, or code that changed since it ran)",
            )
            for name in failed
        ]

    def flag(self, student):
        """Mark the student's notebooks as flagged in the gradebook (nbgrader's formgrader shows
        it)."""
        with self.course.gradebook() as gradebook:
            for notebook in gradebook.find_submission(self.assignment, student).notebooks:
                notebook.flagged = True
            gradebook.db.commit()

    def record(self, student, problems):
        """Run nbgrader's steps after execution on the executed notebooks in autograded/
        (output limits, scores into the gradebook); returns the Outcome."""
        from .nbgrader_internals import score_executed

        converter = self._converter(student, after_execution=True)
        executed = sorted(
            self.course.folder("autograded", student, self.assignment).glob("*.ipynb")
        )
        problem = score_executed(converter, executed, run)
        if problem:
            return self.fail(student, problem)
        score, max_score = self.scores(student)
        return Outcome(
            student,
            Status.INCOMPLETE if problems else Status.GRADED,
            "; ".join(problems) or None,
            score,
            max_score,
        )

    def fail(self, student, reason):
        """0 points and a flag in the gradebook for a submission that could not be graded."""
        with self.course.gradebook() as gradebook:
            self._student(gradebook, student)
            submission = gradebook.update_or_create_submission(self.assignment, student)
            for notebook in submission.notebooks:
                notebook.flagged = True
                notebook.late_submission_penalty = None
                for grade in notebook.grades:
                    grade.auto_score = 0
                    grade.needs_manual_grade = False
            gradebook.db.commit()
        _, max_score = self.scores(student)
        return Outcome(student, Status.FAILED, reason, 0.0, max_score)

    def scores(self, student):
        with self.course.gradebook() as gradebook:
            submission = gradebook.find_submission(self.assignment, student)
            return float(submission.score or 0), float(submission.max_score or 0)


def _first_line(error):
    return (str(error).strip().splitlines() or [""])[0][:300]


# ----------------------------------------------------------------- worker processes


@dataclass
class WorkerSetup:
    """What every worker process needs: the course's config, the mode, what to hide."""

    config: object  # the course's traitlets Config, for the kernels (None in the sandbox mode)
    sandbox: bool
    hidden: list
    sources: dict  # notebook file name -> the instructor's source notebook, as text (the twins)
    limits: GradingLimits


_setup = None
_slot = 0


class WorkerPool(ProcessPoolExecutor):
    """The worker processes. Left by an exception (Ctrl-C included) it stops them at once,
    their sandboxes with them, instead of finishing the queue first."""

    def execute(self, student, paths):
        """Execute one submission's notebooks (in place); a Future of their problems."""
        return self.submit(_execute_all, paths)

    def start_all(self, workers):
        """Start the `workers` processes now rather than at their first notebooks (an empty
        task each: the pool starts a process per task while none is idle)."""
        for _ in range(workers):
            self.submit(int)

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
    one_blas_thread(os.environ)  # inherited by the kernels and the students' processes
    # The grader's own memory is capped too: what a student's process sends it is bounded per
    # message, and a test that still grows without bound fails with a MemoryError, alone.
    resource.setrlimit(
        resource.RLIMIT_AS, (WORKER_MEMORY, resource.getrlimit(resource.RLIMIT_AS)[1])
    )
    if setup.sandbox:  # ready before the first notebook arrives (a failure is the parent's to say)
        for source in setup.sources.values():
            try:
                _reference(source)
            except ReferenceUnavailable:
                pass


@functools.cache
def _reference(source):
    """The instructor's code of a source notebook (its text), run once per worker
    (trusted.instructor_cells)."""
    if source is None:
        return {}
    return reference_namespace(instructor_cells(nbformat.reads(source, as_version=4)))


def _execute_all(paths):
    """Execute the notebooks at `paths` in place; returns one problem (or None) per notebook."""
    limits = _setup.limits
    if not _setup.sandbox:
        from .execute import execute_notebook

        return [execute_notebook(Path(path), _setup.config, limits).problem for path in paths]
    problems = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        problems.append(_execute(notebook, Path(path).name))
        nbformat.write(notebook, path)
    return problems


def _execute(notebook, name):
    """Run the rebuilt notebook `name` in place, the student's code in the sandbox; its problem
    or None. (Also what a cluster's worker runs: cluster.py.)"""
    limits = _setup.limits
    found = run_notebook(
        notebook,
        _setup.hidden,
        Limits(memory=limits.memory),
        slot=_slot,
        cell_timeout=limits.cell_timeout,
        reference=_reference(_setup.sources.get(name)),
        notebook_timeout=limits.notebook_timeout,
    )
    return "; ".join(found) or None
