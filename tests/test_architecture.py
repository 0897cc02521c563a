"""Who may import whom (ARCHITECTURE.md, "The parts"): every import in the repository,
read from its syntax tree, against one table of rules.

    part                              must never import
    autograder/__init__.py, student/  solutions, autograder.instructor, the book's code, tests,
                                      benchmarks
    autograder/ (the rest)            solutions, the book's code, tests, benchmarks
    solutions/                        autograder.instructor, the book's code, tests, benchmarks
    book/ (its Python and chapters)   autograder.instructor, tests, benchmarks
    assignments/ (the notebooks)      the same as the student half
    assignments/nbgrader_config.py    solutions, the book's code, tests, benchmarks (the
                                      instructor's nbgrader configuration, never released)
    tests/                            benchmarks

The student half ships alone (packaging/autograder), so it cannot reach the instructor half;
nothing students get may reach the reference solutions; the book shows the student toolkit
and the reference package, never the grader. Imports inside strings (code the tests write
into notebooks) are not imports of the file and are not read.
"""

import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

# The book's own modules: imported by name from book/_ext, book/_lib and book/tools.
BOOK_CODE = sorted(
    {"_lib"}
    | {p.stem for folder in ("_ext", "tools") for p in (ROOT / "book" / folder).glob("*.py")}
)
STUDENT = ("solutions", "autograder.instructor", *BOOK_CODE, "tests", "benchmarks")
RULES = {
    "the student half of autograder": STUDENT,
    "the instructor half of autograder": ("solutions", *BOOK_CODE, "tests", "benchmarks"),
    "solutions": ("autograder.instructor", *BOOK_CODE, "tests", "benchmarks"),
    "the book": ("autograder.instructor", "tests", "benchmarks"),
    "the assignments": STUDENT,
    "the course's nbgrader configuration": ("solutions", *BOOK_CODE, "tests", "benchmarks"),
    "the tests": ("benchmarks",),
}


def part_of(path: Path) -> str:
    """The part of the repository a source file belongs to (a key of RULES)."""
    parts = path.relative_to(ROOT).parts
    if parts[0] == "autograder":
        if parts[1] in ("__init__.py", "student"):
            return "the student half of autograder"
        return "the instructor half of autograder"
    if parts == ("assignments", "nbgrader_config.py"):
        return "the course's nbgrader configuration"
    return {
        "solutions": "solutions",
        "book": "the book",
        "assignments": "the assignments",
        "tests": "the tests",
    }[parts[0]]


def sources() -> list[Path]:
    """Every Python file, chapter and notebook of the parts (not generated, not vendored)."""
    found = []
    for top in ("autograder", "solutions", "book", "assignments", "tests"):
        for path in sorted((ROOT / top).rglob("*")):
            if any(part.startswith((".", "_build")) or part == "vendor" for part in path.parts):
                continue
            if path.suffix == ".py" or path.suffix == ".ipynb":
                found.append(path)
            elif path.suffix == ".md" and top == "book":
                found.append(path)
    return found


def code_of(path: Path) -> list[str]:
    """The Python code of a file: the file, a notebook's code cells, a chapter's code cells."""
    if path.suffix == ".py":
        return [path.read_text()]
    if path.suffix == ".ipynb":
        notebook = nbformat.read(str(path), as_version=4)
        return [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", path.read_text(), re.S | re.M)
    # a cell's options come first: `:key: value` lines, or a YAML block between `---` lines
    return [re.sub(r"\A(---\n.*?\n---\n|(:[^\n]*\n)+)", "", cell, flags=re.S) for cell in cells]


def imports(path: Path) -> set[str]:
    """Every module the file imports (see imported)."""
    return imported(code_of(path), ".".join(path.relative_to(ROOT).parent.parts))


def imported(codes: list[str], package: str) -> set[str]:
    """Every module the code imports, absolute (relative imports resolved against
    `package`); for ``from a import b`` both ``a`` and ``a.b`` (b may be a module)."""
    names = set()
    for code in codes:
        # IPython's magics and shell escapes are not Python: blank them out
        code = re.sub(r"^\s*[%!].*$", "", code, flags=re.M)
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, module] if module else base)
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def breaks(module: str, forbidden: str) -> bool:
    return module == forbidden or module.startswith(forbidden + ".")


def test_every_part_imports_only_what_it_may():
    offences = []
    for path in sources():
        part = part_of(path)
        for module in sorted(imports(path)):
            for forbidden in RULES[part]:
                if breaks(module, forbidden):
                    offences.append(f"{path.relative_to(ROOT)} ({part}) imports {module}")
    assert offences == [], "\n".join(offences)


def test_the_rules_see_every_part_and_every_kind_of_import():
    """The scan reaches each part and resolves what the rules are about: a check of the
    checker, so that an empty list of offences means something."""
    seen = {part_of(path) for path in sources()}
    assert seen == set(RULES)
    assert "autograder.student.diagnosis" in imports(ROOT / "autograder/student/checks.py")
    assert "autograder.instructor.cli" in imports(ROOT / "autograder/__main__.py")
    assert "autograder.student.mnist" in imports(ROOT / "solutions/cli.py")
    chapter = imports(ROOT / "book/03_backprop_graphs.md")
    assert any(breaks(m, "solutions") for m in chapter)
    notebook = imports(ROOT / "assignments/source/forward/forward.ipynb")
    assert any(breaks(m, "autograder") for m in notebook)


@pytest.mark.parametrize(
    "code, forbidden",
    [
        ("import solutions.layers", "solutions"),
        ("from autograder import instructor", "autograder.instructor"),
        ("from ..instructor.grade import grade", "autograder.instructor"),
        ("import tests.support.zoo as zoo", "tests"),
    ],
)
def test_a_forbidden_import_is_found(code, forbidden):
    found = imported([code], "autograder.student")
    assert any(breaks(module, forbidden) for module in found), found
    assert forbidden in RULES["the student half of autograder"]
