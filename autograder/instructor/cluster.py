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
(sandbox.py) with the same limits, as on this machine.

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

Faults: a worker that dies mid-task has the task rescheduled by the scheduler
on another one; the scheduler's `allowed-failures` (1 for `local:N`; start a
scheduler with DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 for the same)
says how many deaths a task may cause before it is given up (KilledWorker),
and that submission is then `failed` with the reason. A grading process that
dies under a live worker is restarted and the task retried once (`retries`).
A lost scheduler stops the run: what was recorded stays recorded, and a rerun
grades only what is missing (the status file and the fingerprints, grade.py).
"""

import asyncio
import collections
import hashlib
import logging
import multiprocessing
import re
import sys
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import ExitStack
from dataclasses import replace
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
ALLOWED_FAILURES = 1  # worker deaths a task may cause and still be retried (local:N)
RETRIES = 1  # a grading process that died under a live worker: tried once more
CONNECT_TIMEOUT = 30  # seconds to reach the scheduler
WORKER_TIMEOUT = 120  # seconds for a first worker to join and pass its checks
SLOTS_EVERY = 5  # seconds between counts of the workers' slots (workers come and go)
DAEMON_FIX = "DASK_DISTRIBUTED__WORKER__DAEMON=False"


class ClusterLost(InstructorError):
    """The scheduler went away: the run stops; a rerun grades what is missing."""


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
            await worker.set_resources(**{self.run: slots})
            # The scheduler looks again at the tasks waiting for a worker (those of a worker
            # that died while no other could take them) when a worker starts running, not when
            # one offers a new resource: pause and resume to have it look.
            worker.status = WorkerStatus.paused
            worker.status = WorkerStatus.running
        else:
            logger.error("This worker refuses the grading run %s: %s", self.run, self.refusal)

    def _start(self, slots):
        if multiprocessing.current_process().daemon:
            return (
                "it is a daemonic process (Dask's default for a worker under a nanny), which "
                f"cannot start its grading processes: start the worker with {DAEMON_FIX} in its "
                "environment"
            )
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
        """Run the notebooks in a grading process; a process that died is replaced and the
        task fails (the scheduler retries it once)."""
        pool = self.pool
        try:
            return pool.submit(_execute_texts, notebooks).result()
        except BrokenProcessPool:
            with self._lock:
                if self.pool is pool:
                    self.pool = self._new_pool(pool._max_workers)
                    pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError(
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


def grade_task(run, notebooks):
    """The task: one submission's rebuilt notebooks [(name, JSON)] -> (worker address,
    [(executed JSON, problem)])."""
    worker = get_worker()
    plugin = worker.plugins.get(run)
    if plugin is None or plugin.refusal is not None or plugin.pool is None:
        raise RuntimeError(
            f"worker {worker.address} cannot grade: {plugin.refusal if plugin else 'no plugin'}"
        )
    return worker.address, plugin.execute(notebooks)


def _slots(run, dask_scheduler=None):
    return int(sum(dask_scheduler.resources.get(run, {}).values()))


def _refusal(run, dask_worker=None):
    plugin = dask_worker.plugins.get(run)
    return plugin.refusal if plugin is not None else "the grading plugin did not start"


def dask_setup(worker):
    """`dask worker --preload autograder.instructor.cluster`: a worker that cannot build the
    sandbox stops at start-up with the reason, instead of joining and refusing every run."""
    if multiprocessing.current_process().daemon:
        raise RuntimeError(f"this worker cannot grade: start it with {DAEMON_FIX}")
    try:
        check_available()
    except SandboxUnavailable as error:
        raise RuntimeError(f"this worker cannot grade: {error}") from None


# ----------------------------------------------------------------- in the parent


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
        self.slots = 0  # tasks out at a time: the accepting workers' threads
        self._counted = time.monotonic()  # when slots was last asked of the scheduler
        self._stack = ExitStack()
        self._futures = {}  # dask future -> our Future, for the tasks out
        self._backlog = collections.deque()  # (student, paths, our Future) not sent yet
        self._lock = threading.RLock()

    def __enter__(self):
        try:
            self._connect()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _connect(self):
        if self.kind == "local":
            self._stack.enter_context(
                dask.config.set(
                    {
                        "distributed.worker.daemon": False,
                        "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                    }
                )
            )
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
                "(`dask scheduler`) and its workers, or grade on this machine without --cluster."
            ) from None
        self._stack.callback(self.client.close)
        try:
            self.client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
        except TimeoutError:
            raise InstructorError(
                f"No worker joined the scheduler at {address} within {WORKER_TIMEOUT} s: start "
                f"workers (`{DAEMON_FIX} dask worker {address} --nthreads 1`)."
            ) from None
        plugin = GradingPlugin(
            self.run, self.setup, self.course_root, self.data, code_fingerprint()
        )
        self.client.register_plugin(plugin, name=self.run)
        self._stack.callback(self._unregister)
        refusals = self.client.run(_refusal, self.run)
        refused = {worker: why for worker, why in refusals.items() if why}
        for worker, why in sorted(refused.items()):
            self.say(f"worker {worker} refuses to grade: {why}")
        if len(refused) == len(refusals):
            raise InstructorError(
                f"Every worker of the cluster at {address} refused to grade (above); nothing was "
                "graded. Fix the worker hosts, or grade on this machine without --cluster."
            )
        self.slots = self._slots()

    def _unregister(self):
        try:
            self.client.unregister_worker_plugin(self.run)
        except Exception:  # the scheduler is gone already: its workers drop the run with it
            pass

    def execute(self, student, paths):
        """Queue one submission's notebooks (the files at `paths`) as one task; returns a
        concurrent Future of [problem or None] per notebook, the executed notebooks written
        back to `paths` before it completes. future.worker: the worker that graded it."""
        done = Future()
        done.worker = None
        with self._lock:
            self._backlog.append((student, paths, done))
        self._pump()
        return done

    def _pump(self):
        """Send queued submissions while a grading slot is free. Only as many tasks as slots
        are out at a time: a worker then holds only the task it is grading, so when it dies,
        that task alone counts a death (the scheduler counts one for every task it holds)."""
        with self._lock:
            while self._backlog and len(self._futures) < max(self.slots, 1):
                student, paths, done = self._backlog.popleft()
                notebooks = [(Path(p).name, Path(p).read_text(encoding="utf-8")) for p in paths]
                task = self.client.submit(
                    grade_task,
                    self.run,
                    notebooks,
                    key=f"grade-{student}-{uuid.uuid4().hex[:8]}",
                    resources={self.run: 1},
                    retries=RETRIES,
                    pure=False,
                )
                self._futures[task] = done
                task.add_done_callback(
                    lambda task, paths=paths, done=done: self._finish(task, paths, done)
                )

    def _finish(self, task, paths, done):
        with self._lock:  # its slot is free: send the next one before reading this one's result
            self._futures.pop(task, None)
        if task.status != "cancelled":
            if time.monotonic() > self._counted + SLOTS_EVERY:
                self.slots, self._counted = self._slots(), time.monotonic()
            self._pump()
        try:
            if task.status == "cancelled":
                raise ClusterLost(
                    "The cluster's scheduler went away while grading; what was graded is "
                    "recorded. Run grade again when it is back: it grades only what is missing."
                )
            try:
                worker, results = task.result()
            except KilledWorker as error:
                raise grade.GradingLost(
                    f"grading it killed {error.allowed_failures + 1} workers (ended by the "
                    "system, out of memory, or by hand); it was not graded, and no other "
                    "submission was affected"
                ) from None
            for path, (text, _) in zip(paths, results, strict=True):
                Path(path).write_text(text, encoding="utf-8")
            done.worker = worker
            done.set_result([problem for _, problem in results])
        except BaseException as error:
            done.set_exception(error)
        finally:
            task.release()

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
                self.client.cancel(list(self._futures))
            except Exception:
                pass
        self._stack.close()
        return False
