"""`python -m autograder release`: the student bundle, and the checks that refuse a leaking one."""

import ast
import sqlite3
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

import solutions
from autograder.instructor.bundle import (
    HIDDEN_MARKERS,
    SOLUTION_MARKERS,
    BundleError,
    build_bundle,
    check_bundle,
    read_bundle,
    release,
)
from autograder.instructor.course import Course, InstructorError
from tests.support.assignment_course import copy_course, environment, read, source_notebook


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return Course(copy_course(tmp_path_factory.mktemp("release")))


@pytest.fixture(scope="module")
def mnist_bundle(course):
    return read_bundle(release(course, "mnist"))


def test_the_bundle_holds_the_notebook_the_toolkit_and_a_readme(course, mnist_bundle):
    names = set(mnist_bundle)
    assert {
        "mnist/mnist.ipynb",
        "mnist/README.md",
        "mnist/requirements.txt",
        "mnist/autograder/__init__.py",
        "mnist/autograder/student/checks.py",
    } <= names
    # the toolkit without its instructor half, and nothing compiled
    assert not [n for n in names if "/instructor/" in n or n.endswith(".pyc")]
    readme = mnist_bundle["mnist/README.md"].decode()
    assert "pip install -r requirements.txt" in readme and "MNIST_DIR" in readme
    assert b"numpy" in mnist_bundle["mnist/requirements.txt"]
    released = nbformat.reads(mnist_bundle["mnist/mnist.ipynb"].decode(), as_version=4)
    assert released.cells and "raise NotImplementedError()" in "".join(
        c.source for c in released.cells
    )


def test_the_bundle_runs_its_own_toolkit(tmp_path, course):
    """Unpacked anywhere, the notebook's `import autograder` finds the bundled toolkit,
    not the instructor's checkout (the instructor half is not there)."""
    with zipfile.ZipFile(release(course, "forward", tmp_path)) as archive:
        archive.extractall(tmp_path / "student")
    code = "import autograder, sys; print(autograder.__file__); import autograder.instructor"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path / "student" / "forward",
        capture_output=True,
        text=True,
    )
    assert str(tmp_path / "student" / "forward" / "autograder") in result.stdout
    assert "No module named 'autograder.instructor'" in result.stderr


def test_every_released_bundle_passes_its_checks(course):
    for assignment in course.assignments():
        bundle = read_bundle(release(course, assignment))
        assert all(name.startswith(f"{assignment}/") for name in bundle)


# ------------------------------------------------------------------ what is refused


def leaking_bundles(course):
    """(what leaks, bundle) pairs: the forward bundle with one leak each."""
    cases = []
    clean = build_bundle(course, "forward")
    notebook_name = "forward/forward.ipynb"
    source = read(source_notebook("forward", course.root))
    solution_line = "return x @ self.W.T + self.b"
    assert solution_line in "".join(c.source for c in source.cells)

    def with_cell(text):
        bundle = build_bundle(course, "forward")
        notebook = nbformat.reads(bundle.files[notebook_name].decode(), as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell(text))
        bundle.files[notebook_name] = nbformat.writes(notebook).encode()
        return bundle

    cases.append(
        ("solution marker", with_cell(f"{SOLUTION_MARKERS[0]}\nx = 1\n{SOLUTION_MARKERS[1]}"))
    )
    cases.append(
        ("hidden-test marker", with_cell(f"{HIDDEN_MARKERS[0]}\nassert True\n{HIDDEN_MARKERS[1]}"))
    )
    cases.append(("line(s) of the solution", with_cell(f"    {solution_line}")))
    cases.append(("`solutions`", with_cell("from solutions.layers import Linear")))
    cases.append(("`solutions`", with_cell("import solutions.model as m")))
    layers = (Path(solutions.__file__).parent / "layers.py").read_text()
    longest = max(
        (node for node in ast.walk(ast.parse(layers)) if isinstance(node, ast.FunctionDef)),
        key=lambda node: len(node.body),
    )
    cases.append(
        (
            "reference solution's code",
            with_cell(textwrap.dedent(ast.get_source_segment(layers, longest))),
        )
    )
    database = course.root / "leak.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE grade (score REAL)")
    for name in ("forward/gradebook.db", "forward/notes.bin"):
        bundle = build_bundle(course, "forward")
        bundle.files[name] = database.read_bytes()
        cases.append(("database", bundle))
    bundle = build_bundle(course, "forward")
    bundle.files["forward/source/forward.ipynb"] = clean.files[notebook_name]
    cases.append(("instructor folder", bundle))
    return cases


def test_a_clean_bundle_has_no_problem(course):
    assert check_bundle(build_bundle(course, "forward"), course.source_notebooks("forward")) == []


def test_each_leak_is_found_and_named(course):
    for leak, bundle in leaking_bundles(course):
        problems = check_bundle(bundle, course.source_notebooks("forward"))
        assert len(problems) >= 1 and any(leak in p for p in problems), (leak, problems)


def test_a_leaking_release_is_not_written(tmp_path):
    """An instructor who left `from solutions import ...` in a read-only cell: nbgrader
    releases it as is, and the bundle check refuses to write the zip."""
    course = Course(copy_course(tmp_path))
    path = source_notebook("softmax", course.root)
    notebook = read(path)
    notebook.cells[1].source += "\nfrom solutions.losses import SoftmaxCrossEntropy\n"
    nbformat.write(notebook, str(path))
    with pytest.raises(BundleError) as refused:
        release(course, "softmax", tmp_path / "out")
    assert "softmax/softmax.ipynb, cell 1" in str(refused.value) and "`solutions`" in str(
        refused.value
    )
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_nbgraders_own_refusal_is_passed_on(tmp_path):
    """A hidden test outside a test cell: nbgrader refuses it, and the message says so."""
    course = Course(copy_course(tmp_path))
    path = source_notebook("softmax", course.root)
    notebook = read(path)
    notebook.cells[1].source += f"\n{HIDDEN_MARKERS[0]}\nassert True\n{HIDDEN_MARKERS[1]}\n"
    nbformat.write(notebook, str(path))
    with pytest.raises(InstructorError, match="Hidden test region detected in a non-grade cell"):
        release(course, "softmax", tmp_path / "out")


def test_an_unknown_assignment_is_refused(course):
    with pytest.raises(InstructorError, match="Unknown assignment 'fowrard'"):
        release(course, "fowrard")


def test_the_command_writes_the_zip(tmp_path, course):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder",
            "--course",
            str(course.root),
            "release",
            "graph",
            "--out",
            str(tmp_path),
        ],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote {tmp_path / 'graph.zip'}" in result.stdout
    assert zipfile.is_zipfile(tmp_path / "graph.zip")
