"""End-to-end grading time: `python -m autograder grade --workers 2` against stock `nbgrader autograde`.

    .venv/bin/python benchmarks/parallel_grading.py [--size 50] [--workers 2]

Builds one class of `--size` submissions of `backward` (correct, blank, partly
right and broken ones, from tests/class_submissions.py), puts the same class in
two temporary copies of the course, and grades it there: once with stock
`nbgrader autograde backward` (one process, one notebook after another), once
with the pipeline. Both are timed from the command's start to its end, start-up
included. Prints both times, the speed-up, and whether every score of every test
cell agrees. Exit status 1 if the scores differ or the speed-up is under 1.8.
Run it on an otherwise idle machine: it measures CPU time shared by 2 workers.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from assignment_course import copy_course, environment, grades, nbgrader  # noqa: E402
from class_submissions import ASSIGNMENT, KINDS, submit_class  # noqa: E402

TARGET = 1.8


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
    kinds = [kind for kind in KINDS if kind.stock]  # what stock nbgrader grades to the designed score

    with tempfile.TemporaryDirectory() as scratch:
        courses = {}
        for name in ("stock", "pipeline"):
            course = copy_course(Path(scratch) / name)
            nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
            students = submit_class(course, args.size, kinds)
            courses[name] = course
        print(f"{args.size} submissions of {ASSIGNMENT}: " +
              ", ".join(f"{sum(k.name == kind.name for k in students.values())} {kind.name}" for kind in kinds))

        stock = timed([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], courses["stock"])
        print(f"stock nbgrader autograde (serial): {stock:7.1f} s", flush=True)
        pipeline = timed([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--workers", str(args.workers)],
                         courses["pipeline"])
        print(f"autograder grade --workers {args.workers}:     {pipeline:7.1f} s", flush=True)

        stock_scores = {s: v for (a, s), v in grades(courses["stock"]).items() if a == ASSIGNMENT}
        pipeline_scores = {s: v for (a, s), v in grades(courses["pipeline"]).items() if a == ASSIGNMENT}
        same = stock_scores == pipeline_scores and len(stock_scores) == args.size
        speedup = stock / pipeline
        print(f"speed-up: {speedup:.2f}x (target {TARGET}x); graded: stock {len(stock_scores)}, "
              f"pipeline {len(pipeline_scores)} of {args.size}; every cell's score identical: {same}")
        if not same:
            for student in sorted(set(stock_scores) | set(pipeline_scores)):
                if stock_scores.get(student) != pipeline_scores.get(student):
                    print(f"  {student}: stock {stock_scores.get(student)} pipeline {pipeline_scores.get(student)}")
        return 0 if same and speedup >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
