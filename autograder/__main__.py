"""`python -m autograder ...`: the instructor's command line (see autograder/instructor/cli.py)."""

from .instructor.cli import main

raise SystemExit(main())
