"""HTML feedback for every autograded student of an assignment.

    feedback(course, "forward")   # -> [(student, html path or None, error or None), ...]

Runs nbgrader's GenerateFeedback converter in this process, one student at a time,
so one student's broken notebook is reported and the others still get theirs.
The course's nbgrader_config.py chooses what the pages show: the student's code,
the outputs (the diagnoses printed by failing checks included) and the scores,
but not the source of the hidden tests.

Each page reads offline: nbgrader's template loads MathJax from a CDN, which is
replaced by the vendored MathJax (its self-contained SVG bundle, inlined), the
one the book uses (book/tools/setup_offline_assets.sh fetches it; the
instructor wheel carries it). A page also says, at the top, when the notebook
was flagged and which cells were graded as the assignment has them (restored).
"""

import html
import re
import shutil
from pathlib import Path

from .course import InstructorError
from .nbgrader_run import make_converter, run
from .status import load_status

RESTORED = (
    "deleted-test-cell",
    "edited-read-only-cell",
    "duplicated-cell",
    "changed-metadata",
    "added-tags",
    "deleted-cell",
    "unknown-cell",
    "changed-kernelspec",
)  # flags whose cells were graded as the course's


def autograded_students(course, assignment):
    """The students with an <course>/autograded/<student>/<assignment>/ folder, sorted."""
    root = course.folder("autograded")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir())


def changed_since_graded(course, student, assignment, status):
    """True when the collected submission is not the one the status file says was graded."""
    from .submissions import submission_fingerprint

    graded = status.get(student, {}).get("sha256")
    return bool(graded) and graded != submission_fingerprint(course, student, assignment)


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

    from .grade import gradebook_knows

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
    if not gradebook_knows(course, assignment):
        raise InstructorError(
            f"The gradebook ({course.db_url}) has no grades of {assignment!r}. "
            f"Run grade {assignment} first (with the same --db-url)."
        )
    status = load_status(course, assignment)
    notes = {student: entry.get("flags", []) for student, entry in status.items()}
    mathjax = mathjax_script()
    results = []
    bar = tqdm(list(students), desc=f"feedback {assignment}", unit="student", disable=not progress)
    for student in bar:
        bar.set_postfix_str(student)
        if student not in graded:
            results.append(
                (student, None, f"{student} has no autograded {assignment}: run grade first")
            )
            continue
        if changed_since_graded(course, student, assignment, status):
            # Its grade is the old submission's: no page (an old one is removed, so that no
            # LMS zip can carry it) until the new submission is graded.
            shutil.rmtree(course.folder("feedback", student, assignment), ignore_errors=True)
            results.append(
                (
                    student,
                    None,
                    f"{student}'s submission changed since it was graded: "
                    f"run grade {assignment} first",
                )
            )
            continue
        problem = run(make_converter(GenerateFeedback, course, assignment, student).start)
        try:
            page = feedback_page(course, student, assignment)
            if page is not None and not problem:
                name_tests(page, course.folder("autograded", student, assignment))
                annotate(page, notes.get(student))
                offline_math(page, mathjax)
        except Exception as error:  # one student's page, not the class's
            problem = f"{type(error).__name__}: {error}"
        if problem:
            results.append((student, None, problem))
        elif page is None:
            results.append((student, None, "nbgrader reported success but wrote no HTML page"))
        else:
            results.append((student, page, None))
    return results


def test_names(notebook):
    """{grade_id: a name a student recognises} for the test cells of a graded notebook: the
    cell's id and the heading of the part it tests, e.g. "test_linear_dW (3. Linear.backward)"."""
    import nbformat

    names, heading = {}, ""
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        role = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown":
            titles = [line for line in cell.source.splitlines() if line.startswith("#")]
            if titles:
                heading = re.sub(r"\s*\(\d+(\.\d+)? points?\)$", "", titles[0].lstrip("# ").strip())
        elif role.get("grade") and not role.get("solution") and role.get("grade_id"):
            names[role["grade_id"]] = (
                f"{role['grade_id']} ({heading})" if heading else role["grade_id"]
            )
    return names


def name_tests(page, graded_folder):
    """Name each test in the page's contents list after its cell and part: nbgrader's
    template calls every one "Test cell" (its body is one block, so a template override
    would copy all of it)."""
    notebook = graded_folder / f"{page.stem}.ipynb"
    if not notebook.is_file():
        return
    names = test_names(notebook)
    text = page.read_text(encoding="utf-8")
    link = re.compile(r'(<a href="#([^"]+)">)Test cell(</a>)')
    text = link.sub(
        lambda m: m.group(1) + html.escape(names.get(m.group(2), m.group(2))) + m.group(3), text
    )
    page.write_text(text, encoding="utf-8")


def annotate(page, flags):
    """Put a notice at the top of a feedback page: which cells were restored from the
    assignment (the student's changes to them were not used) and that the notebook was
    flagged for the instructor. flags: the status file's [Flag]."""
    if not flags:
        return
    restored = [flag.detail for flag in flags if flag.kind in RESTORED]
    items = "".join(f"<li>{html.escape(str(flag))}</li>" for flag in flags)
    notice = (
        '<div class="grader-notice" '
        'style="border:2px solid #c44e52;padding:0.5em 1em;margin:1em 0">'
        "<p><strong>Note from the grader.</strong> "
        "This notebook was flagged for the instructor to look at."
        + (
            " Cells you changed, removed or added around the tests were graded as the assignment "
            "has them (restored): " + html.escape("; ".join(restored)) + "."
            if restored
            else ""
        )
        + f"</p><ul>{items}</ul></div>"
    )
    text = page.read_text(encoding="utf-8")
    text, count = re.subn(r"(<body[^>]*>)", lambda m: m.group(1) + notice, text, count=1)
    page.write_text(text if count else notice + text, encoding="utf-8")


HERE = Path(__file__).resolve().parent
MATHJAX_FILES = (
    HERE / "vendor" / "tex-svg.js",  # in the installed wheel
    HERE.parents[1] / "book" / "_static" / "vendor" / "mathjax" / "tex-svg.js",
)  # in a checkout
MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
MATHJAX_CONFIG = """<script>window.MathJax = {tex: {inlineMath: [["$", "$"], ["\\\\(", "\\\\)"]],
  displayMath: [["$$", "$$"], ["\\\\[", "\\\\]"]], processEscapes: true, processEnvironments: true},
  startup: {typeset: true}, options: {enableMenu: false}};</script>"""
# (enableMenu: false, since the menu would fetch add-ons from elsewhere)


def mathjax_script():
    """The vendored MathJax (tex-svg.js) as text; InstructorError if it was never fetched."""
    for path in MATHJAX_FILES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    raise InstructorError(
        "The feedback pages typeset math with a local copy of MathJax, which is missing "
        f"(looked for {', '.join(map(str, MATHJAX_FILES))}). In a checkout run "
        "`bash book/tools/setup_offline_assets.sh` (make setup does); an installed "
        "distribution carries it."
    )


def offline_math(page, script):
    """Replace the page's MathJax from a CDN by the vendored one, inlined (no outside host)."""
    text = page.read_text(encoding="utf-8")
    inline = MATHJAX_CONFIG + "\n<script>" + script.replace("</script", "<\\/script") + "</script>"
    text, count = MATHJAX_BLOCK.subn(lambda _: inline, text, count=1)
    if not count:
        text = re.sub(
            r"<script[^>]*src=\"https?://[^\"]*mathjax[^\"]*\"[^>]*>\s*</script>",
            lambda _: inline,
            text,
        )
    page.write_text(text, encoding="utf-8")
