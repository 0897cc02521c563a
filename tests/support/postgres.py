"""A throwaway PostgreSQL server for tests that use nbgrader with a real database server.

tests/conftest.py registers its fixtures for every test (``pytest_plugins``).

`postgres_url` (session scope) starts one server per test session, from Debian's
`postgresql` package (`apt-get install postgresql`, which .ci/run does), in a temporary
directory; it listens on a unix socket in that directory only (no TCP, no network) and
trusts local connections. `fresh_postgres_url` (function scope) is an empty database on
that server for one test, e.g. an empty nbgrader gradebook, dropped after the test.

initdb refuses to run as root: as root (CI runs as root) the server runs as the
`postgres` system user that the Debian package creates, through `runuser`.
"""

import itertools
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from .resources import require

PORT = 5432  # the server's socket is <socket dir>/.s.PGSQL.5432; it opens no TCP port
SERVER_USER = "postgres"  # the system user that runs the server as root, and the superuser
INSTALL_HINT = (
    "install Debian's PostgreSQL server: `apt-get install postgresql` (.ci/run does this on CI)"
)
_databases = itertools.count()


def find_server_binaries():
    """(initdb, pg_ctl): the newest /usr/lib/postgresql/<version>/bin, else from PATH; or None."""
    versions = []
    for folder in Path("/usr/lib/postgresql").glob("*/bin"):
        if re.fullmatch(r"\d+(\.\d+)*", folder.parent.name):
            versions.append((tuple(int(part) for part in folder.parent.name.split(".")), folder))
    for _, folder in sorted(versions, reverse=True):
        if os.access(folder / "initdb", os.X_OK) and os.access(folder / "pg_ctl", os.X_OK):
            return str(folder / "initdb"), str(folder / "pg_ctl")
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    return None


def server_missing():
    """Why this machine cannot start the server (initdb and pg_ctl, and as root the
    `postgres` user to run them as), or None when it can."""
    if find_server_binaries() is None:
        return f"PostgreSQL's initdb and pg_ctl were not found: {INSTALL_HINT}"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return (
                f"running as root, but there is no `{SERVER_USER}` system user to run the "
                f"server as: {INSTALL_HINT}"
            )
    return None


def as_server_user():
    """The command prefix that runs the server's programs: none, or as root
    `runuser -u postgres --` (and the user's uid and gid, to own the server's files)."""
    if os.geteuid() != 0:
        return [], None
    user = pwd.getpwnam(SERVER_USER)
    return ["runuser", "-u", SERVER_USER, "--"], (user.pw_uid, user.pw_gid)


def server_environment():
    """This environment without libpq's PG* variables (they would redirect the programs)
    and with a plain locale for initdb."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = env["LANG"] = "C"
    return env


def url(socket_dir, database, port=PORT):
    """SQLAlchemy URL of a database on the server whose socket is in socket_dir, as the
    superuser."""
    return f"postgresql+psycopg://{SERVER_USER}@/{database}?host={socket_dir}&port={port}"


def create_database(server_url, name):
    """Create an empty database `name` on the server of server_url (a URL of this module's
    form); returns the new database's URL."""
    from sqlalchemy import create_engine, make_url, text

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain lower-case PostgreSQL name: {name!r}")
    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    server = make_url(server_url).query
    return url(server["host"], name, server.get("port", PORT))


def drop_database(server_url, name):
    """Drop database `name` on the server of server_url, closing its open connections."""
    from sqlalchemy import create_engine, text

    engine = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _run(command, what, log=None, **options):
    result = subprocess.run(command, capture_output=True, text=True, **options)
    if result.returncode != 0:
        details = result.stdout + result.stderr
        if log is not None and log.exists():
            details += f"\n--- server log {log}:\n" + log.read_text(errors="replace")[-5000:]
        pytest.fail(f"PostgreSQL: {what} failed ({' '.join(command)}):\n{details}", pytrace=False)
    return result


def _watchdog(stop_command, base, env):
    """A process that stops the server and removes its files should this test process die
    without its teardown (killed); it polls for this process once a second."""
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
        f"{shlex.join(stop_command)} >/dev/null 2>&1; rm -rf {shlex.quote(str(base))}"
    )
    return subprocess.Popen(
        ["sh", "-c", script],
        cwd=base,
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def postgres_url():
    """The URL of database `backprop` on a PostgreSQL server of this test session,
    `postgresql+psycopg://postgres@/backprop?host=<socket dir>&port=5432`."""
    require("postgres")
    initdb, pg_ctl = find_server_binaries()
    prefix, owner = as_server_user()
    env = server_environment()
    # A short path: a unix socket's path is limited to about 100 characters.
    base = Path(tempfile.mkdtemp(prefix="pgtest-", dir="/tmp" if os.path.isdir("/tmp") else None))
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    stop = [*prefix, pg_ctl, "-D", str(data), "-w", "-t", "30", "stop"]
    started, watchdog = False, None
    try:
        sockets.mkdir(mode=0o700)
        if owner:
            for path in (base, sockets):
                os.chown(path, *owner)
        # cwd: the server user may not be allowed into the current directory
        _run(
            [
                *prefix,
                initdb,
                "-D",
                str(data),
                "--auth=trust",
                "-U",
                SERVER_USER,
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ],
            "initdb",
            cwd=base,
            env=env,
        )
        options = f"-k {sockets} -p {PORT} -c listen_addresses='' -c fsync=off"
        started = True  # from here on, stop whatever may have started
        watchdog = _watchdog([*stop, "-m", "immediate"], base, env)
        _run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "starting the server",
            log=log,
            cwd=base,
            env=env,
        )
        yield create_database(url(sockets, "postgres"), "backprop")
    finally:
        if watchdog is not None:
            os.killpg(
                watchdog.pid, signal.SIGKILL
            )  # its own process group: the shell and its sleep
            watchdog.wait()
        if started:
            if subprocess.run(
                [*stop, "-m", "fast"], cwd=base, env=env, capture_output=True
            ).returncode:
                subprocess.run([*stop, "-m", "immediate"], cwd=base, env=env, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_url, request):
    """The URL of a new, empty database on the session's server, for this test only."""
    name = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40].strip("_")
    name = f"t{next(_databases)}_{name}"
    database = create_database(postgres_url, name)
    try:
        yield database
    finally:
        drop_database(postgres_url, name)
