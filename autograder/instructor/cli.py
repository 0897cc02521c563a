"""The instructor's command line: a thin layer over the library in this package.

    python -m autograder release  ASSIGNMENT [--out DIR]
    python -m autograder collect  ASSIGNMENT SOURCE [--pattern REGEX]
    python -m autograder grade    ASSIGNMENT [--workers N] [--force] [--due DATE] [--timeout S]
                                             [--memory-limit GB]
    python -m autograder feedback ASSIGNMENT [--zip canvas|moodle]
    python -m autograder report   ASSIGNMENT [--out DIR] [--roster FILE]
    python -m autograder export   ASSIGNMENT canvas|moodle [--roster FILE] [--out FILE]

Every command works on the nbgrader course given by --course (default: the
current directory, or ./assignments from the project root) and its gradebook
(SQLite in the course folder, or --db-url, e.g. a PostgreSQL URL shared by
several graders); both go before or after the command. Exit status: 0 done
and every submitter graded; 1 done, but some submission is incomplete,
failed, flagged, not collected or got no feedback (the output says which);
2 nothing done (the message says why and what to do).
"""

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from .course import Course, InstructorError, find_course
from .limits import GradingLimits
from .sandbox import GiB
from .table import text_table


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    # nbgrader starts `alembic` (installed beside this interpreter) when it creates a gradebook:
    # find it even when the environment was not activated.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    try:
        course = Course(find_course(args.course), db_url=args.db_url)
        return args.command(course, args)
    except InstructorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: the workers and their sandboxes are already stopped
        print(
            "\ninterrupted: what was finished is kept (grade records each submission as soon "
            "as it is graded); run the same command again to do the rest.",
            file=sys.stderr,
        )
        return 130


def global_options(parser, defaults=True):
    """--course and --db-url; on the subcommands they default to "not given", so that the
    value given before the subcommand stands."""
    keep = {} if defaults else {"default": argparse.SUPPRESS}
    parser.add_argument(
        "--course",
        metavar="DIR",
        help="the nbgrader course folder (default: . or ./assignments)",
        **keep,
    )
    parser.add_argument(
        "--db-url",
        metavar="URL",
        help="gradebook database URL (default: sqlite:///<course>/gradebook.db), "
        "e.g. postgresql+psycopg://user@host/dbname",
        **keep,
    )


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m autograder", description=__doc__.split("\n\n")[0]
    )
    global_options(parser)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    def command(name, **kwargs):
        sub = commands.add_parser(name, **kwargs)
        global_options(sub, defaults=False)
        sub.add_argument("assignment")
        return sub

    sub = command(
        "release",
        help="generate the student version and pack the student bundle (zip)",
        description="Run nbgrader's generate_assignment, then build, check and write "
        "<out>/<assignment>.zip; a bundle that fails its checks is not written.",
    )
    sub.add_argument(
        "--out", metavar="DIR", help="where to write the zip (default: <course>/release)"
    )
    sub.set_defaults(command=run_release)

    sub = command(
        "collect",
        help="import submissions from a folder or zip into submitted/",
        description="Import a class's submissions (an LMS export from Canvas or Moodle, nbgrader's "
        "exchange or submitted/ layout, a folder per student, or a flat folder of "
        "<student>.ipynb) from a folder or zip, and write grading/<assignment>-collect.csv.",
    )
    sub.add_argument("source", help="folder or .zip with the submissions")
    sub.add_argument(
        "--pattern",
        metavar="REGEX",
        help="regular expression with a group (?P<student>...) matched against each file's path",
    )
    sub.set_defaults(command=run_collect)

    sub = command(
        "grade",
        help="autograde the new or changed submissions in parallel",
        description="Autograde every collected submission that is new or changed since it was last "
        "graded, on all cores; a submission that cannot be graded is recorded with its "
        "reason and the run goes on. Writes the grades CSV.",
    )
    sub.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per core)"
    )
    sub.add_argument(
        "--student", action="append", metavar="ID", help="grade only this student (repeatable)"
    )
    sub.add_argument(
        "--force",
        action="store_true",
        help="grade again submissions that are unchanged since graded",
    )
    sub.add_argument(
        "--due",
        metavar="DATE",
        help="the assignment's due date, stored as nbgrader's (e.g. '2024-03-01 17:00:00 UTC'); "
        "late submissions get the course's late penalty",
    )
    sub.add_argument(
        "--timeout",
        type=int,
        metavar="S",
        help="seconds per cell (default: the course's Execute.timeout)",
    )
    sub.add_argument(
        "--notebook-timeout",
        type=int,
        metavar="S",
        help=f"seconds per notebook (default: {GradingLimits.notebook_timeout}; 0: no limit)",
    )
    sub.add_argument(
        "--memory-limit",
        type=float,
        metavar="GB",
        help=f"memory per notebook (default: {GradingLimits.memory / GiB:g})",
    )
    sub.add_argument(
        "--cluster",
        metavar="ADDRESS",
        help="grade on a Dask cluster: its scheduler's address (tcp://HOST:8786), or local:N for "
        "N worker processes here; off: on this machine (default: Cluster.address in "
        "nbgrader_config.py, else this machine)",
    )
    sub.add_argument(
        "--kernel",
        action="store_true",
        help="run each notebook, tests included, in one Jupyter kernel as stock nbgrader does, "
        "instead of the sandbox with the tests outside the student's process "
        "(faster to start; a student's code can fool its tests)",
    )
    sub.set_defaults(command=run_grade)

    sub = command(
        "feedback",
        help="write each graded student's HTML feedback",
        description="nbgrader's generate_feedback for every graded submission "
        "(hidden tests left out, the checks' diagnoses shown, math typeset offline).",
    )
    sub.add_argument(
        "--student", action="append", metavar="ID", help="only this student (repeatable)"
    )
    sub.add_argument(
        "--zip",
        choices=("canvas", "moodle"),
        metavar="LMS",
        help="also write feedback/<assignment>-<LMS>.zip named for the LMS's bulk feedback upload",
    )
    sub.set_defaults(command=run_feedback)

    sub = command(
        "report",
        help="grade CSV and plots of how the class did",
        description="Write the grade sheet (CSV, a row for every submitter), the distribution of "
        "total scores and the pass rate of each test cell (PNG).",
    )
    sub.add_argument(
        "--out", metavar="DIR", help="output folder (default: <course>/reports/<assignment>)"
    )
    sub.add_argument(
        "--roster",
        metavar="FILE",
        help="the LMS's class list (Canvas gradebook export, Moodle grading worksheet): a row "
        "for every student on it who submitted nothing",
    )
    sub.set_defaults(command=run_report)

    sub = command(
        "export",
        help="grades in the LMS's import format (Canvas or Moodle CSV)",
        description="Write the grades as Canvas's gradebook import CSV or Moodle's grade import "
        "CSV (see autograder/instructor/README.md for the columns).",
    )
    sub.add_argument("lms", choices=("canvas", "moodle"))
    sub.add_argument(
        "--roster",
        metavar="FILE",
        help="the LMS's class list (Canvas gradebook export: names, SIS ids, sections and the "
        "assignment's column; Moodle grading worksheet: email addresses, needed)",
    )
    sub.add_argument(
        "--out", metavar="FILE", help="default: reports/<assignment>/<assignment>-<lms>.csv"
    )
    sub.set_defaults(command=run_export)
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
    return 1 if report.skipped or report.not_collected else 0


def run_grade(course, args):
    from .grade import grade
    from .report import load_grades, report_paths, summarize, write_csv
    from .status import SCORED, Status

    if args.workers and args.cluster not in (None, "off"):
        raise InstructorError(
            "--workers counts processes on this machine; a cluster's workers are its own "
            "(local:N for N here): give one of --workers and --cluster."
        )
    limits = GradingLimits.from_options(
        course.config, args.timeout, args.notebook_timeout, args.memory_limit
    )
    outcomes = grade(
        course,
        args.assignment,
        workers=args.workers,
        students=args.student,
        force=args.force,
        sandbox=not args.kernel,
        due=args.due,
        limits=limits,
        cluster=args.cluster,
    )
    if outcomes:
        print(
            text_table(
                ["student", "score", "status", "reason", "flags"],
                [
                    [
                        o.student,
                        f"{o.score:g}/{o.max_score:g}",
                        o.status,
                        o.reason,
                        "; ".join(map(str, o.flags)),
                    ]
                    for o in outcomes
                ],
            )
        )
        counts = {status: sum(o.status == status for o in outcomes) for status in SCORED}
        print(
            f"This run graded {len(outcomes)} new or changed "
            f"submission{'' if len(outcomes) == 1 else 's'}: "
            f"{counts[Status.GRADED]} graded, {counts[Status.INCOMPLETE]} incomplete (a cell "
            "crashed, hung or ran out of memory: that cell earned nothing, the reason says "
            f"which), {counts[Status.FAILED]} failed (nothing could run: 0 points)."
        )
        per_worker = Counter(o.worker for o in outcomes if o.worker)
        if per_worker:
            print(
                "Graded per worker of the cluster: "
                + ", ".join(f"{worker} {count}" for worker, count in sorted(per_worker.items()))
            )
        flagged = sum(bool(o.flags) for o in outcomes)
        if flagged:
            print(
                f"{flagged} submissions flagged for a look (changed test cells, hooks, ...): "
                "their notebooks are marked flagged in the gradebook."
            )
    else:
        print(
            f"Nothing new to grade: every collected submission of {args.assignment} is unchanged "
            "since it was graded (use --force to grade them again)."
        )
    grades = load_grades(course, args.assignment)
    path = report_paths(course, args.assignment)["csv"]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv(grades, path)
    print(summarize(grades))
    print(f"wrote {path}")
    return _attention(grades)


def _attention(grades):
    """Print who needs a look (not graded, incomplete, failed, flagged, not collected); the exit
    status."""
    rows = grades.needs_attention()
    if not rows:
        return 0
    print(
        f"{len(rows)} submitters need a look (status other than graded, or flags):", file=sys.stderr
    )
    for row in rows:
        what = row.status + (f", {len(row.flags)} flags" if row.flags else "")
        print(
            f"  {row.student or row.name}: {what}: {row.reason or '; '.join(map(str, row.flags))}",
            file=sys.stderr,
        )
    return 1


def run_feedback(course, args):
    from .collect import load_collect_table
    from .feedback import feedback
    from .lms import feedback_zip

    rows = []
    if args.zip:  # checked first: an impossible zip stops before any page is written
        rows = [row for row in load_collect_table(course, args.assignment) if row.lms == args.zip]
        if not rows:
            raise InstructorError(
                f"No submission of {args.assignment!r} was collected from a {args.zip} export, "
                "so there is nothing to name the feedback files after. Collect the LMS's "
                f"export first, or leave out --zip {args.zip}."
            )
    results = feedback(course, args.assignment, students=args.student)
    failed = [(student, error) for student, _, error in results if error]
    print(
        f"feedback written for {len(results) - len(failed)} of {len(results)} students "
        f"in {course.folder('feedback')}"
    )
    for student, error in failed:
        print(f"  {student}: {error}", file=sys.stderr)
    if args.zip:
        path, missing = feedback_zip(
            course,
            args.assignment,
            rows,
            course.folder("feedback", f"{args.assignment}-{args.zip}.zip"),
        )
        print(f"wrote {path} ({len(rows) - len(missing)} files) for the LMS's bulk feedback upload")
        failed += [(student, "no feedback page") for student in missing]
    return 1 if failed else 0


def _roster(args):
    from .lms import load_roster

    return load_roster(args.roster) if args.roster else None


def run_report(course, args):
    from .report import load_grades, report, summarize

    roster = _roster(args)
    written = report(course, args.assignment, args.out, roster=roster)
    for path in written.values():
        print(f"wrote {path}")
    grades = load_grades(course, args.assignment, roster)
    print(summarize(grades))
    return _attention(grades)


def run_export(course, args):
    from .lms import export_canvas, export_moodle
    from .report import load_grades

    roster = _roster(args)
    grades = load_grades(course, args.assignment, roster)
    out = (
        Path(args.out)
        if args.out
        else course.folder("reports", args.assignment, f"{args.assignment}-{args.lms}.csv")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    path = (export_canvas if args.lms == "canvas" else export_moodle)(grades, roster, out)
    print(f"wrote {path} ({args.lms} grade import)")
    return _attention(grades)
