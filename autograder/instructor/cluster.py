"""Grading on a Dask cluster: each submission is one task, graded on a worker as it is here.

    python -m autograder grade forward --cluster tcp://scheduler-host:8786
    python -m autograder grade forward --cluster local:4      # a LocalCluster of 4 processes

The parent (the `grade` command) still rebuilds every notebook and is the only
writer of the gradebook (grade.py). What goes to the cluster is the slow part:
one task per submission, carrying the rebuilt notebooks as text, comes back
with the executed notebooks as text and one problem (or None) each. On the
worker the task runs in a grading process of its own, started by the
`GradingPlugin` with grade.py's own worker set-up (`_start_worker`: its memory
cap, one BLAS thread, death with its parent), so the tests run in a main
thread under the same wall-clock alarms, against the same sandbox
(sandbox.py) with the same limits, as on this machine. The grading process
stays up from task to task, and each worker holds the next submission while
it grades one (PREFETCH), so that it never waits for a round trip to the
parent between two.

What travels, what is checked at start-up:

- with the task: the rebuilt notebooks (the student's code, the course's
  test cells, hidden ones included);
- with the plugin (once per worker): the course's configuration, the run's
  limits (limits.GradingLimits: time per cell and notebook, memory), the
  instructor's source notebooks (the twins' code,
  referee.py), the data sets the assignment declares, the SHA-256 of this
  `autograder` package;
- checked on the worker when the plugin starts (when grading starts, or when
  a worker joins later): the sandbox can be built there (root, bubblewrap,
  setpriv: sandbox.check_available), every declared data set is present and
  verified by its SHA-256 (MNIST by the toolkit's loader, from the worker's
  $MNIST_DIR), and the worker's `autograder` is byte for byte the parent's.
  A worker that fails a check refuses tasks: it never advertises the run's
  resource, so the scheduler sends it none, and the parent names it and says
  why. Nothing of the course folder is needed on a worker.

Faults (Ledger): a worker's death, or its grading process's, is charged to the
submissions whose grading had started there (the worker says when it starts
one) and had not ended; a submission is sent again until it has been charged
KILLS_ALLOWED deaths, and is then `failed` with the reason. Dask's own count
(the scheduler's `allowed-failures`) charges a death to every task the worker
held, a waiting one too, so it decides nothing here: a task Dask gives up on
(KilledWorker) is sent again unless the ledger says otherwise. The parent
records a submission once, when its result arrives. A lost scheduler stops the
run (ClusterLost): what was recorded stays recorded, and a rerun grades only
what is missing (the status file and the fingerprints, grade.py).
"""

import asyncio
import hashlib
import logging
import multiprocessing
import os
import re
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

import dask
import nbformat
from distributed import Client, KilledWorker, LocalCluster, get_worker
from distributed import Status as WorkerStatus
from distributed.diagnostics.plugin import WorkerPlugin

from . import grade
from .course import InstructorError
from .sandbox import SandboxUnavailable, check_available, hidden_paths

logger = logging.getLogger(__name__)

PACKAGE = Path(__file__).resolve().parents[1]  # autograder/
KILLS_ALLOWED = 2  # deaths (of a worker or its grading process) that fail a submission
SENDS_ALLOWED = 5  # a submission lost with this many workers, none charged to it: failed
PREFETCH = 1  # submissions a worker holds beyond those it grades: the next one is there
CONNECT_TIMEOUT = 30  # seconds to reach the scheduler
WORKER_TIMEOUT = 120  # seconds for a first worker to join and pass its checks
SLOTS_EVERY = 5  # seconds between counts of the workers' slots (workers come and go)
QUIET = {  # a worker's background work while it grades (Dask's defaults: 10 ms, 20 ms)
    "distributed.worker.profile.enabled": False,  # sampling the running task's stack
    "distributed.admin.tick.interval": "500ms",  # measuring how responsive the event loop is
}


class ClusterLost(InstructorError):
    """The scheduler went away: the run stops; a rerun grades what is missing."""


class GradingProcessDied(Exception):
    """The worker's grading process died while it graded the task (out of memory?)."""


def parse(spec):
    """("local", N) for "local:N", ("scheduler", address) for "tcp://HOST:PORT" (or tls://)."""
    text = str(spec).strip()
    local = re.fullmatch(r"local:(\d+)", text)
    if local and int(local.group(1)) > 0:
        return "local", int(local.group(1))
    if re.fullmatch(r"(tcp|tls)://[^\s/:]+:\d+", text):
        return "scheduler", text
    raise InstructorError(
        f"--cluster {spec!r}: give a Dask scheduler's address, e.g. tcp://grader-host:8786, "
        "or local:N for a cluster of N worker processes on this machine."
    )


def code_fingerprint(package=PACKAGE):
    """SHA-256 of the `autograder` package's Python files (names and bytes): the code that
    decides grades, which every worker must have exactly as the parent has it."""
    digest = hashlib.sha256()
    for path in sorted(Path(package).rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# ----------------------------------------------------------------- on a worker


def _check_worker(data, code):
    """In the grading process: None if this host can grade, else why not."""
    try:
        check_available()
    except SandboxUnavailable as error:
        return f"cannot build the sandbox: {error}"
    for name in data:
        try:
            grade.check_data(name)
        except InstructorError as error:
            return f"the data set {name!r} is missing or does not verify: {error}"
    if code_fingerprint() != code:
        return (
            f"its autograder package ({PACKAGE}) differs from the parent's: install the same "
            "version of the course's distribution on every worker host"
        )
    for text in grade._setup.sources.values():  # the twins' code, run once here
        grade._reference(text)
    return None


def _execute_texts(notebooks):
    """In the grading process: [(name, notebook JSON)] -> [(executed notebook JSON, problem)]."""
    results = []
    for name, text in notebooks:
        notebook = nbformat.reads(text, as_version=4)
        problem = grade._execute(notebook, name)
        results.append((nbformat.writes(notebook), problem))
    return results


def grading_environment():
    """The grading processes' environment as on the parent's machine: without the
    MALLOC_TRIM_THRESHOLD_ that Dask's nanny gives its workers (its config
    distributed.nanny.pre-spawn-environ). With it, glibc hands every large NumPy array back to
    the system when it is freed and maps the next one afresh: measured here, a third more CPU
    per notebook (benchmarks/cluster_grading.py). The worker's own memory is not affected."""
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)


def may_have_children():
    """Let this process start the grading processes. A worker under Dask's nanny is a daemonic
    process, which multiprocessing forbids to have children, so that none outlives it; the
    grading processes die with their parent anyway (grade._start_worker: PR_SET_PDEATHSIG), and
    their sandboxes with them."""
    process = multiprocessing.current_process()
    if process.daemon:
        process.daemon = False


class GradingPlugin(WorkerPlugin):
    """Per worker and grading run: the grading processes, and whether this worker may grade.

    setup: grade.WorkerSetup (hidden paths are recomputed on the worker); course_root: the
    course's path on the parent (hidden on a worker that has it); data: declared data sets;
    code: code_fingerprint() of the parent."""

    def __init__(self, run, setup, course_root, data, code):
        self.run, self.grading, self.course_root = run, setup, str(course_root)
        self.data, self.code = list(data), code
        self.pool = self.refusal = None
        self._lock = threading.Lock()

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(pool=None, refusal=None, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    async def setup(self, worker):
        slots = worker.state.nthreads
        self.refusal = await asyncio.get_running_loop().run_in_executor(None, self._start, slots)
        if self.refusal is None:
            quiet(worker)
            await worker.set_resources(**{self.run: slots})
            # The scheduler looks again at the tasks waiting for a worker (those of a worker
            # that died while no other could take them) when a worker starts running, not when
            # one offers a new resource: pause and resume to have it look.
            worker.status = WorkerStatus.paused
            worker.status = WorkerStatus.running
        else:
            logger.error("This worker refuses the grading run %s: %s", self.run, self.refusal)

    def _start(self, slots):
        may_have_children()
        grading_environment()
        try:
            self.pool = self._new_pool(slots)
            return self.pool.submit(_check_worker, self.data, self.code).result(WORKER_TIMEOUT)
        except Exception as error:
            return f"its grading process could not start: {type(error).__name__}: {error}"

    def _new_pool(self, slots):
        setup = replace(self.grading, hidden=[str(p) for p in hidden_paths(self.course_root)])
        context = multiprocessing.get_context("spawn")
        return grade.WorkerPool(
            slots,
            mp_context=context,
            initializer=grade._start_worker,
            initargs=(setup, context.Value("i", 0)),
        )

    def execute(self, notebooks):
        """Run the notebooks in a grading process; one that died is replaced, and the task
        fails with GradingProcessDied (the parent charges the submission, ClusterPool)."""
        pool = self.pool
        try:
            return pool.submit(_execute_texts, notebooks).result()
        except BrokenProcessPool:
            with self._lock:
                if self.pool is pool:
                    self.pool = self._new_pool(pool._max_workers)
                    pool.shutdown(wait=False, cancel_futures=True)
            raise GradingProcessDied(
                "the grading process died while grading it (out of memory?)"
            ) from None

    def teardown(self, worker):
        if self.pool is None:
            return
        if any(isinstance(plugin, GradingPlugin) for plugin in worker.plugins.values()):
            self.pool.shutdown(wait=False, cancel_futures=True)  # another run's processes live
        else:  # stop them now, an abandoned notebook included (WorkerPool: every child)
            self.pool.__exit__(RuntimeError, None, None)
        self.pool = None


def quiet(worker):
    """Slow down what a worker does besides grading (QUIET): a task here runs for a second or
    more in a process of its own, and the samples and ticks cost its core CPU all the while.
    (A worker started from Dask's configuration with these values has them already.)"""
    callbacks = worker.periodic_callbacks
    for name in ("profile", "profile-cycle"):
        if name in callbacks:
            callbacks[name].stop()
    if "tick" in callbacks:
        interval = dask.utils.parse_timedelta(QUIET["distributed.admin.tick.interval"])
        callbacks["tick"].callback_time = max(callbacks["tick"].callback_time, interval * 1000)


def grade_task(run, key, notebooks):
    """The task: one submission's rebuilt notebooks [(name, JSON)] -> (worker address,
    [(executed JSON, problem)]). It tells the parent first that it started here (Ledger)."""
    worker = get_worker()
    plugin = worker.plugins.get(run)
    if plugin is None or plugin.refusal is not None or plugin.pool is None:
        raise RuntimeError(
            f"worker {worker.address} cannot grade: {plugin.refusal if plugin else 'no plugin'}"
        )
    worker.log_event(run, {"started": key, "worker": worker.address})
    return worker.address, plugin.execute(notebooks)


def _slots(run, dask_scheduler=None):
    return int(sum(dask_scheduler.resources.get(run, {}).values()))


def _refusal(run, dask_worker=None):
    plugin = dask_worker.plugins.get(run)
    return plugin.refusal if plugin is not None else "the grading plugin did not start"


def dask_setup(worker):
    """`dask worker --preload autograder.instructor.cluster`: a worker that cannot build the
    sandbox stops at start-up with the reason, instead of joining and refusing every run."""
    may_have_children()
    try:
        check_available()
    except SandboxUnavailable as error:
        raise RuntimeError(f"this worker cannot grade: {error}") from None


# ----------------------------------------------------------------- in the parent


def restore_environment(saved):
    """What puts os.environ back as `saved`: a LocalCluster's nannies run in this process, and
    set their workers' variables (distributed.nanny.pre-spawn-environ: MALLOC_TRIM_THRESHOLD_,
    PYTHONHASHSEED, ...) in its environment before each start, and leave them there."""

    def restore():
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update(saved)

    return restore


def quiet_logs():
    """Silence Dask's loggers in this process (a lost scheduler logs its tracebacks there):
    what the instructor needs comes as grade's own messages. Returns what restores them."""
    names = ["distributed"] + [
        name for name in logging.root.manager.loggerDict if name.startswith("distributed.")
    ]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)

    def restore():
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    return restore


class Ledger:
    """Which submission's grading killed what. A death (of a worker, or of its grading process)
    is charged to a submission only if its grading had started on that worker and not ended:
    the worker says when it starts one (grade_task), and a run that started and was then
    started again, or given up by Dask (KilledWorker), died. Dask's own count charges a death
    to every task the worker held, one waiting behind the running one too, which would fail
    a submission for its neighbour's crimes.

    Keys are Dask task keys (a submission is sent again under a new key); students are ids."""

    def __init__(self):
        self.running = {}  # key -> (student, worker): started there, not ended
        self.deaths = defaultdict(list)  # student -> the workers that died grading it

    def started(self, key, student, worker):
        """`key` started on `worker`; a start before it that did not end died."""
        self.ended(key, died=True)
        self.running[key] = (student, worker)

    def ended(self, key, died=False):
        """`key`'s run ended: by a death (died=True: charged if it had started) or not."""
        run = self.running.pop(key, None)
        if run is not None and died:
            self.deaths[run[0]].append(run[1])

    def charged(self, student):
        return len(self.deaths[student])

    def reason(self, student):
        """Why `student`'s submission was failed, once charged KILLS_ALLOWED deaths."""
        return (
            f"grading it killed {self.charged(student)} workers or their grading processes "
            f"({', '.join(self.deaths[student])}: ended by the system, out of memory, or by "
            "hand); it was not graded, and no other submission was affected"
        )


@dataclass
class Job:
    """One submission to grade: its notebooks' paths, the Future grade.py waits on, and how
    often it was sent (a new Dask task each time)."""

    student: str
    paths: list
    done: Future = field(default_factory=Future)
    sends: int = 0


class ClusterPool:
    """The parent's side: one task per submission, results written where grade.py reads them.

    spec: "local:N" or a scheduler address; setup: grade.WorkerSetup; data: the declared data
    sets; say: where notes go (refusing workers)."""

    def __init__(self, spec, setup, course_root, assignment, data=(), say=None):
        self.kind, self.where = parse(spec)
        self.setup, self.course_root, self.data = setup, course_root, list(data)
        self.run = f"autograder-{assignment}-{uuid.uuid4().hex[:8]}"
        self.say = say or (lambda text: print(text, file=sys.stderr))
        self.client = None
        self.slots = 0  # submissions graded at a time: the accepting workers' threads
        self.ledger = Ledger()
        self._counted = time.monotonic()  # when slots was last asked of the scheduler
        self._stack = ExitStack()
        self._out = {}  # Dask future -> Job, for the tasks out
        self._keys = {}  # task key -> (Dask future, Job), for the tasks out
        self._backlog = deque()  # Jobs not sent yet
        self._lock = threading.RLock()

    def __enter__(self):
        try:
            self._connect()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _connect(self):
        self._stack.callback(quiet_logs())
        if self.kind == "local":
            self._stack.callback(restore_environment(dict(os.environ)))
            # 0: every worker death comes to the parent at once, as a KilledWorker (Ledger)
            config = {**QUIET, "distributed.scheduler.allowed-failures": 0}
            self._stack.enter_context(dask.config.set(config))
            cluster = LocalCluster(
                n_workers=self.where,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                scheduler_port=0,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # its HTTP server
                memory_limit=0,  # the grading process and the sandbox have limits of their own
                silence_logs=logging.CRITICAL,
            )
            self._stack.callback(cluster.close)
            address = cluster.scheduler_address
        else:
            address = self.where
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise InstructorError(
                f"Cannot reach the Dask scheduler at {address} ({error}). Start it "
                "(`dask scheduler`) and its workers, or grade on this machine without "
                "--cluster (`--cluster off` if nbgrader_config.py sets Cluster.address)."
            ) from None
        self._stack.callback(self._close_client)
        try:
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise InstructorError(
                f"No worker joined the scheduler at {address} within {WORKER_TIMEOUT} s: start "
                f"workers (`dask worker {address} --nthreads 1`)."
            ) from None
        self.client.subscribe_topic(self.run, self._on_event)
        plugin = GradingPlugin(
            self.run, self.setup, self.course_root, self.data, code_fingerprint()
        )
        self._stack.callback(self._unregister)
        try:
            self.client.register_plugin(plugin, name=self.run)
            refusals = self.client.run(_refusal, self.run, on_error="return")
        except Exception as error:  # e.g. a worker host without this project installed
            raise InstructorError(
                f"A worker of the cluster at {address} could not start grading "
                f"({type(error).__name__}: {error}). Install this project, at the version this "
                "machine has, on every worker host; or grade on this machine without --cluster."
            ) from None
        refused = {
            worker: (
                f"it cannot run the grading code: {type(why).__name__}: {why}"
                if isinstance(why, BaseException)
                else why
            )
            for worker, why in refusals.items()
            if why
        }
        for worker, why in sorted(refused.items()):
            self.say(f"worker {worker} refuses to grade: {why}")
        if len(refused) == len(refusals):
            raise InstructorError(
                f"Every worker of the cluster at {address} refused to grade (above); nothing was "
                "graded. Fix the worker hosts, or grade on this machine without --cluster."
            )
        self.slots = self._slots()

    def _unregister(self):
        if self.client.status != "running":  # the scheduler is gone: its workers drop the run
            return
        try:
            self.client.unsubscribe_topic(self.run)
            self.client.unregister_worker_plugin(self.run)
        except Exception:  # the scheduler is gone already: its workers drop the run with it
            pass

    def _close_client(self):
        # A client that lost its scheduler waits CONNECT_TIMEOUT for it by default.
        self.client.close(timeout=5 if self.client.status != "running" else None)

    def execute(self, student, paths):
        """Queue one submission's notebooks (the files at `paths`) as one task; returns a
        concurrent Future of [problem or None] per notebook, the executed notebooks written
        back to `paths` before it completes. future.worker: the worker that graded it."""
        job = Job(student, list(paths))
        job.done.worker = None
        with self._lock:
            self._backlog.append(job)
        self._pump()
        return job.done

    def _pump(self):
        """Send queued submissions while a worker has room: (1 + PREFETCH) per grading slot.
        A worker thus holds the next one while it grades one, and little more: a worker that
        dies takes few submissions with it to be sent again."""
        with self._lock:
            while self._backlog and len(self._out) < max(self.slots, 1) * (1 + PREFETCH):
                job = self._backlog.popleft()
                job.sends += 1
                key = f"grade-{job.student}-{uuid.uuid4().hex[:8]}"
                notebooks = [(Path(p).name, Path(p).read_text(encoding="utf-8")) for p in job.paths]
                task = self.client.submit(
                    grade_task,
                    self.run,
                    key,
                    notebooks,
                    key=key,
                    resources={self.run: 1},
                    pure=False,
                )
                self._out[task] = job
                self._keys[key] = (task, job)
                task.add_done_callback(lambda task, job=job: self._finish(task, job))

    def _on_event(self, event):
        """A worker started a task (grade_task): the ledger notes it; a start of a task that
        had started before means that its first run died, and may fail the submission."""
        _, message = event
        key, worker = message.get("started"), message.get("worker")
        with self._lock:
            if key not in self._keys:
                return  # ended already (a late event), or not this run's
            task, job = self._keys[key]
            self.ledger.started(key, job.student, worker)
            if self.ledger.charged(job.student) < KILLS_ALLOWED:
                return
            self._forget(task, key)
        # A scheduler that lets a task cause more than one death (its allowed-failures)
        # started it again: stop it, and fail the submission.
        job.done.set_exception(grade.GradingLost(self.ledger.reason(job.student)))
        return task.cancel(asynchronous=True)  # in the client's event loop: awaited there

    def _forget(self, task, key):
        self._out.pop(task, None)
        self._keys.pop(key, None)

    def _finish(self, task, job):
        key = task.key
        lost = task.status == "cancelled" and not job.done.done()  # not by _on_event: the
        with self._lock:  # scheduler is gone. Else its slot is free: send the next one before
            self._forget(task, key)  # reading this one's result
        if not lost:
            if time.monotonic() > self._counted + SLOTS_EVERY:
                self.slots, self._counted = self._slots(), time.monotonic()
            self._pump()
        try:
            if job.done.done():  # failed already (_on_event)
                return
            if lost:
                raise ClusterLost(
                    "The cluster's scheduler went away while grading; what was graded is "
                    "recorded. Run grade again when it is back: it grades only what is missing."
                )
            try:
                worker, results = task.result()
            except (KilledWorker, GradingProcessDied):
                self._died(job, key)
                return
            finally:
                with self._lock:
                    self.ledger.ended(key)  # a death is charged first, by _died
            for path, (text, _) in zip(job.paths, results, strict=True):
                Path(path).write_text(text, encoding="utf-8")
            job.done.worker = worker
            job.done.set_result([problem for _, problem in results])
        except BaseException as error:
            job.done.set_exception(error)
        finally:
            task.release()

    def _died(self, job, key):
        """Its task died with its worker or grading process: charge it if it was grading
        there (Ledger), then fail it or send it again."""
        with self._lock:
            self.ledger.ended(key, died=True)
            charged = self.ledger.charged(job.student)
            if charged < KILLS_ALLOWED and job.sends < SENDS_ALLOWED:
                self._backlog.appendleft(job)
        if charged >= KILLS_ALLOWED:
            job.done.set_exception(grade.GradingLost(self.ledger.reason(job.student)))
        elif job.sends >= SENDS_ALLOWED:
            job.done.set_exception(
                grade.GradingLost(
                    f"its task was lost {job.sends} times with workers that died while it "
                    "waited on them (not while grading it): the cluster's workers keep dying"
                )
            )
        else:
            self._pump()

    def _slots(self):
        """Grading slots of the workers that accepted this run (workers may come and go)."""
        try:
            return self.client.run_on_scheduler(_slots, self.run)
        except Exception:
            return self.slots

    def __exit__(self, kind, value, trace):
        if kind is not None and self.client is not None:
            self._backlog.clear()
            try:
                self.client.cancel(list(self._out))
            except Exception:
                pass
        self._stack.close()
        return False
