"""HTML feedback for every autograded student of an assignment.

    feedback(course, "forward")   # -> [(student, html path or None, error or None), ...]

Runs nbgrader's GenerateFeedback converter in this process, one student at a time,
so one student's broken notebook is reported and the others still get theirs.
The course's nbgrader_config.py chooses what the pages show: the student's code,
the outputs (the diagnoses printed by failing checks included) and the scores,
but not the source of the hidden tests.
"""

from .course import InstructorError
from .nbgrader_run import make_converter, run


def autograded_students(course, assignment):
    """The students with an <course>/autograded/<student>/<assignment>/ folder, sorted."""
    root = course.folder("autograded")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir())


def feedback_page(course, student, assignment):
    """The student's feedback page: feedback/<student>/<assignment>/<assignment>.html (the course's
    one notebook per assignment), else the first HTML file there; None if there is none."""
    folder = course.folder("feedback", student, assignment)
    main = folder / f"{assignment}.html"
    if main.is_file():
        return main
    pages = sorted(folder.glob("*.html"))
    return pages[0] if pages else None


def feedback(course, assignment, students=None, progress=True):
    """Generate the feedback pages of `assignment`.

    students: the student ids to do, or one id (default: every autograded student).
    progress: show a tqdm progress bar on stderr.
    Returns [(student, html Path or None, error text or None)], one per student, in order:
    a student whose feedback failed (or who was never autograded) has None and the reason.
    Raises InstructorError for an unknown assignment or one with no autograded submission.
    """
    from nbgrader.converters import GenerateFeedback
    from tqdm.auto import tqdm

    course.require_assignment(assignment)
    graded = autograded_students(course, assignment)
    if isinstance(students, str):
        students = [students]
    if students is None:
        students = graded
        if not students:
            raise InstructorError(
                f"No autograded submissions of {assignment!r} in {course.folder('autograded')}. "
                f"Run grade {assignment} first."
            )
    results = []
    bar = tqdm(list(students), desc=f"feedback {assignment}", unit="student", disable=not progress)
    for student in bar:
        bar.set_postfix_str(student)
        if student not in graded:
            results.append((student, None, f"{student} has no autograded {assignment}: run grade first"))
            continue
        problem = run(make_converter(GenerateFeedback, course, assignment, student).start)
        page = feedback_page(course, student, assignment)
        if problem:
            results.append((student, None, problem))
        elif page is None:
            results.append((student, None, "nbgrader reported success but wrote no HTML page"))
        else:
            results.append((student, page, None))
    return results
