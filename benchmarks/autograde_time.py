"""Seconds to autograde one student's six notebooks, assignment by assignment.

    .venv/bin/python -m benchmarks.autograde_time [--repeat 1]

Works in a temporary copy of assignments/: generates the release, submits the
instructor's source notebooks as one student, then times `nbgrader autograde
<assignment>` once per assignment (each time includes nbgrader's own start-up,
a few seconds, most of it imports), and once
`nbgrader autograde '*'` for all six in one run. The budget for the six is
3 minutes; the exit status is 1 when it is exceeded. MNIST comes from MNIST_DIR (default
../shared/datasets/mnist).
"""

import argparse
import sys
import tempfile
import time

from tests.support.assignment_course import (
    assignments,
    copy_course,
    grades,
    nbgrader,
    points,
    read,
    source_notebook,
    submit,
)

BUDGET = 180.0  # seconds for all six notebooks of one student
STUDENT = "benchmark_student"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each assignment this many times (best is kept)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        course = copy_course(scratch)
        nbgrader(course, "generate_assignment", "*", "--force")
        for name in assignments():
            submit(course, STUDENT, name, read(source_notebook(name, course)))

        seconds = {}
        for name in assignments():
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                nbgrader(course, "autograde", name, "--student", STUDENT, "--force")
                runs.append(time.perf_counter() - start)
            seconds[name] = min(runs)
            print(f"{name:10s} {seconds[name]:6.1f} s", flush=True)

        start = time.perf_counter()
        nbgrader(course, "autograde", "*", "--student", STUDENT, "--force")
        together = time.perf_counter() - start

        scores = grades(course)
        for name in assignments():
            full = sum(points(read(source_notebook(name))).values())
            got = sum(scores[name, STUDENT].values())
            assert got == full, f"{name}: the instructor's notebook scored {got} of {full}"

    total = sum(seconds.values())
    print(f"{'sum':10s} {total:6.1f} s  (six runs, six nbgrader start-ups)")
    print(f"{'one run':10s} {together:6.1f} s  (nbgrader autograde '*' for the student)")
    worst = max(total, together)
    verdict = "within" if worst <= BUDGET else "OVER"
    print(f"{verdict} the {BUDGET:.0f} s budget; every notebook scored full marks")
    return 0 if worst <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
