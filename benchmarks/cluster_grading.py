"""Grading throughput on this machine's worker processes and on a Dask cluster, and where the
cluster's time goes.

    .venv/bin/python -m benchmarks.cluster_grading [--size 30] [--repeat 3] [--processes 1 2]
    .venv/bin/python -m benchmarks.cluster_grading --ablate     # also without each speed-up

Builds one class of `--size` submissions of `backward` (tests/support/class_submissions.py)
and grades it, each time in a fresh copy of the course, with `grade --workers N` and
`grade --cluster local:N` for each N of `--processes` (a LocalCluster: the scheduler and the
workers are processes of this machine talking over TCP on localhost, as on a real cluster),
the contenders alternating, `--repeat` rounds. `--ablate` adds the cluster without the
prefetched submission (PREFETCH = 0: the worker waits for a round trip to the parent between
two), without QUIET (Dask's profiler and event-loop ticks at their defaults), and with the
grading processes in the environment Dask's nanny gives a worker (MALLOC_TRIM_THRESHOLD_).

For each run it prints the wall clock and the CPU seconds per notebook, with the cluster's
start-up apart (the LocalCluster, the workers' grading processes and their checks; for
local grading, its grading processes), and where the
CPU went: the parent's main thread (rebuild, record), the parent's other threads (for the
cluster: its scheduler, nannies and client), the Dask worker processes, the grading processes
(with the students' sandboxed processes). CPU seconds are read from the process tree just
before the pool is shut down, so that nothing is lost with a process that is killed. Then,
per N, the cluster's overhead per notebook against local grading (target: within 15 %), from
the medians of the rounds. Every run must give the same scores. On a shared machine the wall
clock moves with the other work (the load average is printed with each run); CPU seconds are
steadier.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from autograder.instructor import cluster as cluster_module
from autograder.instructor import grade as grading
from autograder.instructor.course import Course
from autograder.instructor.grade import grade
from tests.support.assignment_course import copy_course, grades, nbgrader
from tests.support.class_submissions import ASSIGNMENT, submit_class

OVERHEAD_TARGET = 0.15  # the cluster's time per notebook over local grading's, less 1


class Without(cluster_module.GradingPlugin):
    """The grading plugin with some of the worker's speed-ups undone, in the worker process
    (a LocalCluster's workers import this module to unpickle it)."""

    off = {}  # name in cluster.py -> what replaces it on the worker

    async def setup(self, worker):
        for name, value in self.off.items():
            setattr(cluster_module, name, value)
        return await super().setup(worker)


class WithoutQuiet(Without):
    off = {"quiet": lambda worker: None}


class WithDasksMalloc(Without):
    off = {"grading_environment": lambda: None}


ABLATIONS = {  # the cluster without one of its speed-ups: what each buys; "": the names
    "": {"PREFETCH": None, "QUIET": None, "GradingPlugin": None},
    "no prefetch": {"PREFETCH": 0},
    "no quiet": {"QUIET": {}, "GradingPlugin": WithoutQuiet},
    "Dask's malloc setting": {"GradingPlugin": WithDasksMalloc},
}
ROLES = ("parent: main thread", "parent: other threads", "dask workers", "grading processes")


def load():
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def cpu_by_role(cluster):
    """CPU seconds so far of this process and its descendants, by role (ROLES). A process's
    ended children (the students' sandboxes) count with it."""
    roles = Counter()
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    me = psutil.Process()
    for thread in me.threads():
        main = names.get(thread.id) == "MainThread"
        roles[ROLES[0] if main else ROLES[1]] += thread.user_time + thread.system_time
    ended = me.cpu_times()
    roles[ROLES[1]] += ended.children_user + ended.children_system  # earlier runs' processes

    def visit(process, role):
        try:
            times = process.cpu_times()
            children = process.children()
            command = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            return
        if "resource_tracker" in command:
            role = ROLES[1]
        roles[role] += times.user + times.system + times.children_user + times.children_system
        for child in children:
            visit(child, ROLES[3] if role == ROLES[2] else role)

    for child in me.children():
        visit(child, ROLES[2] if cluster else ROLES[3])
    return roles


class Clock:
    """Wall clock and CPU by role at the start of a run, when the cluster is ready, and just
    before the pool shuts down."""

    def __init__(self):
        self.marks = {}

    def mark(self, name, cluster):
        self.marks[name] = (time.perf_counter(), cpu_by_role(cluster))


CLOCK = Clock()


class TimedCluster(cluster_module.ClusterPool):
    def __enter__(self):
        result = super().__enter__()
        CLOCK.mark("ready", True)
        return result

    def __exit__(self, *exc):
        CLOCK.mark("end", True)
        return super().__exit__(*exc)


class TimedPool(grading.WorkerPool):
    def __enter__(self):
        """Start every grading process first (as the cluster's plugin does), so that the
        start-up is apart here too."""
        result = super().__enter__()
        for started in [self.submit(time.sleep, 0.5) for _ in range(self._max_workers)]:
            started.result()
        CLOCK.mark("ready", False)
        return result

    def __exit__(self, *exc):
        CLOCK.mark("end", False)
        return super().__exit__(*exc)


def run(scratch, name, size, variant, **where):
    """Grade a fresh class; returns the wall clock, start-up and CPU figures and the scores."""
    root = copy_course(Path(scratch) / name)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    submit_class(root, size)
    before = load()
    cluster = "cluster" in where
    saved = {name: getattr(cluster_module, name) for name in ABLATIONS[""]}
    for name, value in (ABLATIONS[variant] if variant else {}).items():
        setattr(cluster_module, name, value)
    try:
        CLOCK.marks.clear()
        CLOCK.mark("start", cluster)
        outcomes = grade(Course(root), ASSIGNMENT, progress=False, **where)
    finally:
        for name, value in saved.items():
            setattr(cluster_module, name, value)
    assert len(outcomes) == size, (name, len(outcomes))
    start, end = CLOCK.marks["start"], CLOCK.marks["end"]
    ready = CLOCK.marks.get("ready", start)
    scores = {s: v for (a, s), v in grades(root).items() if a == ASSIGNMENT}
    return {
        "seconds": end[0] - start[0],
        "startup": ready[0] - start[0],
        "cpu": {role: end[1][role] - start[1][role] for role in ROLES},
        "startup cpu": sum(ready[1][role] - start[1][role] for role in ROLES),
        "scores": scores,
        "load": f"{before} -> {load()}",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=30, help="submissions in the class")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the contenders")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--ablate", action="store_true", help="also without each speed-up")
    args = parser.parse_args()
    cluster_module.ClusterPool = TimedCluster  # grade() looks them up at call time
    grading.WorkerPool = TimedPool
    variants = ["", *([v for v in ABLATIONS if v] if args.ablate else [])]
    n = args.size
    print(f"{n} submissions of {ASSIGNMENT}, {os.cpu_count()} cores; CPU s per notebook by role:")
    print("  " + "; ".join(f"{i + 1} {role}" for i, role in enumerate(ROLES)))
    header = f"{'run':48s} {'wall s':>7s} {'s/nb':>5s} {'start':>6s} {'CPU/nb':>6s} "
    print(header + " ".join(f"{i + 1:>5d}" for i in range(len(ROLES))) + "  load (1/5/15 min)")
    results, reference, same, runs = {}, None, True, 0
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(args.repeat):
            for processes in args.processes:
                contenders = [(f"grade --workers {processes}", "", {"workers": processes})]
                for variant in variants:
                    label = f"grade --cluster local:{processes}" + (f" ({variant})" * bool(variant))
                    contenders.append((label, variant, {"cluster": f"local:{processes}"}))
                for name, variant, where in contenders:
                    runs += 1
                    result = run(scratch, f"run-{runs}", n, variant, **where)
                    reference = reference or result["scores"]
                    same = same and result["scores"] == reference
                    results.setdefault(name, []).append(result)
                    steady = result["seconds"] - result["startup"]
                    cpu = sum(result["cpu"].values()) - result["startup cpu"]
                    roles = " ".join(f"{result['cpu'][role] / n:5.2f}" for role in ROLES)
                    print(
                        f"{name:48s} {result['seconds']:7.1f} {steady / n:5.2f} "
                        f"{result['startup']:6.1f} {cpu / n:6.2f} {roles}  {result['load']}",
                        flush=True,
                    )
    print("(s/nb and CPU/nb: without the start-up of the grading processes and the cluster)")
    missed = False
    for processes in args.processes:
        local = results[f"grade --workers {processes}"]
        wall_local = statistics.median((r["seconds"] - r["startup"]) / n for r in local)
        cpu_local = statistics.median(
            (sum(r["cpu"].values()) - r["startup cpu"]) / n for r in local
        )
        for name, runs in results.items():
            if not name.startswith(f"grade --cluster local:{processes}"):
                continue
            wall = statistics.median((r["seconds"] - r["startup"]) / n for r in runs)
            cpu = statistics.median((sum(r["cpu"].values()) - r["startup cpu"]) / n for r in runs)
            startup = statistics.median(r["startup"] for r in runs)
            if name == f"grade --cluster local:{processes}":
                missed = missed or min(wall / wall_local, cpu / cpu_local) - 1 > OVERHEAD_TARGET
            print(
                f"{name}: wall clock {wall:.2f} s/notebook against {wall_local:.2f} "
                f"({wall / wall_local - 1:+.0%}), CPU {cpu:.2f} s/notebook against "
                f"{cpu_local:.2f} ({cpu / cpu_local - 1:+.0%}); start-up {startup:.1f} s "
                f"(medians of {len(runs)}; target <= {OVERHEAD_TARGET:+.0%})"
            )
    print(f"every run gave the same scores: {same}")
    return 1 if missed or not same else 0


if __name__ == "__main__":
    sys.exit(main())
