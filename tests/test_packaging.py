"""Students install `autograder` without `solutions`: the student wheel holds the toolkit only."""

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.wheels import build_wheel

ROOT = Path(__file__).resolve().parents[1]


def test_student_wheel_has_autograder_and_no_solutions(tmp_path):
    names = zipfile.ZipFile(build_wheel(ROOT / "packaging" / "autograder", tmp_path)).namelist()
    packages = {name.split("/")[0] for name in names if not name.endswith(".dist-info/")}
    assert "autograder/__init__.py" in names and "autograder/student/checks.py" in names
    assert not any(name.startswith("solutions") for name in names)
    assert not any(name.startswith("autograder/instructor") for name in names)
    assert "autograder/__main__.py" in names  # python -m autograder check
    assert {p for p in packages if not p.endswith(".dist-info")} == {"autograder"}


def test_student_wheel_imports_without_solutions(tmp_path):
    wheel = build_wheel(ROOT / "packaging" / "autograder", tmp_path / "wheel")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    # Import from the unpacked wheel alone, with `solutions` made unimportable.
    code = (
        "import sys; sys.modules['solutions'] = None; import autograder; "
        "from autograder import check_layer, load_mnist, numeric_gradient; print('ok')"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r}); {code}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.stdout.strip() == "ok", result.stderr


def test_the_student_wheel_offers_check_alone(tmp_path):
    wheel = build_wheel(ROOT / "packaging" / "autograder", tmp_path / "wheel")
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")

    def run(*args):
        code = (
            f"import sys, runpy; sys.path.insert(0, {str(tmp_path / 'site')!r}); sys.argv = "
            f"['autograder', *{list(args)!r}]; runpy.run_module('autograder', run_name='__main__')"
        )
        return subprocess.run(
            [sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path
        )

    grading = run("grade", "forward")
    assert grading.returncode == 1 and "python -m autograder check NOTEBOOK.ipynb" in grading.stderr
    assert "Traceback" not in grading.stderr
    missing = run("check", "nowhere.ipynb")
    assert missing.returncode == 2 and "nowhere.ipynb: no such file" in missing.stderr
