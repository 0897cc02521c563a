"""End-to-end grading time: the pipeline against stock `nbgrader autograde`, start-up included.

    .venv/bin/python -m benchmarks.parallel_grading              # both classes, 2 workers
    .venv/bin/python -m benchmarks.parallel_grading --size 0     # the 24-submission class only
    .venv/bin/python -m benchmarks.parallel_grading --no-mixed --size 50

Two classes of `backward` submissions (tests/support/class_submissions.py):

- the 24-submission class (`--no-mixed` leaves it out): 12 correct, 6 blank
  (the release unchanged), 3 files that are not JSON, 3 with a syntax error;
- `--size` submissions (default 50; 0 leaves it out) cycling through the kinds
  stock nbgrader grades to the designed score (correct, blank, partly right, a
  syntax error).

Each class is put in three temporary copies of the course, and graded in a fresh copy of
the right one for every run, in `--repeat` rounds (default 3) that alternate the three:

1. stock `nbgrader autograde backward` on the submissions already in
   `submitted/` (one process, one notebook after another);
2. `python -m autograder collect backward EXPORT`, then
   `python -m autograder grade backward --workers 2 --kernel`: the parallel
   pipeline running notebooks in Jupyter kernels as nbgrader does;
3. the same collect, then `grade --workers 2`: the tests outside the student's
   process, in the sandbox (the default).

Every command is timed from its start to its end, start-up included; what is printed
and compared is the median of the rounds (each round's total is listed too). Also
printed: each grading command's fixed cost, from its start until its first
notebook starts (a Jupyter kernel or a sandboxed student process appears among
its descendants; polled every 0.1 s). Targets, per class: the default pipeline
(3) at least 3x stock nbgrader, `--kernel` (2) at least 1.8x, the sandbox at
most 1.3x the kernel pipeline, and every test cell's score identical in all
three (the files that are not JSON excepted: stock nbgrader cannot grade them,
and collect does not take them). Exit status 1 if a target is missed or a
score differs. Prints the load average before and after each class: run it
on an otherwise idle machine (it measures CPU time shared by 2 workers).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from tests.support.assignment_course import copy_course, environment, grades, nbgrader
from tests.support.class_submissions import ASSIGNMENT, KINDS, submit_class

SPEEDUP_TARGET = 3.0  # collect + grade (sandbox) over stock nbgrader
KERNEL_TARGET = 1.8  # collect + grade --kernel over stock nbgrader
OVERHEAD_TARGET = 1.3  # sandbox over kernel pipeline
# What a notebook's start looks like among a grading command's descendants.
NOTEBOOK_STARTS = ("ipykernel_launcher", "student_process.py")


def mixed_class():
    """The 24-submission class: 12 correct, 6 blank, 3 not JSON, 3 syntax errors."""
    kind = {k.name: k for k in KINDS}
    return (
        [kind["correct"]] * 12
        + [kind["blank"]] * 6
        + [kind["not_json"]] * 3
        + [kind["syntax_error"]] * 3
    )


def first_notebook(process):
    """Wait until a notebook starts under `process`: True, or None if the process ended first."""
    parent = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            children = parent.children(recursive=True)
        except psutil.Error:
            return None
        for child in children:
            try:
                command = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if any(mark in command for mark in NOTEBOOK_STARTS):
                return True
        time.sleep(0.1)
    return None


def timed(command, cwd, log):
    """(seconds, seconds until the first notebook started or None) of one command."""
    start = time.perf_counter()
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment(), stdout=output, stderr=subprocess.STDOUT
        )
        started = first_notebook(process)
        fixed = time.perf_counter() - start if started else None
        process.wait()
    seconds = time.perf_counter() - start
    if process.returncode not in (0, 1):  # 1: some submission needs a look
        sys.exit(f"{' '.join(command)} failed:\n{Path(log).read_text()[-4000:]}")
    return seconds, fixed


def load():
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def bench_class(name, kinds, size, workers, scratch, repeat):
    """Grade one class three ways, `repeat` alternating rounds; prints the medians; returns
    whether every target was met."""
    scratch = Path(scratch) / name
    pristine = {}
    for mode in ("stock", "kernel", "sandbox"):
        course = copy_course(scratch / "pristine" / mode)
        nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
        students = submit_class(course, size, kinds)
        if mode != "stock":  # the pipeline collects the class from an export (nbgrader layout)
            export = course.parent / "export"
            export.mkdir()
            shutil.move(course / "submitted", export / "submitted")
        pristine[mode] = course.parent
    counts = {}
    for kind in students.values():
        counts[kind.name] = counts.get(kind.name, 0) + 1
    print(
        f"\n{name}: {size} submissions of {ASSIGNMENT} ("
        + ", ".join(f"{n} {kind}" for kind, n in counts.items())
        + f"); {repeat} alternating rounds, medians; {load()}",
        flush=True,
    )

    module = [sys.executable, "-m", "autograder"]
    grade = module + ["grade", ASSIGNMENT, "--workers", str(workers)]
    collect = module + ["collect", ASSIGNMENT, "../export"]
    commands = {
        "stock": [("autograde", [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT])],
        "kernel": [("collect", collect), ("grade", grade + ["--kernel"])],
        "sandbox": [("collect", collect), ("grade", grade)],
    }
    labels = {
        "stock": "stock nbgrader autograde (serial)",
        "kernel": f"collect + grade --workers {workers} --kernel",
        "sandbox": f"collect + grade --workers {workers} (sandbox)",
    }
    rounds = {mode: [] for mode in commands}  # per round: ({step: seconds}, fixed seconds)
    scores = {mode: [] for mode in commands}  # per round: {student: score}
    comparable = {s for s, kind in students.items() if kind.stock}
    for _ in range(repeat):
        for mode, steps in commands.items():
            run = scratch / "run"
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(pristine[mode], run, symlinks=True)
            course = run / "course"
            parts, fixed = {}, None
            for step, command in steps:
                parts[step], started = timed(command, course, scratch / f"{mode}-{step}.log")
                if step != "collect":
                    fixed = started
            rounds[mode].append((parts, fixed))
            scores[mode].append(
                {
                    s: v
                    for (a, s), v in grades(course).items()
                    if a == ASSIGNMENT and s in comparable
                }
            )

    seconds = {}
    for mode, runs in rounds.items():
        totals = [sum(parts.values()) for parts, _ in runs]
        seconds[mode] = statistics.median(totals)
        detail = " + ".join(
            f"{step} {statistics.median(parts[step] for parts, _ in runs):.1f}"
            for step in runs[0][0]
        )
        starts = [fixed for _, fixed in runs if fixed]
        first = f"{statistics.median(starts):.1f} s" if starts else "no notebook started"
        print(
            f"  {labels[mode]:40s} {seconds[mode]:7.1f} s ({detail}); "
            f"start to first notebook: {first}; rounds: " + ", ".join(f"{t:.1f}" for t in totals),
            flush=True,
        )

    reference = scores["stock"][0]
    same = len(reference) == len(comparable) and all(
        found == reference for runs in scores.values() for found in runs
    )
    speedup = seconds["stock"] / seconds["sandbox"]
    kernel = seconds["stock"] / seconds["kernel"]
    overhead = seconds["sandbox"] / seconds["kernel"]
    print(f"  speed-up over stock nbgrader: {speedup:.2f}x (target >= {SPEEDUP_TARGET}x)")
    print(f"  with --kernel: {kernel:.2f}x (target >= {KERNEL_TARGET}x)")
    print(
        f"  cost of the sandbox: {overhead:.2f}x the kernel pipeline (target <= {OVERHEAD_TARGET}x)"
    )
    print(
        "  graded: "
        + ", ".join(f"{mode} {len(runs[-1])}" for mode, runs in scores.items())
        + f" of the {len(comparable)} stock nbgrader can grade; "
        f"every test cell's score identical in every round: {same}; {load()}",
        flush=True,
    )
    if not same:
        for student in sorted(comparable):
            row = {
                f"{m} {i + 1}": r.get(student)
                for m, runs in scores.items()
                for i, r in enumerate(runs)
            }
            if len({str(v) for v in row.values()}) > 1:
                print(f"    {student}: {row}")
    return (
        same
        and speedup >= SPEEDUP_TARGET
        and kernel >= KERNEL_TARGET
        and overhead <= OVERHEAD_TARGET
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=50, help="submissions in the cycled class (0: leave it out)"
    )
    parser.add_argument("--no-mixed", action="store_true", help="leave out the 24-submission class")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--repeat", type=int, default=3, help="alternating rounds of the three contenders"
    )
    args = parser.parse_args()
    met = True
    with tempfile.TemporaryDirectory() as scratch:
        if not args.no_mixed:
            kinds = mixed_class()
            met &= bench_class(
                "24-submission class", kinds, len(kinds), args.workers, scratch, args.repeat
            )
        if args.size:
            cycled = [kind for kind in KINDS if kind.stock]
            met &= bench_class(
                f"{args.size}-submission class",
                cycled,
                args.size,
                args.workers,
                scratch,
                args.repeat,
            )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
