"""What a marked test needs from the machine, and what happens when it is missing.

    browser   Debian's chromium and chromium-driver, selenium, and axe-core (make setup)
    postgres  Debian's PostgreSQL server programs (initdb, pg_ctl) and, as root, its user
    sandbox   root, bubblewrap and setpriv, and a kernel that lets bubblewrap build namespaces

tests/conftest.py calls `require` before every test that carries one of these markers.
Where the resource is missing the test is skipped with the reason and how to get it; with
BACKPROP_REQUIRE_ALL=1 (.ci/run sets it, since CI installs everything) it fails instead,
so that no test is skipped silently where it should have run.
"""

import functools
import os

import pytest

REQUIRE_ALL = "BACKPROP_REQUIRE_ALL"


def required():
    """True when a missing resource must fail the test (BACKPROP_REQUIRE_ALL=1)."""
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def _browser():
    from tests.support import book_browser

    return book_browser.chromium_missing() or book_browser.axe_missing()


def _postgres():
    from tests.support import postgres

    return postgres.server_missing()


def _sandbox():
    from autograder.instructor.sandbox import SandboxUnavailable, check_available

    try:
        check_available()
    except SandboxUnavailable as error:
        return f"{error} (.ci/run installs bubblewrap; the sandbox needs root)"
    return None


CHECKS = {"browser": _browser, "postgres": _postgres, "sandbox": _sandbox}


@functools.cache
def missing(resource):
    """Why `resource` (a key of CHECKS) is not usable here, or None when it is."""
    return CHECKS[resource]()


def require(resource):
    """Skip the running test (fail it under BACKPROP_REQUIRE_ALL=1) unless `resource` is usable."""
    reason = missing(resource)
    if reason is None:
        return
    if required():
        pytest.fail(
            f"{resource} is required ({REQUIRE_ALL}=1) but missing: {reason}", pytrace=False
        )
    pytest.skip(f"{resource} missing: {reason}")
