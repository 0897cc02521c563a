"""Release an assignment: nbgrader's student version, packed into a zip students can run.

The bundle (``<out>/<assignment>.zip``) holds one folder, ``<assignment>/``:

    <assignment>.ipynb    the release notebook(s) from nbgrader
    autograder/           the student toolkit (checks, loaders, plots), without its instructor half
    requirements.txt      what the toolkit needs
    README.md             how to start, where the data comes from, what to hand in

Before anything is written, every file of the bundle is checked: no solution
or hidden-test region (markers or lines), no `solutions` import or code, no
gradebook, no instructor file. A bundle that fails is not written.
"""

import ast
import importlib.util
import io
import re
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import InstructorError
from .nbgrader_run import make_converter, run

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


def region_pattern(markers, line_end=False):
    """A regex of one region from the begin marker to the end marker, both included (and the
    end marker's line end, with ``line_end``)."""
    begin, end = markers
    return re.compile(f"{re.escape(begin)}.*?{re.escape(end)}" + ("\n?" if line_end else ""), re.S)


TOOLKIT = Path(__file__).resolve().parents[1]  # the autograder package
# The student distribution's pyproject.toml: in a checkout, or carried inside the instructor wheel.
STUDENT_PACKAGING = next(
    (
        path
        for path in (
            TOOLKIT.parent / "packaging" / "autograder" / "pyproject.toml",
            TOOLKIT / "instructor" / "vendor" / "student-pyproject.toml",
        )
        if path.is_file()
    ),
    TOOLKIT.parent / "packaging" / "autograder" / "pyproject.toml",
)
INSTRUCTOR_ONLY = ("instructor", "__pycache__")
SQLITE_HEADER = b"SQLite format 3\x00"


class BundleError(InstructorError):
    """The bundle failed its checks; `problems` lists them."""

    def __init__(self, assignment, problems):
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(
            f"Refusing to write the bundle of {assignment!r}: it would give away\n{listing}\n"
            "Fix the source notebook (keep every solution and hidden test between its markers) "
            "and release again."
        )


@dataclass
class Bundle:
    """The files of a bundle, {path inside the zip: bytes}, before they are written."""

    assignment: str
    files: dict = field(default_factory=dict)


# ----------------------------------------------------------------- regions of the source


def split_regions(source, markers):
    """(lines inside, lines outside) the regions between markers (e.g. solution regions);
    the marker lines themselves are in neither."""
    inside, outside, within = [], [], False
    for line in source.splitlines():
        if markers[0] in line:
            within = True
        elif markers[1] in line:
            within = False
        else:
            (inside if within else outside).append(line)
    return inside, outside


def secret_lines(notebooks, markers):
    """Stripped lines found inside the `markers` regions of the notebooks and nowhere outside
    such a region in any of them (comments and blank lines aside): the instructor's solution
    code or hidden tests, which no release may contain."""
    inside, outside = set(), set()
    for notebook in notebooks:
        for cell in notebook.cells:
            within, without = split_regions(cell.source, markers)
            inside |= {line.strip() for line in within}
            outside |= {line.strip() for line in without}
    return {line for line in inside - outside if line and not line.startswith("#")}


# ----------------------------------------------------------------- building


def release(course, assignment, out=None):
    """Run nbgrader's generate_assignment, build the bundle, check it, write it.

    Returns the path of the zip (default: <course>/release/<assignment>.zip).
    Raises InstructorError if nbgrader fails, BundleError if the bundle fails its checks.
    """
    from nbgrader.converters import GenerateAssignment

    course.require_assignment(assignment)
    problem = run(make_converter(GenerateAssignment, course, assignment, student=".").start)
    if problem:
        raise InstructorError(
            f"nbgrader could not generate the student version of {assignment!r}: {problem}\n"
            f"Fix source/{assignment}/{assignment}.ipynb (`nbgrader validate` on it may help) "
            "and release again."
        )
    bundle = build_bundle(course, assignment)
    problems = check_bundle(bundle, course.source_notebooks(assignment))
    if problems:
        raise BundleError(assignment, problems)
    out = Path(out) if out else course.folder("release")
    return write_bundle(bundle, out / f"{assignment}.zip")


def build_bundle(course, assignment):
    """The bundle's files from release/<assignment>/ and the student toolkit."""
    bundle = Bundle(assignment)
    top = Path(assignment)
    released = course.folder("release", assignment)
    for path in sorted(p for p in released.rglob("*") if p.is_file()):
        bundle.files[str(top / path.relative_to(released))] = path.read_bytes()
    for path in sorted(p for p in TOOLKIT.rglob("*") if p.is_file()):
        relative = path.relative_to(TOOLKIT)
        if (
            relative.parts[0] in INSTRUCTOR_ONLY
            or "__pycache__" in relative.parts
            or path.suffix == ".pyc"
        ):
            continue
        bundle.files[str(top / "autograder" / relative)] = path.read_bytes()
    requirements = student_requirements()
    bundle.files[str(top / "requirements.txt")] = "\n".join(
        requirements + ["notebook", ""]
    ).encode()
    notebooks = [Path(name).name for name in bundle.files if name.endswith(".ipynb")]
    needs_mnist = any(
        b"load_mnist" in data for name, data in bundle.files.items() if name.endswith(".ipynb")
    )
    bundle.files[str(top / "README.md")] = readme(assignment, notebooks, needs_mnist).encode()
    return bundle


def student_requirements():
    """The student distribution's dependencies (packaging/autograder/pyproject.toml)."""
    return tomllib.loads(STUDENT_PACKAGING.read_text())["project"]["dependencies"]


def readme(assignment, notebooks, needs_mnist):
    names = ", ".join(f"`{name}`" for name in notebooks)
    text = f"""# Assignment `{assignment}`

Your notebook: {names}. The folder `autograder/` next to it is the course's
toolkit: gradient checks that say what is wrong, data loaders and plotting
helpers. The notebook imports it from this folder, so keep the two together.

## Start

```bash
python -m venv .venv && . .venv/bin/activate      # once (on Windows: .venv\\Scripts\\activate)
pip install -r requirements.txt                    # once
jupyter notebook {notebooks[0] if notebooks else ""}
```

Write your code where a cell says `raise NotImplementedError()`, run the
tests below each part, and read what a failing check prints: it names the
quantity that is wrong and the likely mistake. The tests you see are part of
the grading; further hidden tests use other shapes and values.

## Hand in

Before handing in, run `python -m autograder check {notebooks[0] if notebooks else "NOTEBOOK"}`:
it runs your notebook top to bottom in a fresh kernel, as the grader will, and lists
each visible test with its points; fix anything it reports (hidden tests run
only at grading).

Hand in the notebook file, under its name ({names}), with your code in it. Do not
delete, duplicate or edit the test cells or their metadata: grading restores
them from the instructor's copy.
"""
    if needs_mnist:
        text += """
## Data (MNIST)

`load_mnist()` looks for the four MNIST files (`train-images-idx3-ubyte.gz`,
...) in the folder named by the `MNIST_DIR` environment variable, then in
`~/.cache/backprop-course/mnist`. If you have neither, `load_mnist(download=True)`
downloads them once into that cache (about 11 MB) and checks their SHA-256.
"""
    return text


def write_bundle(bundle, path):
    """Write the zip atomically (a half-written zip is never left behind); returns its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(bundle.files.items()):
            archive.writestr(name, data)
    partial.replace(path)
    return path


# ----------------------------------------------------------------- checking


def check_bundle(bundle, source_notebooks):
    """Every reason the bundle must not be given to students ([] if none).

    source_notebooks: the instructor's notebooks of the assignment, whose solution and
    hidden-test lines must appear in no notebook of the bundle.
    """
    sources = [nbformat.read(str(path), as_version=4) for path in source_notebooks]
    secrets = secret_lines(sources, SOLUTION_MARKERS) | secret_lines(sources, HIDDEN_MARKERS)
    reference = reference_functions()
    problems = []
    for name, data in sorted(bundle.files.items()):
        if data.startswith(SQLITE_HEADER) or name.endswith((".db", ".sqlite")):
            problems.append(f"{name}: a database file (the gradebook?)")
            continue
        if any(
            part in ("source", "autograded", "submitted", "feedback", "solutions")
            for part in Path(name).parts[1:-1]
        ):
            problems.append(f"{name}: a file from an instructor folder")
        if name.endswith(".ipynb"):
            problems += _check_notebook(name, data, secrets, reference)
        elif name.endswith(".py"):
            problems += _check_code(name, data.decode(errors="replace"), reference)
    return problems


def _check_notebook(name, data, secrets, reference):
    try:
        notebook = nbformat.reads(data.decode(), as_version=4)
    except Exception as error:
        return [f"{name}: not a readable notebook ({error})"]
    problems = []
    for index, cell in enumerate(notebook.cells):
        where = (
            f"{name}, cell {index} ({cell.metadata.get('nbgrader', {}).get('grade_id', 'no id')})"
        )
        for kind, markers in (("solution", SOLUTION_MARKERS), ("hidden-test", HIDDEN_MARKERS)):
            for marker in markers:
                if marker in cell.source:
                    problems.append(f"{where}: contains the {kind} marker {marker!r}")
        leaked = sorted({line.strip() for line in cell.source.splitlines()} & secrets)
        if leaked:
            problems.append(
                f"{where}: {len(leaked)} line(s) of the solution or hidden tests, e.g. "
                f"{leaked[0]!r}"
            )
        if cell.cell_type == "code":
            problems += _check_code(where, cell.source, reference)
    return problems


def _check_code(where, source, reference):
    """`solutions` imports, and function bodies identical to the reference package's."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []  # notebook cells may hold IPython magics; the markers check still applies
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            modules = []
        if any(module == "solutions" or module.startswith("solutions.") for module in modules):
            problems.append(
                f"{where}: imports the reference package `solutions` (line {node.lineno})"
            )
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and _body_key(node) in reference
        ):
            problems.append(
                f"{where}: `{node.name}` is the reference solution's code (line {node.lineno})"
            )
    return problems


def _body_key(function):
    """A function's body without its docstring, as an AST dump; None for bodies too short to
    tell."""
    body = function.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if len(body) < 2:
        return None
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def reference_functions():
    """Bodies of the functions of the `solutions` package, if it is installed here."""
    spec = importlib.util.find_spec("solutions")
    if spec is None or not spec.submodule_search_locations:
        return set()
    keys = set()
    for path in Path(spec.submodule_search_locations[0]).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                keys.add(_body_key(node))
    keys.discard(None)
    return keys


def read_bundle(path):
    """{name: bytes} of a written bundle (for checks and tests)."""
    with zipfile.ZipFile(io.BytesIO(Path(path).read_bytes())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
