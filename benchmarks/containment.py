"""The grader's own memory while it grades submissions that flood it: output and allocation bombs.

    .venv/bin/python -m benchmarks.containment

Grades, in this process (as a grading worker does), the instructor's `forward`
notebook with one solution cell replaced by a bomb: 1 GB printed by a cell, 1 GB
printed inside a method the tests call, 1 GB written straight to the process's
stdout, an allocation loop, and a message crafted by hand on the channel (an
8 MB header of nested lists, written past the student process's own encoder).
For each it prints the score the notebook still earns (what the other cells are
worth), what the student's process came to, and the grader's peak resident
memory before and after (ru_maxrss). Needs root (the
sandbox) and MNIST_DIR is not used.
"""

import resource
import time

from autograder.instructor.rebuild import rebuild
from autograder.instructor.sandbox import hidden_paths
from autograder.instructor.trusted import run_notebook
from tests.support.assignment_cases import Prepend
from tests.support.assignment_course import COURSE, points, read, source_notebook

GB = 10**9
BOMBS = {
    "1 GB printed by a cell": ("relu", "for _ in range(10**6):\n    print('x' * 999)\n"),
    "1 GB printed in a method": ("relu", ""),  # the print goes into ReLU.forward (see main)
    "1 GB written to fd 1": (
        "relu",
        "import os\nfor _ in range(1000):\n    os.write(1, b'x' * 10**6)\n",
    ),
    "allocation loop": (
        "relu",
        "import numpy\nhog = []\nwhile True:\n    hog.append(numpy.ones(10**7))\n",
    ),
    "crafted 8 MB header": ("relu", ""),  # written to the channel inside ReLU.forward (see main)
}
IN_FORWARD = {  # code run at the start of ReLU.forward, while a test calls it
    "1 GB printed in a method": "for _ in range(10**6):\n    print('x' * 999)\n",
    "crafted 8 MB header": (
        "import os, struct, sys, time\n"
        "header = b'{\"body\": ' + b'[' * 4_000_000 + b']' * 4_000_000 + b', \"arrays\": []}'\n"
        "view = memoryview(struct.pack('>II', len(header), 0) + header)\n"
        "while view:\n"
        "    try:\n"
        "        view = view[os.write(int(sys.argv[2]), view):]\n"
        "    except BlockingIOError:\n"
        "        time.sleep(0.001)\n"
    ),
}


def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    source = read(source_notebook("forward"))
    full = points(source)
    hidden = hidden_paths(COURSE)
    print(
        f"{'submission':28s} {'score':>7s} {'seconds':>8s} {'grader peak before':>19s} "
        f"{'after':>8s}  student's process"
    )
    for name, (cell, code) in BOMBS.items():
        submitted = read(source_notebook("forward"))
        if name in IN_FORWARD:  # the bomb goes off while a test calls forward
            target = next(
                c
                for c in submitted.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "relu"
            )
            code = "".join(" " * 8 + line + "\n" for line in IN_FORWARD[name].splitlines())
            target.source = target.source.replace(
                "        return np.maximum(x, 0.0)", code + "        return np.maximum(x, 0.0)"
            )
        else:
            Prepend(cell, code).apply(submitted.cells)
        graded, _ = rebuild(source, submitted)
        before, start = peak_mb(), time.perf_counter()
        problems = run_notebook(graded, hidden, cell_timeout=60)
        seconds, after = time.perf_counter() - start, peak_mb()
        failed = {
            c.metadata["nbgrader"]["grade_id"]
            for c in graded.cells
            if c.metadata.get("nbgrader", {}).get("grade")
            and any(o.output_type == "error" for o in c.outputs)
        }
        score = sum(p for cell_id, p in full.items() if cell_id not in failed)
        print(
            f"{name:28s} {score:>3g}/{sum(full.values()):<3g} {seconds:8.1f} {before:16.0f} MB "
            f"{after:5.0f} MB  "
            f"{'; '.join(problems) or 'kept running'}"
        )


if __name__ == "__main__":
    main()
