"""Grading on a Dask cluster (`grade --cluster`): the same grades as on this machine.

The 50-submission class of tests/test_grade.py is graded (a) on a LocalCluster
(`local:2`) and (b) on a real `dask scheduler` with two `dask worker`
processes, all started here on localhost; scores, statuses and flags must be
exactly those of local grading (check_class). Then, on (b): a worker killed
mid-run (every submission still graded exactly once, with the same scores), a
submission whose grading kills its worker twice (`failed`, nobody else
affected), a worker host that cannot build the sandbox (it refuses, and the
parent names it), part of the integrity corpus (0 false credit), and a parent
interrupted with Ctrl-C and run again (it grades only what is missing).

Slow (each grades tens of notebooks on a shared 2-core machine): marked `slow`.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from autograder.instructor import grade as grading
from autograder.instructor.course import Course, InstructorError
from autograder.instructor.grade import grade, load_status
from autograder.instructor.limits import GradingLimits
from autograder.instructor.status import Status
from tests.support.assignment_course import (
    copy_course,
    environment,
    nbgrader,
    read,
    release_notebook,
    source_notebook,
    submit,
)
from tests.support.class_submissions import ASSIGNMENT, KINDS, expected_scores, submit_class
from tests.test_grade import CLASS_SIZE, check_class, gradebook_scores, submit_with

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # classes graded in the sandbox

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
        self.start(
            ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(self.file)],
            {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"},
        )
        deadline = time.monotonic() + 60
        while not self.file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]
        return self.address

    def worker(self, name, env=None):
        return self.start(
            ["worker", self.address, "--nthreads", "1", "--no-dashboard"]
            + ["--host", "127.0.0.1", "--name", name, "--memory-limit", "0"],
            {"DASK_DISTRIBUTED__WORKER__DAEMON": "False", **(env or {})},
        )

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
    """A scheduler (allowed-failures 1) and two workers, w1 and w2."""
    processes = DaskProcesses(tmp_path_factory.mktemp("dask"))
    try:
        processes.scheduler()
        processes.worker("w1")
        processes.worker("w2")
        processes.wait_for(["w1", "w2"])
        yield processes
    finally:
        processes.close()


class Killer(threading.Thread):
    """Kills (SIGKILL) the worker process that is grading a chosen submission, `times` times.
    wanted(key) -> True for the task keys (grade-<student>-...) to kill the worker of."""

    def __init__(self, cluster, wanted, times=1, after=0.0):
        super().__init__(daemon=True)
        self.cluster, self.wanted, self.times, self.after = cluster, wanted, times, after
        self.killed = []  # (key, worker address)
        self.done = threading.Event()

    def run(self):
        with self.cluster.client() as client:
            while not self.done.is_set() and len(self.killed) < self.times:
                for address, keys in client.processing().items():
                    chosen = [k for k in keys if self.wanted(k) and (k, address) not in self.killed]
                    if chosen:
                        time.sleep(self.after)
                        pid = client.run(os.getpid, workers=[address])[address]
                        os.kill(pid, signal.SIGKILL)
                        self.killed.append((chosen[0], address))
                        time.sleep(1)  # until the scheduler has seen it
                        break
                time.sleep(0.1)


def grade_while(killer, course):
    """Grade the course on the killer's cluster while the killer runs."""
    killer.start()
    try:
        return grade(course, ASSIGNMENT, cluster=killer.cluster.address, progress=False)
    finally:
        killer.done.set()
        killer.join()


# ----------------------------------------------------------------- the class, as on this machine


def test_fifty_submissions_on_a_local_cluster(tmp_path):
    course, students = new_class(tmp_path)
    outcomes = grade(course, ASSIGNMENT, cluster="local:2", progress=False)
    check_class(course, students, outcomes)
    workers = collections.Counter(o.worker for o in outcomes if o.worker)
    sent = [s for s, kind in students.items() if not kind.not_json]
    assert len(workers) == 2 and sum(workers.values()) == len(sent)
    # not_json never leaves the parent: it fails in the rebuild
    assert all(o.worker is None for o in outcomes if students[o.student].not_json)


def test_fifty_submissions_on_a_scheduler_with_two_workers(tmp_path, dask_cluster, monkeypatch):
    recorded = counting_records(monkeypatch)
    course, students = new_class(tmp_path)
    outcomes = grade(course, ASSIGNMENT, cluster=dask_cluster.address, progress=False)
    check_class(course, students, outcomes)
    assert set(recorded.values()) == {1}
    assert len({o.worker for o in outcomes if o.worker}) == 2


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


def test_a_submission_that_kills_workers_twice_fails_alone(tmp_path, dask_cluster):
    course, students = new_class(tmp_path, size=6)
    [doomed] = [s for s, kind in students.items() if kind.name == "correct"]
    killer = Killer(dask_cluster, lambda key: key.startswith(f"grade-{doomed}-"), times=2)
    outcomes = grade_while(killer, course)
    assert len(killer.killed) == 2
    by_student = {o.student: o for o in outcomes}
    assert (
        by_student[doomed].status == Status.FAILED
        and "killed 2 workers" in by_student[doomed].reason
    )
    others = [o for o in outcomes if o.student != doomed]
    assert [(o.status, o.score) for o in others] == [
        (
            students[o.student].status,
            sum(expected_scores(course.root, students[o.student]).values()),
        )
        for o in others
    ]
    scores, flagged = gradebook_scores(course)
    assert set(scores[doomed].values()) == {0.0} and flagged[doomed]
    dask_cluster.wait_for(["w1", "w2"])


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


def test_the_integrity_corpus_gives_no_false_credit_on_the_cluster(tmp_path, dask_cluster):
    """The `backward` and `mnist` entries of tests/integrity_corpus.py (22 of 68: every kind of
    attempt on a class's backward, and MNIST's data verified on the workers)."""
    from tests.support.integrity_corpus import ENTRIES
    from tests.test_integrity import cell_scores, expected_cells, flag_kinds, generate

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
        e.student: (outcomes[e.student].score, outcomes[e.student].status, scores[e.student])
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


def test_an_interrupted_parent_grades_only_what_is_missing(tmp_path):
    course, students = new_class(tmp_path, size=12)
    command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--cluster", "local:2"]
    status_file = course.root / "grading" / f"{ASSIGNMENT}.json"
    first = subprocess.Popen(
        command, cwd=course.root, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if status_file.is_file() and len(load_status(course, ASSIGNMENT)) >= 4:
            break
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    first.communicate(timeout=120)
    graded_first = set(load_status(course, ASSIGNMENT))
    assert 4 <= len(graded_first) < len(students), "not interrupted mid-run: proves nothing"
    second = subprocess.run(
        command, cwd=course.root, env=environment(), capture_output=True, text=True, timeout=900
    )
    assert "Traceback" not in second.stderr, second.stderr[-3000:]
    regraded = {s for s in students if f"\n{s}  " in second.stdout}
    assert regraded == set(students) - graded_first, second.stdout
    assert "Graded per worker of the cluster: " in second.stdout
    scores, _ = gradebook_scores(course)
    assert scores == {s: expected_scores(course.root, k) for s, k in students.items()}


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


def test_a_cluster_address_that_is_not_one_is_named_with_the_fix(tmp_path):
    course, _ = new_class(tmp_path, size=1)
    with pytest.raises(InstructorError, match="tcp://grader-host:8786"):
        grade(course, ASSIGNMENT, cluster="http://example", progress=False)
