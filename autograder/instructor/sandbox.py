"""A disposable, resource-limited process for a student's code.

The process runs student_process.py with this interpreter, and:

- no network: a new network namespace with only a loopback that is down;
- nothing of the course: in a new mount namespace the course folder, the
  `solutions` package, this instructor package, the rest of the project's
  checkout (its .git included) and anything else listed are covered by empty,
  unreadable mounts; /tmp, /var/tmp and /dev/shm are its own, small and gone
  when it ends; its working directory is /tmp/work;
- no privileges: it runs as an unprivileged user id of its own, with no
  capabilities (so it cannot undo the mounts), in a new PID namespace (when
  it is killed, everything it started dies with it);
- limits: address space, processes, file size, open files, CPU time, and an
  environment with nothing but what it needs.

This needs util-linux (`unshare`, `setpriv`) and root, as the grading machine
and CI have; without them `Sandbox.start` raises SandboxUnavailable, which
names the missing piece.
"""

import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .protocol import Channel

HERE = Path(__file__).resolve().parent
CHILD_FILES = ("student_process.py", "protocol.py")
GiB = 2**30
FIRST_UID = 61000  # sandbox user ids: FIRST_UID + a slot per worker process
PRIVATE_FOLDERS = (("/tmp", "512m"), ("/var/tmp", "64m"), ("/dev/shm", "64m"))  # RAM-backed, per process


class SandboxUnavailable(RuntimeError):
    """The machine cannot isolate a student's process; the message says what is missing."""


@dataclass
class Limits:
    memory: int = 4 * GiB          # address space of the student's process
    processes: int = 64             # processes and threads of the sandbox user
    file_size: int = 64 * 2**20     # largest file it may write (its stdout and stderr included)
    open_files: int = 256
    cpu_seconds: int = 900          # a backstop; wall-clock limits are per request
    hidden: list = field(default_factory=list)  # more folders to cover


def hidden_paths(course_root, extra=()):
    """What the student's process must not see: the course, `solutions`, this package's
    instructor half, `extra`, and, when the toolkit runs from a checkout of the project,
    everything in that checkout but its virtualenv and the toolkit (its .git holds every
    version of the instructor's notebooks). Existing paths only, files included."""
    import importlib.util

    paths = [Path(course_root), HERE, *map(Path, extra)]
    spec = importlib.util.find_spec("solutions")
    if spec is not None and spec.submodule_search_locations:
        paths += [Path(p) for p in spec.submodule_search_locations]
    checkout = HERE.parents[1]
    if (checkout / "pyproject.toml").is_file():
        needed = {HERE.parent.resolve(), Path(sys.prefix).resolve()}
        paths += [entry for entry in checkout.iterdir()
                  if entry.resolve() not in needed and not any(n.is_relative_to(entry.resolve()) for n in needed)]
    unique = []
    for path in (p.resolve() for p in paths):
        if path.exists() and path not in unique:
            unique.append(path)
    return unique


def needed_paths():
    """What the student's process needs to see: the interpreter (the virtualenv and the Python
    it is made from), the student toolkit, and the MNIST data."""
    paths = [Path(sys.prefix), Path(sys.base_prefix), HERE.parent]
    if os.environ.get("MNIST_DIR"):
        paths.append(Path(os.environ["MNIST_DIR"]))
    return [path.resolve() for path in paths if path.exists()]


def check_available():
    """Raise SandboxUnavailable unless this machine can build the sandbox."""
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "grading student code in a sandbox needs root (to give each student process its own "
            "user, network and mount namespaces). Run the grader as root, e.g. in a container."
        )
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            raise SandboxUnavailable(f"`{tool}` is missing: install util-linux (apt-get install util-linux).")


class Sandbox:
    """One student process. start() -> a protocol.Channel to it; kill() ends it and its scratch."""

    def __init__(self, hidden, limits=None, slot=0, environment=None):
        self.hidden = [str(p) for p in hidden]
        self.limits = limits or Limits()
        self.uid = FIRST_UID + slot
        self.environment = environment or {}
        self.process = self.scratch = None

    def start(self):
        check_available()
        self.scratch = Path(tempfile.mkdtemp(prefix="sandbox-"))  # the grader's side: the process log
        to_child_read, to_child_write = os.pipe()
        from_child_read, from_child_write = os.pipe()
        # Inside the new namespaces, as root for a moment: private, size-limited /tmp, /var/tmp and
        # /dev/shm (nothing written there outlives the process, and other students' scratch
        # folders are out of sight), with what the process needs from them (the interpreter, the
        # toolkit, the data, when they live there) put back; the program in /tmp/work; everything
        # in `hidden` covered; then privileges go for good.
        uid, quote = self.uid, shlex.quote
        private = [Path(folder) for folder, _ in PRIVATE_FOLDERS]
        keep = [path for path in needed_paths() if any(path.is_relative_to(folder) for folder in private)]
        steps = ["mount --make-rprivate /", "mount -t tmpfs -o size=64m stage /mnt", "mkdir /mnt/work"]
        steps += [f"cp {quote(str(HERE / name))} /mnt/work/" for name in CHILD_FILES]
        steps += [f"mkdir /mnt/keep{i} && mount --bind {quote(str(path))} /mnt/keep{i}" for i, path in enumerate(keep)]
        steps += [f"mount -t tmpfs -o size={size},mode=1777,nosuid,nodev sandbox {folder}"
                  for folder, size in PRIVATE_FOLDERS]
        steps += [f"mkdir -p {quote(str(path))} && mount --bind /mnt/keep{i} {quote(str(path))}"
                  for i, path in enumerate(keep)]
        steps += ["cp -r /mnt/work /tmp/work", "umount -R -l /mnt",
                  f"chown -R {uid}:{uid} /tmp/work", "chmod 700 /tmp/work"]
        for path in map(quote, map(str, self.hidden)):  # those under /tmp may be gone: test first
            steps.append(f"{{ if [ -d {path} ]; then mount -t tmpfs -o size=4k,mode=000 hidden {path}; "
                         f"elif [ -e {path} ]; then mount --bind /dev/null {path}; fi; }}")
        steps.append(
            f"cd /tmp/work && exec setpriv --reuid={uid} --regid={uid} --clear-groups --no-new-privs "
            f"--inh-caps=-all --bounding-set=-all -- "
            f"{quote(sys.executable)} -I student_process.py {to_child_read} {from_child_write}"
        )
        output = open(self.scratch / "output.txt", "wb")
        self.process = subprocess.Popen(
            ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
             "sh", "-c", " && ".join(steps)],
            env=self._environment(), stdin=subprocess.DEVNULL, stdout=output, stderr=output,
            pass_fds=(to_child_read, from_child_write), preexec_fn=self._set_limits,
            start_new_session=True,
        )
        output.close()
        os.close(to_child_read)
        os.close(from_child_write)
        self.channel = Channel(from_child_read, to_child_write)
        return self.channel

    def kill(self):
        """End the process (and everything it started) and remove its scratch folder."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
            for fd in (self.channel.read_fd, self.channel.write_fd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.process = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def output(self, limit=4000):
        """The end of what the process wrote to its stdout and stderr outside of cells."""
        path = self.scratch / "output.txt" if self.scratch else None
        if not path or not path.exists():
            return ""
        with open(path, "rb") as handle:
            handle.seek(max(path.stat().st_size - limit, 0))
            return handle.read().decode(errors="replace")

    def _environment(self):
        keep = {"MNIST_DIR", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
        environment = {k: v for k, v in os.environ.items() if k in keep}
        environment.update({
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": "/tmp/work", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/work", "PYTHONDONTWRITEBYTECODE": "1",
        })
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            environment.setdefault(variable, "1")
        environment.update(self.environment)
        return environment

    def _set_limits(self):
        limits = self.limits
        for kind, value in ((resource.RLIMIT_AS, limits.memory), (resource.RLIMIT_NPROC, limits.processes),
                            (resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_NOFILE, limits.open_files),
                            (resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(kind, (value, value))

