"""Grading throughput on this machine's worker processes and on a Dask cluster.

    .venv/bin/python -m benchmarks.cluster_grading [--size 50] [--repeat 1]

Builds one class of `--size` submissions of `backward` (tests/support/class_submissions.py)
and grades it, each time in a fresh copy of the course, four ways:
`grade --workers 1`, `grade --cluster local:1`, `grade --workers 2`,
`grade --cluster local:2` (a LocalCluster: the scheduler and the workers are
processes of this machine talking over TCP on localhost, as on a real cluster).
Prints for each the notebooks per second (end to end, and without the
cluster's start-up: the LocalCluster, the workers' checks), and the cluster's
overhead per notebook against local grading with as many processes (target:
within 15 %). Every run must give the same scores. The load average is printed
with each run: on a shared machine the numbers move with it.
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from autograder.instructor import cluster as cluster_module
from autograder.instructor import grade as grading
from autograder.instructor.course import Course
from autograder.instructor.grade import grade
from tests.support.assignment_course import copy_course, grades, nbgrader
from tests.support.class_submissions import ASSIGNMENT, submit_class

OVERHEAD_TARGET = 0.15  # the cluster's time per notebook over local grading's, less 1


def load():
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


class TimedStart(cluster_module.ClusterPool):
    """ClusterPool that notes how long connecting (start-up and the workers' checks) took."""

    started = []  # (seconds, CPU seconds of every process so far) when the workers were ready

    def __enter__(self):
        start = time.perf_counter()
        result = super().__enter__()
        TimedStart.started.append((time.perf_counter() - start, tree_cpu_seconds()))
        return result


PARENT_STEPS = ("rebuild", "record", "disagreements", "flag", "fail")
parent_seconds = []


def timing_parent():
    """Count the time the parent spends in its own steps (rebuild, record, ...): what one
    `grade` command does one notebook after another, whatever the cluster."""
    for step in PARENT_STEPS:
        real = getattr(grading.Grader, step)

        def timed(self, *args, real=real):
            start = time.thread_time()  # CPU time: what the step costs, whatever the load
            try:
                return real(self, *args)
            finally:
                parent_seconds.append(time.thread_time() - start)

        timed.__name__ = real.__name__
        setattr(grading.Grader, step, timed)


def tree_cpu_seconds():
    """cpu_seconds(), the processes still running included (the cluster's, while it runs)."""
    import psutil

    total = 0.0
    root = psutil.Process()
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def cpu_seconds():
    """CPU time of this process and of its ended children (and theirs: the workers, their
    grading processes and sandboxes are all waited for when a run ends)."""
    own, children = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(scratch, name, size, **where):
    root = copy_course(Path(scratch) / name)
    nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    submit_class(root, size)
    before = load()
    TimedStart.started.clear()
    start, start_cpu = time.perf_counter(), cpu_seconds()
    outcomes = grade(Course(root), ASSIGNMENT, progress=False, **where)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - start_cpu
    startup, startup_cpu = TimedStart.started[0] if TimedStart.started else (0.0, start_cpu)
    scores = {s: v for (a, s), v in grades(root).items() if a == ASSIGNMENT}
    assert len(outcomes) == size, (name, len(outcomes))
    return seconds, startup, (cpu, startup_cpu - start_cpu), scores, f"{before} -> {load()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50, help="submissions in the class")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the four runs")
    args = parser.parse_args()
    cluster_module.ClusterPool = TimedStart  # grade() looks it up at call time
    timing_parent()
    print(f"{args.size} submissions of {ASSIGNMENT}, {os.cpu_count()} cores")
    print(
        f"{'run':28s} {'seconds':>8s} {'nb/s':>6s} {'start-up':>9s} {'nb/s w/o':>9s} "
        f"{'CPU s/nb':>8s} {'w/o':>8s}  "
        "load (1/5/15 min)"
    )
    results, reference, same = {}, None, True
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.repeat):
            for processes in (1, 2):
                for name, where in (
                    (f"grade --workers {processes}", {"workers": processes}),
                    (f"grade --cluster local:{processes}", {"cluster": f"local:{processes}"}),
                ):
                    seconds, startup, cpu, scores, loads = run(
                        scratch, f"{round_}-{processes}-{len(results)}", args.size, **where
                    )
                    reference = reference or scores
                    same = same and scores == reference
                    results.setdefault(name, []).append((seconds, startup, cpu))
                    print(
                        f"{name:28s} {seconds:8.1f} {args.size / seconds:6.2f} {startup:9.1f} "
                        f"{args.size / (seconds - startup):9.2f} {cpu[0] / args.size:8.2f} "
                        f"{(cpu[0] - cpu[1]) / args.size:8.2f}  {loads}",
                        flush=True,
                    )
    missed = False
    for processes in (1, 2):
        local = min(results[f"grade --workers {processes}"])
        remote = min(results[f"grade --cluster local:{processes}"])
        per_local, per_cluster = local[0] / args.size, remote[0] / args.size
        per_steady = (remote[0] - remote[1]) / args.size
        overhead = per_steady / per_local - 1
        cpu_local = local[2][0] / args.size
        cpu_cluster = (remote[2][0] - remote[2][1]) / args.size
        cpu_overhead = cpu_cluster / cpu_local - 1
        missed = missed or min(overhead, cpu_overhead) > OVERHEAD_TARGET
        print(
            f"{processes} process(es): wall clock: local {per_local:.2f} s/notebook, cluster "
            f"{per_cluster:.2f} end to end, {per_steady:.2f} without its start-up "
            f"({remote[1]:.1f} s): {overhead:+.0%}; CPU: local {cpu_local:.2f} s/notebook, "
            f"cluster {cpu_cluster:.2f} without its start-up ({remote[2][1]:.1f} CPU s): "
            f"{cpu_overhead:+.0%} "
            f"(target <= {OVERHEAD_TARGET:.0%}); an idle core grades about "
            f"{1 / cpu_local:.2f} notebooks/s"
        )
    graded = len(results) * args.size * args.repeat
    print(
        f"the parent's own steps (rebuild, record, ...): {sum(parent_seconds) / graded:.3f} "
        f"s/notebook: one `grade` command records at most {graded / sum(parent_seconds):.1f} "
        "notebooks/s"
    )
    print(f"every run gave the same scores: {same}")
    return 1 if missed or not same else 0


if __name__ == "__main__":
    sys.exit(main())
