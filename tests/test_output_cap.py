"""One output cap (protocol.OUTPUT_LIMIT): the student's process keeps that much of a cell's
stdout and stderr, and the grader that much of any output text it stores."""

import subprocess
import sys
from pathlib import Path

from autograder.instructor import trusted
from autograder.instructor.protocol import OUTPUT_LIMIT

HERE = Path(trusted.__file__).parent


def test_the_grader_keeps_the_first_output_limit_characters():
    assert trusted._text("y" * OUTPUT_LIMIT) == "y" * OUTPUT_LIMIT
    kept = trusted._text("y" * (OUTPUT_LIMIT + 5))
    assert kept == "y" * OUTPUT_LIMIT + "\n[... 5 more characters]"


def test_the_student_process_keeps_as_much():
    # In a process of its own, as in the sandbox: student_process.py imports protocol.py
    # from its own folder.
    code = (
        "import student_process as s\n"
        "stream = s.CappedText()\n"
        "stream.write('x' * (s.OUTPUT_LIMIT - 1)); stream.write('xyz')\n"
        "print(len(stream.value().split('\\n')[0]), stream.value().split('\\n')[1])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == [
        str(OUTPUT_LIMIT),
        "[...",
        "2",
        "more",
        "characters",
        "not",
        "kept]",
    ]
