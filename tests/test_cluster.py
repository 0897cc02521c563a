"""Grading on a Dask cluster (`grade --cluster`): the same grades as on this machine.

The 50-submission class of tests/test_grade.py is graded (a) on a LocalCluster
(`local:2`) and (b) on a real `dask scheduler` with two `dask worker`
processes, all started here on localhost, with Dask's default configuration
(nothing set in their environment); scores, statuses and flags must be exactly
those of local grading (check_class). Then, on (b): a worker killed mid-run
(every submission still graded exactly once, with the same scores), a
submission whose grading kills its worker twice (`failed`, nobody else charged,
whatever the scheduler's allowed-failures), a worker host that cannot build the
sandbox (it refuses, and the parent names it), part of the integrity corpus (0
false credit), `c.Cluster.address` in nbgrader_config.py; and, each on a
cluster of its own, a parent interrupted with Ctrl-C and a scheduler lost
mid-run (a clear error, exit status 2, and a rerun grades only what is
missing). The Ledger, which decides whom a worker's death is charged to, is
also tested on its own.

Slow (each grades tens of notebooks on a shared 2-core machine): marked `slow`.
"""

import collections
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings

import pytest

from autograder.instructor import grade as grading
from autograder.instructor.cluster import KILLS_ALLOWED, Ledger
from autograder.instructor.course import Course, InstructorError
from autograder.instructor.grade import grade, load_status
from autograder.instructor.limits import GradingLimits
from autograder.instructor.status import Status
from tests.support.assignment_cases import Prepend
from tests.support.assignment_course import (
    copy_course,
    environment,
    nbgrader,
    read,
    release_notebook,
    source_notebook,
    submit,
)
from tests.support.class_submissions import ASSIGNMENT, KINDS, Kind, expected_scores, submit_class
from tests.test_grade import CLASS_SIZE, check_class, gradebook_scores, submit_with


def on_a_cluster(test):
    """A test that grades on a cluster: in the sandbox, and slow."""
    return pytest.mark.sandbox(pytest.mark.slow(test))


DASK = os.path.join(os.path.dirname(sys.executable), "dask")


def new_class(tmp_path, size=CLASS_SIZE, kinds=KINDS):
    root = copy_course(tmp_path)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    return Course(root), submit_class(root, size, kinds)


def counting_records(monkeypatch):
    """{student: times recorded into the gradebook}, counted from Grader.record."""
    counts = collections.Counter()
    real = grading.Grader.record

    def record(self, student, problems):
        counts[student] += 1
        return real(self, student, problems)

    monkeypatch.setattr(grading.Grader, "record", record)
    return counts


# ----------------------------------------------------------------- a real scheduler and workers


class DaskProcesses:
    """A `dask scheduler` and `dask worker` processes on localhost, started and ended here."""

    def __init__(self, folder):
        self.folder = folder
        self.file = folder / "scheduler.json"
        self.processes = []

    def start(self, command, env=None):
        log = open(self.folder / f"{command[0]}-{len(self.processes)}.log", "w")
        process = subprocess.Popen(
            [DASK, *command],
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: ended with its children (nanny, worker)
        )
        self.processes.append(process)
        return process

    def scheduler(self):
        """Started with Dask's defaults (allowed-failures 3): nothing a user must set."""
        self.file.unlink(missing_ok=True)
        self.start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(self.file)]
        )
        deadline = time.monotonic() + 60
        while not self.file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]
        return self.address

    def worker(self, name, env=None):
        """A worker as Dask starts it by default (under a nanny, a daemonic process)."""
        return self.start(
            ["worker", self.address, "--nthreads", "1", "--no-dashboard"]
            + ["--host", "127.0.0.1", "--name", name, "--memory-limit", "0"],
            env,
        )

    def cluster(self, *names):
        """A scheduler and the named workers, once they have all joined; the scheduler's
        process."""
        self.scheduler()
        for name in names:
            self.worker(name)
        self.wait_for(names)
        return self.processes[0]

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=30, set_as_default=False)

    def wait_for(self, names, timeout=120):
        with self.client() as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                running = {w["name"] for w in client.scheduler_info()["workers"].values()}
                if set(names) <= running:
                    return
                time.sleep(0.5)
        raise TimeoutError(f"workers {names} did not join")

    def stop(self, process):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def close(self):
        for process in reversed(self.processes):
            self.stop(process)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and two workers, w1 and w2."""
    processes = DaskProcesses(tmp_path_factory.mktemp("dask"))
    try:
        processes.cluster("w1", "w2")
        yield processes
    finally:
        processes.close()


def executing(dask_worker=None):
    """On a worker: the keys of the tasks it is running (not those waiting behind them)."""
    return [key for key, task in dask_worker.state.tasks.items() if task.state == "executing"]


def die_if_executing(key, dask_worker=None):
    """On a worker, in its event loop (so that its tasks cannot move meanwhile): SIGKILL this
    worker process if it is running `key`."""
    task = dask_worker.state.tasks.get(key)
    if task is not None and task.state == "executing":
        os.kill(os.getpid(), signal.SIGKILL)
    return False


def end_grading_process_if_executing(key, dask_worker=None):
    """On a worker: SIGKILL the grading processes of every run (cluster.GradingPlugin) if the
    worker is running `key`; the worker itself lives. Returns the pids killed."""
    task = dask_worker.state.tasks.get(key)
    if task is None or task.state != "executing":
        return []
    pids = [
        pid
        for plugin in dask_worker.plugins.values()
        if getattr(plugin, "pool", None) is not None
        for pid in plugin.pool._processes
    ]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Killer(threading.Thread):
    """Kills (SIGKILL) the worker process that is grading a chosen submission, `times` times.
    wanted(key) -> True for the task keys (grade-<student>-...) to kill the worker of; a worker
    is killed only while it runs such a task, not while the task waits there."""

    def __init__(self, cluster, wanted, times=1, after=0.0, neighbour=False):
        super().__init__(daemon=True)
        self.cluster, self.wanted, self.times, self.after = cluster, wanted, times, after
        self.neighbour = neighbour  # kill only while the worker holds another task too
        self.killed = []  # (key, worker address)
        self.held = []  # the other tasks the killed workers held (waiting behind the victim)
        self.done = threading.Event()

    def run(self):
        with self.cluster.client() as client:
            while not self.done.is_set() and len(self.killed) < self.times:
                try:
                    running = client.run(executing, on_error="ignore")
                    for address, keys in running.items():
                        chosen = [k for k in keys if self.wanted(k)]
                        if chosen and (chosen[0], address) not in self.killed:
                            self.kill(client, chosen[0], address)
                            break
                    else:
                        time.sleep(0.1)
                except Exception:  # a worker went away as it was asked
                    time.sleep(0.1)

    def kill(self, client, key, address):
        time.sleep(self.after)
        pid = client.run(os.getpid, workers=[address])[address]
        held = client.processing(workers=[address]).get(address, [])
        if self.neighbour and not set(held) - {key}:
            return
        answer = client.run(die_if_executing, key, workers=[address], on_error="ignore")
        if answer.get(address) is False:  # it had finished meanwhile: it lives
            return
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not alive(pid):
            self.killed.append((key, address))
            self.held += [k for k in held if k != key]


def set_allowed_failures(cluster, value):
    """The scheduler's allowed-failures, changed in place (Dask reads it at start-up)."""

    def change(dask_scheduler=None):
        dask_scheduler.allowed_failures = value

    with cluster.client() as client:
        client.run_on_scheduler(change)


def grade_while(killer, course):
    """Grade the course on the killer's cluster while the killer runs."""
    killer.start()
    try:
        return grade(course, ASSIGNMENT, cluster=killer.cluster.address, progress=False)
    finally:
        killer.done.set()
        killer.join()


# ----------------------------------------------------------------- the class, as on this machine


@on_a_cluster
def test_fifty_submissions_on_a_local_cluster(tmp_path):
    course, students = new_class(tmp_path)
    environment_before = dict(os.environ)
    outcomes = grade(course, ASSIGNMENT, cluster="local:2", progress=False)
    check_class(course, students, outcomes)
    # the nannies, in this process, set their workers' variables here; put back after the run
    assert dict(os.environ) == environment_before
    workers = collections.Counter(o.worker for o in outcomes if o.worker)
    sent = [s for s, kind in students.items() if not kind.not_json]
    assert len(workers) == 2 and sum(workers.values()) == len(sent)
    # not_json never leaves the parent: it fails in the rebuild
    assert all(o.worker is None for o in outcomes if students[o.student].not_json)


@on_a_cluster
def test_fifty_submissions_on_a_scheduler_with_two_workers(tmp_path, dask_cluster, monkeypatch):
    recorded = counting_records(monkeypatch)
    course, students = new_class(tmp_path)
    outcomes = grade(course, ASSIGNMENT, cluster=dask_cluster.address, progress=False)
    check_class(course, students, outcomes)
    assert set(recorded.values()) == {1}
    assert len({o.worker for o in outcomes if o.worker}) == 2


@on_a_cluster
def test_a_worker_killed_mid_run_costs_nothing(tmp_path, dask_cluster, monkeypatch):
    recorded = counting_records(monkeypatch)
    course, students = new_class(tmp_path, size=16)  # every kind twice
    killer = Killer(dask_cluster, lambda key: "_correct" in key, after=0.5)
    outcomes = grade_while(killer, course)
    assert len(killer.killed) == 1, "no worker was killed: the test proves nothing"
    check_class(course, students, outcomes)  # every submission, its designed score, once
    assert set(recorded.values()) == {1}
    assert set(recorded) == {s for s, kind in students.items() if not kind.not_json}
    ((key, dead),) = killer.killed
    victim = next(o for o in outcomes if key.startswith(f"grade-{o.student}-"))
    assert victim.status == Status.GRADED and victim.worker != dead
    dask_cluster.wait_for(["w1", "w2"])  # the nanny restarted it


@on_a_cluster
def test_a_grading_process_killed_mid_task_costs_one_try(tmp_path, dask_cluster, monkeypatch):
    """The worker lives, its grading process dies under a submission: the worker starts a new
    one, and the submission, charged one death, is graded on its next try, once."""
    recorded = counting_records(monkeypatch)
    course, students = new_class(tmp_path, size=4)
    victim = "a_slow"  # the instructor's solution, slowed: caught while it runs
    submit_with(course.root, victim, "sigmoid", "import time\ntime.sleep(3)\n")
    killed, stop = [], threading.Event()

    def kill():
        with dask_cluster.client() as client:
            while not killed and not stop.is_set():
                for address, keys in client.run(executing, on_error="ignore").items():
                    for key in keys:
                        if key.startswith(f"grade-{victim}-"):
                            time.sleep(0.5)
                            answer = client.run(
                                end_grading_process_if_executing, key, workers=[address]
                            )
                            killed.extend(answer[address])
                time.sleep(0.1)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    try:
        outcomes = grade(course, ASSIGNMENT, cluster=dask_cluster.address, progress=False)
    finally:
        stop.set()
        killer.join()
    assert killed, "no grading process was killed: the test proves nothing"
    by_student = {o.student: o for o in outcomes}
    assert (by_student[victim].status, by_student[victim].score) == (Status.GRADED, 14.0)
    assert set(recorded.values()) == {1} and victim in recorded
    for student, kind in students.items():
        expected = sum(expected_scores(course.root, kind).values())
        assert (by_student[student].status, by_student[student].score) == (kind.status, expected)


@on_a_cluster
@pytest.mark.parametrize("allowed_failures", [0, 3])
def test_a_submission_that_kills_workers_twice_fails_alone(
    tmp_path, dask_cluster, monkeypatch, allowed_failures
):
    """Whatever the scheduler's allowed-failures: 0 (each death comes back as a KilledWorker,
    the parent sends the task again) or Dask's default 3 (the scheduler reruns it, the
    parent stops it at the second death). The killed workers also held the next submission:
    it is charged nothing, and graded once."""
    recorded = counting_records(monkeypatch)
    set_allowed_failures(dask_cluster, allowed_failures)
    try:
        course, students = new_class(tmp_path, size=8)
        doomed = "a_doomed"  # sent first; the instructor's solution, slowed: each run lasts
        submit_with(course.root, doomed, "sigmoid", "import time\ntime.sleep(5)\n")
        killer = Killer(
            dask_cluster, lambda key: key.startswith(f"grade-{doomed}-"), times=2, neighbour=True
        )
        outcomes = grade_while(killer, course)
    finally:
        set_allowed_failures(dask_cluster, 3)
    assert len(killer.killed) == KILLS_ALLOWED == 2
    assert killer.held  # the killed workers held other submissions (neighbour=True)
    by_student = {o.student: o for o in outcomes}
    assert by_student[doomed].status == Status.FAILED, by_student[doomed]
    assert "grading it killed 2 workers" in by_student[doomed].reason
    assert all(address in by_student[doomed].reason for _, address in killer.killed)
    others = [o for o in outcomes if o.student != doomed]
    assert [(o.status, o.score) for o in others] == [
        (
            students[o.student].status,
            sum(expected_scores(course.root, students[o.student]).values()),
        )
        for o in others
    ]
    assert set(recorded.values()) == {1}  # nothing graded twice
    assert set(recorded) == {s for s, kind in students.items() if not kind.not_json}
    scores, flagged = gradebook_scores(course)
    assert set(scores[doomed].values()) == {0.0} and flagged[doomed]
    dask_cluster.wait_for(["w1", "w2"])


@on_a_cluster
def test_a_worker_that_cannot_build_the_sandbox_refuses_and_is_named(
    tmp_path, dask_cluster, capsys
):
    """A third worker without bubblewrap on its PATH: it joins, refuses, gets no task."""
    dask_cluster.worker("no-bwrap", {"PATH": "/nonexistent"})
    dask_cluster.wait_for(["w1", "w2", "no-bwrap"])
    try:
        with dask_cluster.client() as client:
            [refusing] = [
                a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "no-bwrap"
            ]
        course, students = new_class(tmp_path, size=4)
        outcomes = grade(course, ASSIGNMENT, cluster=dask_cluster.address, progress=False)
        notes = capsys.readouterr().err
        assert f"worker {refusing} refuses to grade: cannot build the sandbox" in notes, notes
        assert "`bwrap` is missing" in notes, notes
        assert len(outcomes) == 4 and refusing not in {o.worker for o in outcomes}
    finally:
        dask_cluster.stop(dask_cluster.processes.pop())


# ----------------------------------------------------------------- integrity, reruns


@on_a_cluster
def test_the_integrity_corpus_gives_no_false_credit_on_the_cluster(tmp_path, dask_cluster):
    """The `backward` and `mnist` entries of tests/integrity_corpus.py (22 of 68: every kind of
    attempt on a class's backward, and MNIST's data verified on the workers)."""
    from tests.support.integrity_corpus import ENTRIES
    from tests.test_integrity import cell_scores, describe, expected_cells, flag_kinds, generate

    entries = [e for e in ENTRIES if e.assignment in ("backward", "mnist")]
    root = copy_course(tmp_path)
    course = Course(root)
    generate(course, ["backward", "mnist"])
    for entry in entries:
        source = read(source_notebook(entry.assignment, root))
        release = read(release_notebook(entry.assignment, root))
        submit(root, entry.student, entry.assignment, entry.notebook(source, release, root))
    outcomes = {}
    for assignment in ("backward", "mnist"):
        for outcome in grade(
            course,
            assignment,
            cluster=dask_cluster.address,
            students=[e.student for e in entries if e.assignment == assignment],
            progress=False,
        ):
            outcomes[outcome.student] = outcome
    scores = cell_scores(course)
    wrong = {
        e.student: describe(e, outcomes[e.student], scores[e.student], root)
        for e in entries
        if (
            scores[e.student],
            outcomes[e.student].score,
            outcomes[e.student].status,
            flag_kinds(outcomes[e.student]),
        )
        != (expected_cells(e), e.deserved, e.status, set(e.flags))
    }
    false_credit = sum(max(outcomes[e.student].score - e.deserved, 0) for e in entries)
    assert (false_credit, wrong) == (0, {})


# Right, and 2 s slow to grade: a run is still grading these when it is interrupted, however
# fast the rest and however loaded the machine.
SLOW = Kind("slow", (Prepend("relu", "import time\ntime.sleep(2)\n"),))


@on_a_cluster
def test_an_interrupted_parent_grades_only_what_is_missing(tmp_path):
    course, students = new_class(tmp_path, size=12, kinds=KINDS[:6] + (SLOW,) * 6)
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--cluster", "local:2"]
    status_file = course.root / "grading" / f"{ASSIGNMENT}.json"
    first = subprocess.Popen(
        command,
        cwd=course.root,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Ctrl-C as at a terminal: started from a background job (a CI script's), the command
        # would inherit an ignored SIGINT and rightly grade on to the end.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if status_file.is_file() and len(load_status(course, ASSIGNMENT)) >= 4:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    try:
        out, err = first.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # as a user would, press it again; but say so
        warnings.warn("grade went on for 10 s after a Ctrl-C: pressed again", stacklevel=1)
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=120)
    graded_first = set(load_status(course, ASSIGNMENT))
    assert 4 <= len(graded_first) < len(students), (
        f"not interrupted mid-run, proves nothing: {out[-1500:]!r} {err[-1500:]!r}"
    )
    second = subprocess.run(
        command, cwd=course.root, env=environment(), capture_output=True, text=True, timeout=900
    )
    assert "Traceback" not in second.stderr, second.stderr[-3000:]
    regraded = {s for s in students if f"\n{s}  " in second.stdout}
    assert regraded == set(students) - graded_first, second.stdout
    assert "Graded per worker of the cluster: " in second.stdout
    scores, _ = gradebook_scores(course)
    assert scores == {s: expected_scores(course.root, k) for s, k in students.items()}


def grade_command(course, address):
    return [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--cluster", address]


def wait_for_records(course, count, process, timeout=600):
    """Until `count` students are in the status file (or `process` ended)."""
    status_file = course.root / "grading" / f"{ASSIGNMENT}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if status_file.is_file() and len(load_status(course, ASSIGNMENT)) >= count:
            return
        time.sleep(0.2)


@on_a_cluster
def test_a_lost_scheduler_stops_the_run_clearly_and_a_rerun_grades_the_rest(tmp_path):
    """The scheduler is killed mid-run: `grade` says so and exits with status 2, without a
    traceback; with a new scheduler, the rerun grades exactly the submissions not recorded."""
    course, students = new_class(tmp_path, size=10)
    first = DaskProcesses(tmp_path)
    try:
        scheduler = first.cluster("w1")
        run = subprocess.Popen(
            grade_command(course, first.address),
            cwd=course.root,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_records(course, 4, run)
        first.stop(scheduler)
        out, err = run.communicate(timeout=120)
    finally:
        first.close()
    graded_first = set(load_status(course, ASSIGNMENT))
    assert 4 <= len(graded_first) < len(students), "not lost mid-run: proves nothing"
    assert run.returncode == 2, (out, err)
    assert "error: The cluster's scheduler went away while grading" in err, err
    assert "Traceback" not in err, err[-3000:]
    second = DaskProcesses(tmp_path)
    try:
        second.cluster("w2")
        again = subprocess.run(
            grade_command(course, second.address),
            cwd=course.root,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        second.close()
    # 1: some submitters were not `graded` (the class has failing kinds), as on this machine
    assert again.returncode == 1 and "Traceback" not in again.stderr, again.stderr[-3000:]
    regraded = {s for s in students if f"\n{s}  " in again.stdout}
    assert regraded == set(students) - graded_first, again.stdout
    scores, _ = gradebook_scores(course)
    assert scores == {s: expected_scores(course.root, k) for s, k in students.items()}


@on_a_cluster
def test_the_runs_limits_hold_on_the_workers(tmp_path):
    """grade's limits (limits.GradingLimits, from its options) travel with the run: a cell past
    its 5 s limit is stopped on the worker, as it is on this machine."""
    root = copy_course(tmp_path)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    submit_with(root, "slow_sigmoid", "sigmoid", "import time\ntime.sleep(60)\n")
    course, limits = Course(root), GradingLimits(cell_timeout=5)
    [here] = grade(course, ASSIGNMENT, workers=1, limits=limits, progress=False)
    [there] = grade(
        course, ASSIGNMENT, cluster="local:1", limits=limits, force=True, progress=False
    )
    assert there.worker and "past its 5 s limit" in there.reason, there
    assert (there.status, there.score, there.reason) == (Status.INCOMPLETE, here.score, here.reason)


@pytest.mark.slow
def test_a_cluster_address_that_is_not_one_is_named_with_the_fix(tmp_path):
    course, _ = new_class(tmp_path, size=1)
    with pytest.raises(InstructorError, match="tcp://grader-host:8786"):
        grade(course, ASSIGNMENT, cluster="http://example", progress=False)


# ----------------------------------------------------------------- the configuration


def set_cluster_address(course, address):
    """c.Cluster.address in the course's nbgrader_config.py; the Course read again."""
    config = course.root / "nbgrader_config.py"
    config.write_text(config.read_text() + f"\nc.Cluster.address = {address!r}\n")
    return Course(course.root)


@on_a_cluster
def test_the_cluster_address_in_nbgrader_config_is_used_and_off_overrides_it(
    tmp_path, dask_cluster
):
    course, students = new_class(tmp_path, size=2)  # correct, blank
    course = set_cluster_address(course, dask_cluster.address)
    with dask_cluster.client() as client:
        workers = set(client.scheduler_info()["workers"])
    there = grade(course, ASSIGNMENT, progress=False)
    assert len(there) == 2 and {o.worker for o in there} <= workers, there
    here = grade(course, ASSIGNMENT, cluster="off", force=True, progress=False)
    assert [o.worker for o in here] == [None, None]
    assert [(o.status, o.score) for o in here] == [(o.status, o.score) for o in there]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@on_a_cluster
def test_an_unreachable_scheduler_is_a_clear_error_and_grades_nobody(tmp_path):
    """The address from nbgrader_config.py, where nothing listens: exit status 2, the address
    and the fixes named, no traceback, nothing recorded."""
    course, _ = new_class(tmp_path, size=2)
    address = f"tcp://127.0.0.1:{free_port()}"
    course = set_cluster_address(course, address)
    run = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", ASSIGNMENT],
        cwd=course.root,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert f"error: Cannot reach the Dask scheduler at {address}" in run.stderr, run.stderr
    assert "--cluster off" in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert load_status(course, ASSIGNMENT) == {}


# ----------------------------------------------------------------- the ledger


def test_a_death_is_charged_only_to_the_submission_that_was_grading():
    ledger = Ledger()
    ledger.started("k1", "ann", "w1")
    # w1 dies: k1 was grading there; k2 (bob's) waited behind it and never started
    ledger.ended("k1", died=True)
    ledger.ended("k2", died=True)
    assert (ledger.charged("ann"), ledger.charged("bob")) == (1, 0)
    # ann's submission, sent again, starts on w2; the scheduler starts it again on w3: the
    # run on w2 died
    ledger.started("k3", "ann", "w2")
    ledger.started("k3", "ann", "w3")
    assert ledger.charged("ann") == KILLS_ALLOWED == 2
    assert "killed 2 workers or their grading processes (w1, w2" in ledger.reason("ann")
    # a run that ended with its result is charged nothing, whatever comes after
    ledger.started("k4", "bob", "w3")
    ledger.ended("k4")
    ledger.ended("k4", died=True)
    assert ledger.charged("bob") == 0
