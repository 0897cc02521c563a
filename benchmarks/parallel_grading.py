"""End-to-end grading time: the pipeline against stock `nbgrader autograde`, with and without the
sandbox.

    .venv/bin/python -m benchmarks.parallel_grading [--size 50] [--workers 2]

Builds one class of `--size` submissions of `backward` (correct, blank, partly
right and broken ones, from tests/support/class_submissions.py), puts the same class in
three temporary copies of the course, and grades it there:

1. stock `nbgrader autograde backward` (one process, one notebook after another);
2. `python -m autograder grade backward --workers 2 --kernel`: the parallel
   pipeline running notebooks in Jupyter kernels as nbgrader does;
3. `python -m autograder grade backward --workers 2`: the same with the tests
   outside the student's process, in the sandbox (the default).

Each is timed from the command's start to its end, start-up included. Prints the
times, the speed-up of the default pipeline (3) over stock nbgrader (target: at
least 1.8; that of 2 is printed too), the cost of the sandbox, 3 over 2 (target:
at most 1.3), and whether every test cell's score agrees in all three.
Exit status 1 if a target is missed or a score differs. Run it on an otherwise
idle machine: it measures CPU time shared by 2 workers.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.assignment_course import copy_course, environment, grades, nbgrader
from tests.support.class_submissions import ASSIGNMENT, KINDS, submit_class

SPEEDUP_TARGET = 1.8  # the default pipeline (sandbox) over stock nbgrader
OVERHEAD_TARGET = 1.3  # sandbox over kernel pipeline


def timed(command, cwd):
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=50, help="submissions in the class")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    kinds = [
        kind for kind in KINDS if kind.stock
    ]  # what stock nbgrader grades to the designed score

    with tempfile.TemporaryDirectory() as scratch:
        courses = {}
        for name in ("stock", "kernel", "sandbox"):
            course = copy_course(Path(scratch) / name)
            nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
            students = submit_class(course, args.size, kinds)
            courses[name] = course
        print(
            f"{args.size} submissions of {ASSIGNMENT}: "
            + ", ".join(
                f"{sum(k.name == kind.name for k in students.values())} {kind.name}"
                for kind in kinds
            )
        )

        grade = [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            ASSIGNMENT,
            "--workers",
            str(args.workers),
        ]
        seconds = {
            "stock": timed(
                [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], courses["stock"]
            ),
            "kernel": timed(grade + ["--kernel"], courses["kernel"]),
            "sandbox": timed(grade, courses["sandbox"]),
        }
        labels = {
            "stock": "stock nbgrader autograde (serial)",
            "kernel": f"grade --workers {args.workers} --kernel",
            "sandbox": f"grade --workers {args.workers} (sandbox)",
        }
        for name, value in seconds.items():
            print(f"{labels[name]:36s} {value:7.1f} s")

        scores = {
            name: {s: v for (a, s), v in grades(course).items() if a == ASSIGNMENT}
            for name, course in courses.items()
        }
        same = (
            scores["stock"] == scores["kernel"] == scores["sandbox"]
            and len(scores["stock"]) == args.size
        )
        speedup = seconds["stock"] / seconds["sandbox"]
        overhead = seconds["sandbox"] / seconds["kernel"]
        print(
            f"speed-up over stock nbgrader: {speedup:.2f}x (target >= {SPEEDUP_TARGET}x); "
            f"with --kernel: {seconds['stock'] / seconds['kernel']:.2f}x"
        )
        print(
            f"cost of the sandbox: {overhead:.2f}x the kernel pipeline (target <= "
            f"{OVERHEAD_TARGET}x)"
        )
        print(
            "graded: "
            + ", ".join(f"{name} {len(v)}" for name, v in scores.items())
            + f" of {args.size}; every test cell's score identical: {same}"
        )
        if not same:
            for student in sorted(scores["stock"]):
                row = {name: scores[name].get(student) for name in scores}
                if len({str(v) for v in row.values()}) > 1:
                    print(f"  {student}: {row}")
        return 0 if same and speedup >= SPEEDUP_TARGET and overhead <= OVERHEAD_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
