"""Test setup: MNIST comes from ../shared/datasets/mnist unless MNIST_DIR says otherwise;
nothing touches the network.

Markers (registered in pyproject.toml; CONTRIBUTING.md says which to use):

    book      uses the built book (fixture built_book; marked here by fixture)
    browser   prints the PDF or drives headless Chromium (fixtures built_pdf, browser_reports)
    postgres  starts a PostgreSQL server (fixture postgres_url, and so fresh_postgres_url)
    sandbox   runs a student's code in the grader's bubblewrap sandbox (marked in the modules)
    slow      takes long even on an idle machine (left out by `make test-fast`)

Before a test marked browser, postgres or sandbox runs, tests/support/resources.py checks
that the machine has what it needs: if not, the test is skipped with the reason and the
fix, or fails under BACKPROP_REQUIRE_ALL=1 (.ci/run), where any skip at all is a failure.

Parallel runs (pytest-xdist, `make test`: `-n auto --dist loadscope`): all tests of a
module run on one worker, so that a module's fixtures (a graded class, the built book in
_build/) are built once; the tests listed in ON_THEIR_OWN are units of their own, free to
run beside their module (they share nothing with it). The scope is decided here, from the
test's id, because the controller sees ids only (and xdist's `xdist_group` marker does not
reach the scheduler under pytest 9.2).
"""

import os
from pathlib import Path

import pytest
import threadpoolctl

from autograder.instructor.course import one_blas_thread
from tests.support import resources

ROOT = Path(__file__).resolve().parents[1]
SHARED_MNIST = ROOT.parent / "shared" / "datasets" / "mnist"

os.environ.setdefault("MNIST_DIR", str(SHARED_MNIST))
# matplotlib's font cache of this checkout (kernels and subprocesses inherit it): a per-user
# cache written by another, since deleted, virtualenv lists fonts that are gone.
os.environ.setdefault("MPLCONFIGDIR", str(ROOT / "_build" / "matplotlib"))
Path(os.environ["MPLCONFIGDIR"]).mkdir(parents=True, exist_ok=True)

# One BLAS thread per test process in a parallel run (and in what it starts: the book build,
# nbval, kernels, the command-line tools). xdist already runs a process per core: more BLAS
# threads only oversubscribe the cores, and a thread waiting for a descheduled partner spins
# (an MNIST epoch took 1.7 s with two threads beside a busy core, 0.7 s with one).
if os.environ.get("PYTEST_XDIST_WORKER"):
    one_blas_thread(os.environ)
    threadpoolctl.threadpool_limits(1)

# The PostgreSQL server fixtures, for every module that asks for them.
pytest_plugins = ["tests.support.postgres"]

# A test that uses one of these fixtures gets the marker.
FIXTURE_MARKERS = {
    "built_book": "book",
    "built_pdf": "browser",
    "browser_reports": "browser",
    "postgres_url": "postgres",
}
# Long tests that need none of their module's fixtures: each may run on any worker.
ON_THEIR_OWN = ("tests/test_book.py::test_chapters_run_under_nbval",)
# The longest units of work, longest first (seconds on an idle 2-core machine): a parallel run
# starts them first, so that no worker is left with a long one at the end while the others wait.
LONGEST_FIRST = (
    "tests/test_book.py",  # ~370: the book build, the browser, the PDF
    "tests/test_cluster.py",  # ~250: classes and the integrity corpus on Dask clusters
    "tests/test_integrity.py",  # ~180
    "tests/test_grade.py",  # ~120
    "tests/test_lms_corpus.py",  # ~95
    "tests/test_book.py::test_chapters_run_under_nbval[with-reference]",  # ~90
    "tests/test_assignments.py",  # ~80
    "tests/test_instructor_mistakes.py",  # ~25
    "tests/test_book.py::test_chapters_run_under_nbval[student-without-reference]",  # ~20
)


def pytest_collection_modifyitems(items):
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in item.fixturenames and not item.get_closest_marker(marker):
                item.add_marker(marker)
    rank = {scope: index for index, scope in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(xdist_scope(item.nodeid), len(rank)))  # stable


def xdist_scope(nodeid):
    """The unit of work a test belongs to in a parallel run: its module, or itself."""
    if nodeid.startswith(ON_THEIR_OWN):
        return nodeid
    return nodeid.split("::")[0]


def pytest_xdist_make_scheduler(config, log):
    """--dist loadscope, with xdist_scope as the scope, in the order of the collection (longest
    first) rather than xdist's (most tests first)."""
    if config.getvalue("dist") != "loadscope":
        return None
    config.option.loadscopereorder = False
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return xdist_scope(nodeid)

    return ModuleScheduling(config, log)


def pytest_runtest_setup(item):
    for resource in resources.CHECKS:
        if item.get_closest_marker(resource):
            resources.require(resource)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under BACKPROP_REQUIRE_ALL=1 a skipped test is a failed one (an expected failure,
    xfail, stays what it is): on CI everything is installed, so a skip hides a test."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and resources.required():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under {resources.REQUIRE_ALL}=1, where nothing may be: {reason}"


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST data set, loaded once per test session."""
    from autograder import load_mnist

    return load_mnist()
