"""Working with the nbgrader course in assignments/: read its notebooks, copy it, run nbgrader.

Used by tests/test_assignments.py and benchmarks/autograde_time.py. Everything
that writes (generate, submit, autograde, feedback) works on a *copy* of the
course, never on assignments/ itself.
"""

import ast
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

# The markers and the secret-line scan are the release check's own (one definition).
from autograder.instructor.bundle import (  # noqa: F401
    HIDDEN_MARKERS,  # noqa: F401
    SOLUTION_MARKERS,  # noqa: F401
    secret_lines,
    split_regions,
)
from autograder.instructor.course import one_blas_thread

ROOT = Path(__file__).resolve().parents[2]
COURSE = ROOT / "assignments"
CONFIG = COURSE / "nbgrader_config.py"
GENERATED = (
    "release",
    "submitted",
    "autograded",
    "feedback",
    "grading",
    "reports",
    "gradebook.db",
    ".ipynb_checkpoints",
)


def assignments():
    """The assignment names listed in nbgrader_config.py, in course order."""
    from traitlets.config import Config

    saved = dict(os.environ)  # the config sets variables for nbgrader's kernels: not for us
    try:
        return tuple(
            runpy.run_path(str(CONFIG), init_globals={"get_config": Config})["ASSIGNMENTS"]
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)


def source_notebook(name, course=COURSE):
    return Path(course) / "source" / name / f"{name}.ipynb"


def release_notebook(name, course):
    return Path(course) / "release" / name / f"{name}.ipynb"


def read(path):
    return nbformat.read(str(path), as_version=4)


def grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def is_test(cell):
    return cell.metadata.get("nbgrader", {}).get("grade", False)


def is_solution(cell):
    return cell.metadata.get("nbgrader", {}).get("solution", False)


def points(notebook):
    """{grade_id: points} of the notebook's test cells, in notebook order."""
    return {grade_id(c): c.metadata["nbgrader"]["points"] for c in notebook.cells if is_test(c)}


def definitions(notebook):
    """{qualified name: AST dump without docstrings} of every function and method that the
    notebook's solution cells define (a pasted cell included)."""
    found = {}

    def visit(nodes, prefix):
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                body = node.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    body = body[1:]  # the docstring may differ between assignments
                if isinstance(node, ast.ClassDef):
                    visit(body, f"{prefix}{node.name}.")
                else:
                    found[prefix + node.name] = ast.dump(ast.Module(body=body, type_ignores=[]))

    for cell in notebook.cells:
        if is_solution(cell):
            visit(ast.parse(cell.source).body, "")
    return found


# ----------------------------------------------------------------- running nbgrader


def copy_course(destination):
    """A copy of the course without anything generated; returns its root."""
    destination = Path(destination) / "course"
    shutil.copytree(COURSE, destination, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    return destination


def environment():
    """The environment nbgrader and nbval run in: this interpreter's scripts first on PATH
    (nbgrader starts `alembic` when it creates the gradebook), MNIST from MNIST_DIR, one BLAS
    thread per notebook kernel (as nbgrader_config.py sets for grading)."""
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = scripts + os.pathsep + env.get("PATH", "")
    env.setdefault("MNIST_DIR", str(ROOT.parent / "shared" / "datasets" / "mnist"))
    return one_blas_thread(env)


def nbgrader(course, *arguments, timeout=900):
    """Run `nbgrader <arguments>` in the course directory; returns the CompletedProcess
    (stdout and stderr merged into .stdout) and raises if nbgrader itself failed."""
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *arguments],
        cwd=course,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    result.stdout += result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(arguments)} failed:\n{result.stdout[-5000:]}")
    return result


def submit(course, student, assignment, notebook):
    """Place a notebook where nbgrader collects student submissions."""
    path = Path(course) / "submitted" / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))
    return path


def grades(course):
    """{(assignment, student): {test cell grade_id: score}} from the course's gradebook."""
    from nbgrader.api import Gradebook

    result = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gradebook:
        for assignment in gradebook.assignments:
            for submission in assignment.submissions:
                scores = {}
                for notebook in submission.notebooks:
                    scores.update({grade.name: grade.score for grade in notebook.grades})
                result[assignment.name, submission.student.id] = scores
    return result


def feedback_html(course, student, assignment):
    return (Path(course) / "feedback" / student / assignment / f"{assignment}.html").read_text()
