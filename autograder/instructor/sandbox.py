"""A disposable, resource-limited process for a student's code, that sees an allow-list.

The process runs student_process.py with this interpreter inside bubblewrap
(`bwrap`, Debian's package `bubblewrap`), started as root and told exactly what
to show. The student's process gets:

- a root file system built only from read-only binds (`binds()`): the system
  libraries (/usr/lib*, ld.so.cache), the interpreter (the virtualenv and the
  Python it is made from), the student toolkit (`autograder/` without its
  instructor half), the data the assignment declares (`Limits.data`; by
  default $MNIST_DIR), `setpriv`; plus its own /proc, a minimal /dev, and
  small RAM-backed /tmp and /dev/shm that vanish with it, its working
  directory /tmp/work holding student_process.py and protocol.py. Nothing else
  of the host: no /home, /root, /srv, /var, /run, no other copy of the course;
  the root itself is read-only;
- its own network (a loopback only), IPC (SysV shared memory, message queues,
  semaphores, POSIX queues), PID, UTS and cgroup namespaces: nothing it creates
  is seen outside, no AF_UNIX socket of the host is in its file system, and
  when its PID namespace's first process dies (`kill()`, or the grader dying:
  `--die-with-parent`) the kernel kills everything in it, setsid() or not;
- an unprivileged user id of its own with no capabilities (`setpriv`), leased
  under a lock (`lease_uid`) so that no two sandboxes on the machine, of one
  grading run or of two, ever share it;
- limits: address space, processes, file size, open files, CPU time, and an
  environment with nothing but what it needs.

Why bubblewrap: it builds the root from an explicit list (an allow-list, where
the covering mounts used before were a block-list that missed other copies of
the course), it is small, audited (Flatpak's sandbox) and packaged by Debian;
nsjail is not in Debian's archive and firejail works from block-list profiles.
bwrap runs as root without a user namespace (a user namespace would map the
sandbox user to root, or leave bwrap unable to reach an interpreter under
/root); privileges go at `setpriv`, before any student code runs.

This needs root, bubblewrap and util-linux's setpriv, as the grading machine and
CI have; without them `check_available` raises SandboxUnavailable naming the
missing piece and the fix.
"""

import fcntl
import json
import os
import pwd
import resource
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

from .course import BLAS_THREAD_VARIABLES, one_blas_thread
from .protocol import Channel

HERE = Path(__file__).resolve().parent
CHILD_FILES = ("student_process.py", "protocol.py")
GiB = 2**30
MiB = 2**20
FIRST_UID, UID_COUNT = 61000, 4000  # the sandbox user ids: 61000-64999, one per live sandbox
UID_LOCKS = Path("/run/autograder-sandbox")  # root-only: one lock file per leased uid
PRIVATE_FOLDERS = (("/tmp", 512 * MiB), ("/dev/shm", 64 * MiB))  # RAM-backed, per process
SYSTEM_PREFIXES = (Path("/"), Path("/usr"))  # a system Python: bind its pieces, not all of /usr
START_TIMEOUT = 30  # seconds for bwrap to build the sandbox
# The message pipes' capacity. Linux's default, 64 KiB, splits one layer's input or weights
# (64 x 512 floats: 256 KiB) into several writes, each waiting for the other process to read;
# 1 MiB (an unprivileged process's maximum by default) takes such a message in one write.
PIPE_SIZE = 1 * MiB


class SandboxUnavailable(RuntimeError):
    """The machine cannot isolate a student's process; the message says what is missing."""


def mnist_data():
    """The data a sandbox shows by default: $MNIST_DIR, if set."""
    return [os.environ["MNIST_DIR"]] if os.environ.get("MNIST_DIR") else []


@dataclass
class Limits:
    memory: int = 4 * GiB  # address space of the student's process
    processes: int = 64  # processes and threads of the sandbox user
    file_size: int = 64 * MiB  # largest file it may write (its stdout and stderr included)
    open_files: int = 256
    cpu_seconds: int = 900  # a backstop; wall-clock limits are per request
    channel_timeout: float = 120  # a read or write on the channel without a deadline of its own
    data: list = field(
        default_factory=mnist_data
    )  # folders or files shown read-only, at their paths
    hidden: list = field(default_factory=list)  # more paths to cover should a bind contain them


def hidden_paths(course_root, extra=()):
    """What the student's process must not see even where a bind would show it: the course,
    `solutions`, this package's instructor half, `extra`. The allow-list leaves out everything
    else; these are covered when they lie inside a bound folder (the toolkit's instructor half
    always does; `solutions` does when the project is installed into the virtualenv)."""
    import importlib.util

    paths = [Path(course_root), HERE, *map(Path, extra)]
    spec = importlib.util.find_spec("solutions")
    if spec is not None and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    unique = []
    for path in (p.resolve() for p in paths):
        if path.exists() and path not in unique:
            unique.append(path)
    return unique


def interpreter_paths():
    """The interpreter: the virtualenv, the Python it is made from, its standard library and
    site-packages. A system Python (prefix /usr) is bound by its pieces, /usr/local left out."""
    paths = [Path(sys.prefix), Path(sys.executable).resolve()]
    if Path(sys.base_prefix) not in SYSTEM_PREFIXES:
        paths.append(Path(sys.base_prefix))
    config = sysconfig.get_paths()
    paths += [Path(config[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    libdir = sysconfig.get_config_var("LIBDIR")  # libpython, for a shared build
    if libdir:
        paths.append(Path(libdir))
    # Package folders that a .pth file adds (a virtualenv layered on another one's packages);
    # only package folders: a checkout on the path (an editable install) stays out of sight.
    paths += [
        Path(p)
        for p in sys.path
        if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()
    ]
    return paths


def binds(data=()):
    """[(host path, sandbox path)] of every read-only bind, outermost first: the system
    libraries, the interpreter, the toolkit, the data. Existing paths only, none inside
    another, resolved (the sandbox path is the host path: the toolkit's editable install
    and $MNIST_DIR point there)."""
    wanted = [
        Path("/usr/lib"),
        Path("/usr/lib64"),
        Path("/etc/ld.so.cache"),
        Path(shutil.which("setpriv") or "/usr/bin/setpriv"),
    ]
    wanted += [
        p for p in (Path("/lib"), Path("/lib64")) if not p.is_symlink()
    ]  # not merged into /usr
    wanted += interpreter_paths() + [HERE.parent] + [Path(p) for p in data]
    found = sorted(
        {p.resolve() for p in wanted if p.exists()}, key=lambda p: (len(p.parts), str(p))
    )
    kept = []
    for path in found:
        if not any(path.is_relative_to(outer) for outer in kept):
            kept.append(path)
    return [(str(p), str(p)) for p in kept]


def processes_of(uid):
    """Ids of the host's processes whose real, effective, saved or file-system uid is `uid`
    (from /proc/PID/status: the owner of /proc/PID hides a process that made itself undumpable)."""
    found, wanted = [], str(uid)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/status") as status:
                    line = next(line for line in status if line.startswith("Uid:"))
            except (OSError, StopIteration):
                continue  # it ended meanwhile
            if wanted in line.split()[1:]:
                found.append(int(entry.name))
    return found


def lease_uid(first=0):
    """(uid, lock fd): a sandbox user id that no other sandbox on this machine holds, no
    account uses and no process runs as; held until the fd is closed or this process ends.
    `first` is where the search starts (spreads the workers of one run)."""
    try:
        UID_LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = UID_LOCKS.lstat()
    except OSError as error:
        raise SandboxUnavailable(
            f"cannot create the sandbox uid lock folder {UID_LOCKS}: {error}"
        ) from None
    if not UID_LOCKS.is_dir() or UID_LOCKS.is_symlink() or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxUnavailable(
            f"{UID_LOCKS} must be a folder owned by root that only root can write; "
            f"remove it and grade again."
        )
    for step in range(UID_COUNT):
        uid = FIRST_UID + (first + step) % UID_COUNT
        try:
            pwd.getpwuid(uid)
            continue  # an account of the machine
        except KeyError:
            pass
        fd = os.open(
            UID_LOCKS / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600
        )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        if processes_of(uid):  # left by something else: not ours to share
            os.close(fd)
            continue
        return uid, fd
    raise SandboxUnavailable(
        f"all {UID_COUNT} sandbox user ids ({FIRST_UID}-{FIRST_UID + UID_COUNT - 1}) are in use."
    )


_checked = False


def check_available():
    """Raise SandboxUnavailable unless this machine can build the sandbox (a trial run, once)."""
    global _checked
    if _checked:
        return
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "grading student code in a sandbox needs root (bubblewrap builds the student's process "
            "its own root file system and namespaces, then drops to a user of its own). "
            "Run the grader as root, e.g. in a container."
        )
    for tool, package in (("bwrap", "bubblewrap"), ("setpriv", "util-linux")):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(
                f"`{tool}` is missing: install it with `apt-get install {package}`."
            )
    sandbox = Sandbox([], Limits(data=[]), command=[sys.executable, "-I", "-c", "pass"])
    try:
        sandbox.start()
        code = sandbox.process.wait(START_TIMEOUT)
    except subprocess.TimeoutExpired:
        code = "a timeout"
    except SandboxUnavailable as error:
        code = error
    finally:
        sandbox.kill()
    if code != 0:
        raise SandboxUnavailable(
            f"a trial process in the sandbox failed ({code}): "
            f"{sandbox.log[-2000:].strip() or 'no message'}. The kernel must allow "
            f"namespaces (in a container: run it privileged)."
        )
    _checked = True


class Sandbox:
    """One student process. start() -> a protocol.Channel to it; kill() ends it and all it started.

    hidden: paths to cover should a bind contain them (hidden_paths()); slot: where to start
    looking for a free user id; command: what to run instead of student_process.py (a check)."""

    def __init__(self, hidden, limits=None, slot=0, environment=None, command=None):
        self.hidden = [str(p) for p in [*hidden, *(limits.hidden if limits else [])]]
        self.limits = limits or Limits()
        self.slot = slot
        self.environment = environment or {}
        self.command = command
        self.uid = self.process = self.channel = None
        self._lock = self._pidfd = self._log = None
        self.log = ""  # what bwrap and the process wrote outside of cells, kept at kill()

    def arguments(self, files):
        """bwrap's command line. files: {sandbox path: fd to copy from}."""
        args = [
            shutil.which("bwrap") or "bwrap",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup",
            "--die-with-parent",
            "--new-session",
            "--clearenv",
            "--hostname",
            "sandbox",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]  # for setpriv only
        made = set()

        def folders(path):  # bwrap would copy the host's modes (/root is 0700): make them 0755
            for parent in reversed(Path(path).parents[:-1]):
                if parent not in made:
                    made.add(parent)
                    args.extend(["--perms", "0755", "--dir", str(parent)])

        # The private folders first, so that a bind inside one of them (a virtualenv or a
        # checkout under /tmp) is mounted on top of it rather than covered by it.
        args.extend(["--proc", "/proc", "--dev", "/dev"])
        for folder, size in PRIVATE_FOLDERS:
            args.extend(["--perms", "1777", "--size", str(size), "--tmpfs", folder])
            made.update({Path(folder), *Path(folder).parents})
        shown = binds(self.limits.data)
        for source, target in shown:
            folders(target)
            args.extend(["--ro-bind", source, target])
        for link in ("/lib", "/lib64"):
            if Path(link).is_symlink():
                args.extend(["--symlink", os.readlink(link), link])
        for path in self.hidden:  # inside a bind: cover it
            if any(Path(path).is_relative_to(target) for _, target in shown):
                args.extend(
                    ["--perms", "0000", "--tmpfs", path]
                    if Path(path).is_dir()
                    else ["--ro-bind", "/dev/null", path]
                )
        args.extend(["--remount-ro", "/dev", "--perms", "1777", "--dir", "/tmp/work"])
        for target, fd in files.items():
            args.extend(["--perms", "0644", "--file", str(fd), target])
        for name, value in self._environment().items():
            args.extend(["--setenv", name, value])
        uid = str(self.uid)
        args.extend(
            [
                "--remount-ro",
                "/",
                "--chdir",
                "/tmp/work",
                "--",
                shutil.which("setpriv") or "/usr/bin/setpriv",
                "--reuid",
                uid,
                "--regid",
                uid,
                "--clear-groups",
                "--no-new-privs",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        )
        return args

    def start(self):
        """Build the sandbox and start the process in it; returns the grader's Channel."""
        self.uid, self._lock = lease_uid(self.slot)
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        for end in (to_child_write, from_child_write):
            _enlarge_pipe(end)
        info_read, info_write = os.pipe()
        # The process log lives in memory (no scratch folder on the host to clean up);
        # the file-size limit caps it.
        self._log = os.memfd_create("sandbox-output", os.MFD_CLOEXEC)
        files = {}
        if self.command is None:
            for name in CHILD_FILES:
                files[f"/tmp/work/{name}"] = _memory_file((HERE / name).read_bytes())
        command = self.command or [
            sys.executable,
            "-I",
            "student_process.py",
            str(to_child_read),
            str(from_child_write),
        ]
        args = self.arguments(files) + command
        args[1:1] = ["--info-fd", str(info_write)]
        try:
            self.process = subprocess.Popen(
                args,
                env={},
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(to_child_read, from_child_write, info_write, *files.values()),
                preexec_fn=self._set_limits,
                start_new_session=True,
            )
        finally:
            for fd in (to_child_read, from_child_write, info_write, *files.values()):
                os.close(fd)
        self.channel = Channel(from_child_read, to_child_write, timeout=self.limits.channel_timeout)
        self._watch(info_read)
        return self.channel

    def _watch(self, info_read):
        """Hold a pidfd of the namespace's first process (bwrap reports its pid once it exists)."""
        text, deadline = b"", time.monotonic() + START_TIMEOUT
        try:
            while (
                time.monotonic() < deadline
                and select.select([info_read], [], [], deadline - time.monotonic())[0]
            ):
                chunk = os.read(info_read, 4096)
                text += chunk
                if not chunk or text.rstrip().endswith(b"}"):
                    break
        finally:
            os.close(info_read)
        try:
            pid = int(json.loads(text)["child-pid"])
        except (
            ValueError,
            KeyError,
            TypeError,
        ):  # bwrap gave up: the machine's fault, not the student's
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
            message = self.output().strip() or "no message"
            self.kill()
            raise SandboxUnavailable(f"bubblewrap could not build the sandbox: {message}") from None
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:
            pass  # it ended already (a check's `pass`): kill() waits for bwrap itself

    def kill(self):
        """End the process and everything it started; release its user id. The kernel ends every
        process of the PID namespace when its first process dies, and bwrap exits only after it
        has reaped that one: once bwrap is waited for, none is left."""
        if self.process is not None:
            if self._pidfd is not None:
                try:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.process = None
        for fd in (
            self._pidfd,
            *((self.channel.read_fd, self.channel.write_fd) if self.channel else ()),
        ):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._pidfd = self.channel = None
        if self._log is not None:
            self.log = self.output()
            os.close(self._log)
            self._log = None
        if self._lock is not None:
            deadline = time.monotonic() + 10
            while processes_of(self.uid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if not processes_of(self.uid):  # else keep the uid leased until this process ends
                os.close(self._lock)
            self._lock = None

    def output(self, limit=4000):
        """The end of what the process wrote to its stdout and stderr outside of cells."""
        if self._log is None:
            return self.log[-limit:]
        size = os.fstat(self._log).st_size
        return os.pread(self._log, limit, max(size - limit, 0)).decode(errors="replace")

    def _environment(self):
        keep = {"MNIST_DIR", *BLAS_THREAD_VARIABLES}
        environment = {k: v for k, v in os.environ.items() if k in keep}
        environment.update(
            {
                "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
                "HOME": "/tmp/work",
                "TMPDIR": "/tmp",
                "LANG": "C.UTF-8",
                "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": "/tmp/work",
                "PYTHONDONTWRITEBYTECODE": "1",
            }
        )
        one_blas_thread(environment)
        environment.update(self.environment)
        return environment

    def _set_limits(self):
        limits = self.limits
        for kind, value in (
            (resource.RLIMIT_AS, limits.memory),
            (resource.RLIMIT_NPROC, limits.processes),
            (resource.RLIMIT_FSIZE, limits.file_size),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CPU, limits.cpu_seconds),
            (resource.RLIMIT_CORE, 0),
        ):
            resource.setrlimit(kind, (value, value))


def _memory_file(data):
    """A file descriptor to read `data` from, at offset 0, with no path on the host."""
    fd = os.memfd_create("sandbox-file", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _enlarge_pipe(fd):
    """Give the pipe of `fd` PIPE_SIZE bytes of capacity; where the system refuses (a lower
    /proc/sys/fs/pipe-max-size, or the user's pipe memory used up) it keeps its default size,
    which only costs speed."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except OSError:
        pass
