"""The instructor's command line: a thin layer over the library in this package.

    python -m autograder release  ASSIGNMENT [--out DIR]
    python -m autograder collect  ASSIGNMENT SOURCE [--pattern REGEX]
    python -m autograder grade    ASSIGNMENT [--workers N] [--timeout S] [--memory-limit GB]
    python -m autograder feedback ASSIGNMENT
    python -m autograder report   ASSIGNMENT [--out DIR]

Every command works on the nbgrader course given by --course (default: the
current directory, or ./assignments from the project root) and its gradebook
(SQLite in the course folder, or --db-url, e.g. a PostgreSQL URL shared by
several graders). Exit status: 0 done, 1 done but some submissions could not
be graded or got no feedback, 2 nothing done (the message says why).
"""

import argparse
import sys

from .course import Course, InstructorError, find_course
from .table import text_table


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        course = Course(find_course(args.course), db_url=args.db_url)
        return args.command(course, args)
    except InstructorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", metavar="DIR", help="the nbgrader course folder (default: . or ./assignments)")
    parser.add_argument("--db-url", metavar="URL",
                        help="gradebook database URL (default: sqlite:///<course>/gradebook.db), "
                             "e.g. postgresql+psycopg://user@host/dbname")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    command = commands.add_parser("release", help="generate the student version and pack the student bundle (zip)",
                                  description="Run nbgrader's generate_assignment, then build, check and write "
                                              "<out>/<assignment>.zip; a bundle that fails its checks is not written.")
    command.add_argument("assignment")
    command.add_argument("--out", metavar="DIR", help="where to write the zip (default: <course>/release)")
    command.set_defaults(command=run_release)

    command = commands.add_parser("collect", help="import submissions from a folder or zip into submitted/",
                                  description="Import a class's submissions (nbgrader's submitted/<student>/<assignment>/, "
                                              "a flat folder of <student>.ipynb, or an LMS export) from a folder or zip.")
    command.add_argument("assignment")
    command.add_argument("source", help="folder or .zip with the submissions")
    command.add_argument("--pattern", metavar="REGEX",
                         help="regular expression with a group (?P<student>...) matched against each file's path")
    command.set_defaults(command=run_collect)

    command = commands.add_parser("grade", help="autograde the collected submissions in parallel",
                                  description="Autograde every collected submission on all cores; a submission that "
                                              "cannot be graded is recorded with its reason and the run goes on.")
    command.add_argument("assignment")
    command.add_argument("--workers", type=int, metavar="N", help="worker processes (default: one per core)")
    command.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeatable)")
    command.add_argument("--force", action="store_true", help="grade again submissions that were graded before")
    command.add_argument("--timeout", type=int, metavar="S", help="seconds per cell (default: the course's Execute.timeout)")
    command.add_argument("--notebook-timeout", type=int, metavar="S", help="seconds per notebook (default: 900)")
    command.add_argument("--memory-limit", type=float, metavar="GB", help="memory per notebook (default: 4)")
    command.add_argument("--kernel", action="store_true",
                         help="run each notebook, tests included, in one Jupyter kernel as stock nbgrader does, "
                              "instead of the sandbox with the tests outside the student's process "
                              "(faster to start; a student's code can fool its tests)")
    command.set_defaults(command=run_grade)

    command = commands.add_parser("feedback", help="write each graded student's HTML feedback",
                                  description="nbgrader's generate_feedback for every graded submission "
                                              "(hidden tests left out, the checks' diagnoses shown).")
    command.add_argument("assignment")
    command.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    command.set_defaults(command=run_feedback)

    command = commands.add_parser("report", help="grade CSV and plots of how the class did",
                                  description="Write the grade sheet (CSV), the distribution of total scores and "
                                              "the pass rate of each test cell (PNG).")
    command.add_argument("assignment")
    command.add_argument("--out", metavar="DIR", help="output folder (default: <course>/reports/<assignment>)")
    command.set_defaults(command=run_report)
    return parser


def run_release(course, args):
    from .bundle import release

    path = release(course, args.assignment, args.out)
    print(f"wrote {path}")
    return 0


def run_collect(course, args):
    from .collect import collect, format_table

    report = collect(course, args.assignment, args.source, pattern=args.pattern)
    print(format_table(report))
    return 1 if report.skipped else 0


def run_grade(course, args):
    from .sandbox import GiB
    from .grade import FAILED, GRADED, grade

    if args.timeout is not None:
        course.config.Execute.timeout = args.timeout
    if args.notebook_timeout is not None:
        course.config.LimitedExecute.notebook_timeout = args.notebook_timeout  # both modes
    if args.memory_limit is not None:
        course.config.LimitedExecute.memory_limit = int(args.memory_limit * GiB)
    outcomes = grade(course, args.assignment, workers=args.workers, students=args.student, force=args.force,
                     sandbox=not args.kernel)
    if not outcomes:
        print(f"Nothing to grade: every submission of {args.assignment} was graded before (use --force to grade again).")
        return 0
    print(text_table(["student", "score", "status", "reason", "flags"],
                     [[o.student, f"{o.score:g}/{o.max_score:g}", o.status, o.reason, "; ".join(o.flags)]
                      for o in outcomes]))
    counts = {status: sum(o.status == status for o in outcomes) for status in (GRADED, "incomplete", FAILED)}
    print(f"{len(outcomes)} submissions: {counts[GRADED]} graded, {counts['incomplete']} incomplete "
          f"(a cell crashed, hung or ran out of memory; the cells after it earned 0), {counts[FAILED]} failed (0 points).")
    flagged = sum(bool(o.flags) for o in outcomes)
    if flagged:
        print(f"{flagged} submissions flagged for a look (changed test cells, hooks, ...): "
              "their notebooks are marked flagged in the gradebook.")
    return 1 if counts[FAILED] else 0


def run_feedback(course, args):
    from .feedback import feedback

    results = feedback(course, args.assignment, students=args.student)
    failed = [(student, error) for student, _, error in results if error]
    print(f"feedback written for {len(results) - len(failed)} of {len(results)} students "
          f"in {course.folder('feedback')}")
    for student, error in failed:
        print(f"  {student}: {error}", file=sys.stderr)
    return 1 if failed else 0


def run_report(course, args):
    from .report import report

    written = report(course, args.assignment, args.out)
    for path in written.values():
        print(f"wrote {path}")
    return 0
