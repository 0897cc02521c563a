"""The instructor distribution works installed from its wheel, not only from a checkout.

The wheel is built from this checkout and installed (without dependencies) into a fresh
virtualenv; the dependencies come from the test environment's site-packages through a
.pth file, whose own .pth files (the checkout's editable install among them) Python does
not read (their data files, nbconvert's templates, through JUPYTER_PATH). Then release, collect,
grade, feedback and report run on a course folder
outside the checkout, and `autograder` must be the installed one.
"""

import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.support.assignment_course import copy_course, environment, read, source_notebook
from tests.support.wheels import build_wheel

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]  # the whole pipeline, from a wheel

ROOT = Path(__file__).resolve().parents[1]


def run(*command, cwd, env):
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result


def test_release_collect_grade_feedback_report_from_the_wheel(tmp_path):
    wheel = build_wheel(ROOT, tmp_path / "wheels")
    names = zipfile.ZipFile(wheel).namelist()
    assert "autograder/instructor/vendor/tex-svg.js" in names
    assert "autograder/instructor/vendor/student-pyproject.toml" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
    )
    site = Path(
        run(
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            cwd=tmp_path,
            env=environment(),
        ).stdout.strip()
    )
    (site / "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = environment()
    env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
    env.pop("PYTHONPATH", None)
    # The dependencies' data files (nbconvert's templates) live under the test environment's prefix.
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    course = copy_course(tmp_path / "outside")
    assert not course.is_relative_to(ROOT)
    where = run(
        python, "-c", "import autograder; print(autograder.__file__)", cwd=course, env=env
    ).stdout
    assert where.startswith(str(site)), where

    grader = [python, "-m", "autograder"]
    result = run(*grader, "release", "forward", cwd=course, env=env)
    assert result.returncode == 0 and (course / "release" / "forward.zip").is_file(), result.stderr[
        -3000:
    ]
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    nbformat.write(read(source_notebook("forward", course)), str(inbox / "ada.ipynb"))
    result = run(*grader, "collect", "forward", inbox, cwd=course, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    result = run(*grader, "grade", "forward", "--workers", "1", cwd=course, env=env)
    assert result.returncode == 0 and "ada" in result.stdout and "12/12" in result.stdout, (
        result.stderr[-3000:]
    )
    result = run(*grader, "feedback", "forward", cwd=course, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    page = (course / "feedback" / "ada" / "forward" / "forward.html").read_text()
    assert "cdnjs" not in page and "MathJax" in page
    # cells numbered as in Jupyter (the template's spaces are no-break spaces)
    assert re.search(r'prompt">In\s\[1\]:', page) and not re.search(r"In\s\[\s\]:", page)
    result = run(*grader, "report", "forward", cwd=course, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (
        "ada,,1,1,2,1,3,2,2,0,12,12,100.0,,,graded,,"
        in (course / "reports" / "forward" / "forward_grades.csv").read_text()
    )
