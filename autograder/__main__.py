"""`python -m autograder ...`.

`check NOTEBOOK` is the students' command (autograder/student/handin.py); every
other command is the instructor's (autograder/instructor/cli.py), which the
student toolkit does not include.
"""

import sys

if sys.argv[1:2] == ["check"]:
    from .student.handin import main

    raise SystemExit(main(sys.argv[2:]))
try:
    from .instructor.cli import main
except ModuleNotFoundError as error:
    if error.name != f"{__package__}.instructor":
        raise
    raise SystemExit(
        "python -m autograder: this is the student toolkit, whose command is\n"
        "    python -m autograder check NOTEBOOK.ipynb\n"
        "(run the notebook as the grader will and see which visible tests pass)."
    ) from None
raise SystemExit(main())
