"""nbgrader's private internals that autograder/instructor/nbgrader_internals.py relies on
are still there in the installed nbgrader, and nothing else in the project uses any."""

import inspect
import re
from pathlib import Path

import nbgrader.api
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.converters.base import BaseConverter

from autograder.instructor.nbgrader_internals import one_engine_per_database

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
    # Gradebook makes its engine with the module's create_engine, looked up when it opens.
    assert re.search(r"self\.engine = create_engine\(", inspect.getsource(Gradebook.__init__))


def test_gradebooks_share_one_engine_per_database_within_a_run(tmp_path):
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    original = nbgrader.api.create_engine
    with one_engine_per_database():
        with Gradebook(first) as one, Gradebook(first) as again, Gradebook(second) as other:
            assert one.engine is again.engine and other.engine is not one.engine
            engine = one.engine
            with one_engine_per_database():  # re-entrant: the same engines inside
                with Gradebook(first) as inner:
                    assert inner.engine is engine
                    inner.add_student("s1")
        with Gradebook(first) as after:
            assert after.engine is engine and after.find_student("s1").id == "s1"
    assert nbgrader.api.create_engine is original
    with Gradebook(first) as outside:
        assert outside.engine is not engine and outside.find_student("s1").id == "s1"


def test_only_the_adapter_uses_nbgrader_private_names():
    private = re.compile(r"\b_sanitizing\b|\b_init_preprocessors\b|BaseConverter\.")
    users = [
        path.relative_to(ROOT)
        for folder in ("autograder", "solutions", "benchmarks", "book", "tests")
        for path in (ROOT / folder).rglob("*.py")
        if path not in (ADAPTER, Path(__file__).resolve()) and private.search(path.read_text())
    ]
    assert users == [], f"nbgrader's internals used outside {ADAPTER.name}: {users}"
