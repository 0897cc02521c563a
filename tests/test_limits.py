"""Grading limits come from grade's command line, the same for the sandbox and --kernel."""

from types import SimpleNamespace

import pytest
from traitlets.config import Config

from autograder.instructor import cli
from autograder.instructor import grade as grade_module
from autograder.instructor.course import InstructorError
from autograder.instructor.limits import GradingLimits
from autograder.instructor.sandbox import GiB


def test_defaults_and_the_course_cell_timeout():
    assert GradingLimits.from_options(Config()) == GradingLimits(120, 900, 4 * GiB)
    config = Config()
    config.Execute.timeout = 30
    assert GradingLimits.from_options(config).cell_timeout == 30
    # What the command line gives wins over the course's config.
    assert GradingLimits.from_options(config, timeout=7) == GradingLimits(7, 900, 4 * GiB)


def test_every_option_reaches_the_limits():
    limits = GradingLimits.from_options(Config(), timeout=5, notebook_timeout=60, memory_gb=1.5)
    assert limits == GradingLimits(cell_timeout=5, notebook_timeout=60, memory=int(1.5 * GiB))
    assert GradingLimits.from_options(Config(), notebook_timeout=0).notebook_timeout is None


def test_a_traitlets_trait_no_longer_sets_the_sandbox_limits():
    config = Config()
    config.LimitedExecute.memory_limit = 1  # the --kernel mode's own trait
    config.LimitedExecute.notebook_timeout = 1
    assert GradingLimits.from_options(config) == GradingLimits()


@pytest.mark.parametrize("kernel", [False, True], ids=["sandbox", "kernel"])
def test_the_grade_command_passes_its_limits_to_grade(kernel, monkeypatch, tmp_path):
    seen = {}

    def fake_grade(course, assignment, **options):
        seen.update(options)
        raise InstructorError("stop here")

    monkeypatch.setattr(grade_module, "grade", fake_grade)
    monkeypatch.setattr(
        cli, "Course", lambda root, db_url=None: SimpleNamespace(config=Config(), root=root)
    )
    monkeypatch.setattr(cli, "find_course", lambda given: tmp_path)
    argv = ["grade", "forward", "--timeout", "9", "--notebook-timeout", "33"]
    argv += ["--memory-limit", "2"] + (["--kernel"] if kernel else [])
    assert cli.main(argv) == 2
    assert seen["sandbox"] is not kernel
    assert seen["limits"] == GradingLimits(cell_timeout=9, notebook_timeout=33, memory=2 * GiB)
