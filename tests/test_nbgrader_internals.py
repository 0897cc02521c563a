"""nbgrader's private internals that autograder/instructor/nbgrader_internals.py relies on
are still there in the installed nbgrader, and nothing else in the project uses any."""

import inspect
import re
from pathlib import Path

from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter

ROOT = Path(__file__).resolve().parents[1]
ADAPTER = ROOT / "autograder" / "instructor" / "nbgrader_internals.py"


def test_the_internals_the_adapter_uses_exist():
    assert Autograde._sanitizing is True  # a class attribute, flipped per half by nbgrader
    source = inspect.getsource(Autograde)
    # _sanitizing picks the input folder and the preprocessors, as the adapter expects.
    assert re.search(r"if self\._sanitizing:\s+return self\.coursedir\.submitted_directory", source)
    assert "def _init_preprocessors(self)" in source
    assert re.search(
        r"if self\._sanitizing:\s+preprocessors = self\.sanitize_preprocessors", source
    )
    assert "convert_single_notebook" in vars(BaseConverter)


def test_only_the_adapter_uses_nbgrader_private_names():
    private = re.compile(r"\b_sanitizing\b|\b_init_preprocessors\b|BaseConverter\.")
    users = [
        path.relative_to(ROOT)
        for folder in ("autograder", "solutions", "benchmarks", "book", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path not in (ADAPTER, Path(__file__).resolve()) and private.search(path.read_text())
    ]
    assert users == [], f"nbgrader's internals used outside {ADAPTER.name}: {users}"
