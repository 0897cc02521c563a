"""The student's process (sandbox.py), the wire format (protocol.py) and the proxies (remote.py).

These run a few lines of "student code" in a real sandbox and check what it can
reach, what it leaves on the machine, and what the grader's side believes of the
objects it gets back. Each leak test tries the leak from inside and fails if it works.
"""

import fcntl
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from autograder.instructor import sandbox as sandbox_module
from autograder.instructor.course import Course
from autograder.instructor.protocol import Channel, ProtocolError, Timeout, decode, encode
from autograder.instructor.remote import Namespace, StudentCode, StudentError, StudentProcessLost
from autograder.instructor.sandbox import (
    FIRST_UID,
    UID_COUNT,
    Limits,
    Sandbox,
    SandboxUnavailable,
    binds,
    check_available,
    hidden_paths,
    processes_of,
)
from autograder.instructor.status import Status, load_status
from tests.support.assignment_cases import Prepend
from tests.support.assignment_course import (
    COURSE,
    ROOT,
    copy_course,
    environment,
    nbgrader,
    read,
    source_notebook,
    submit,
)


@pytest.fixture
def sandboxed():
    """A fresh student process; yields (Sandbox, StudentCode, Namespace of the tests)."""
    sandbox = Sandbox(hidden_paths(COURSE), Limits(memory=2 * 2**30, processes=32), slot=3999)
    code = StudentCode(sandbox.start(), timeout=20)
    yield sandbox, code, Namespace(code)
    sandbox.kill()


@pytest.fixture
def student(sandboxed):
    """(StudentCode, Namespace of the tests) of a fresh student process."""
    return sandboxed[1:]


def run(code, source):
    result = code.run_cell(textwrap.dedent(source), 20)
    assert result["error"] is None, result["error"]
    return result["stdout"]


def printed(code, source):
    """The value the cell printed last, evaluated: the cells below print one repr."""
    import ast

    return ast.literal_eval(run(code, source).strip().splitlines()[-1])


# ----------------------------------------------------------------- what it sees


@pytest.mark.sandbox
def test_the_student_process_sees_no_course_no_solutions_no_network_and_is_not_root(student):
    code, _ = student
    out = run(
        code,
        f"""
import os, socket, importlib.util
print("uid", os.getuid())
print("course", os.access({str(COURSE)!r}, os.R_OK))
spec = importlib.util.find_spec("solutions")
folder = list(spec.submodule_search_locations)[0] if spec and spec.submodule_search_locations else None
print("solutions", bool(folder and os.access(folder, os.R_OK)))
try:
    import solutions.layers
    print("imported solutions")
except ImportError:
    pass
try:
    socket.create_connection(("127.0.0.1", 22), timeout=1); print("network yes")
except OSError as error:
    print("network no")
print("cwd", os.getcwd() == "/tmp/work")
print("other tmp", sorted(os.listdir("/tmp")))
print("git", os.access({str(COURSE.parent / ".git")!r}, os.R_OK))
""",  # noqa: E501 (code a student writes, kept verbatim)
    )
    assert "uid 0" not in out and "course False" in out and "solutions False" in out
    assert "imported solutions" not in out
    assert "network no" in out and "cwd True" in out
    assert (
        "pytest-of" not in out.split("other tmp")[1] and "git False" in out
    )  # a private /tmp; no history


@pytest.mark.sandbox
def test_the_root_holds_the_binds_and_nothing_else(student):
    """Every path outside the binds, /proc, /dev and /tmp is only a folder on the way to a bind."""
    code, _ = student
    targets = [target for _, target in binds(Limits().data)]
    top = printed(code, "import os\nprint(sorted(os.listdir('/')))")
    extra = printed(
        code,
        f"""
import os
targets = {targets!r}
found = []
for folder, subfolders, files in os.walk("/"):
    if folder in ("/proc", "/dev", "/tmp") or folder in targets:
        subfolders[:] = []
        continue
    for name in subfolders + files:
        path = os.path.join(folder, name)
        if path not in targets and not any(t.startswith(path + "/") for t in targets) \\
                and path not in ("/proc", "/dev", "/tmp", "/lib", "/lib64"):
            found.append(path)
print(found)
""",
    )
    assert extra == []
    expected = {Path(t).parts[1] for t in targets} | {"proc", "dev", "tmp"}
    expected |= {name for name in ("lib", "lib64") if Path("/", name).is_symlink()}
    assert set(top) == expected, top
    for private in ("home", "srv", "opt", "var", "run", "mnt", "media", "sys", "boot"):
        assert private not in top


@pytest.fixture
def course_copies(tmp_path):
    """Copies of an instructor's notebook where a forgotten backup or checkout might be."""
    secret = f"hidden-test-{uuid.uuid4().hex}"
    tag = uuid.uuid4().hex[:8]
    folders = [
        Path(f"/srv/course-{tag}"),
        Path(f"/opt/course-{tag}"),
        Path(f"/var/tmp/backup-{tag}"),
        ROOT.parent / f"course-copy-{tag}",
        Path(f"/home/course-{tag}"),
        tmp_path / "another-checkout",
    ]
    paths = []
    for folder in folders:
        path = folder / "assignments" / "source" / "backward" / "backward.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(secret)
        path.chmod(0o644)
        for parent in path.parents:  # readable by anyone, as a careless copy would be
            if parent == folder.parent:
                break
            parent.chmod(0o755)
        paths.append(str(path))
    yield paths, secret
    for folder in folders:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.mark.sandbox
def test_another_copy_of_the_course_anywhere_is_out_of_reach(student, course_copies):
    code, _ = student
    paths, secret = course_copies
    out = run(
        code,
        f"""
import os
for path in {paths!r}:
    try:
        print("read", open(path).read())
    except OSError as error:
        print("refused", path, type(error).__name__)
for folder in ("/srv", "/opt", "/var/tmp", "/home"):
    try:
        print("listed", folder, os.listdir(folder))
    except OSError as error:
        print("refused", folder)
print("beside the checkout", os.listdir({str(ROOT.parent)!r}))  # only the folders on the way to a bind
""",  # noqa: E501 (code a student writes, kept verbatim)
    )
    assert secret not in out and "read " not in out, out
    assert out.count("refused") == len(paths) + 4, out
    assert "course-copy" not in out.split("beside the checkout")[1], out


@pytest.mark.sandbox
def test_honest_code_runs_numpy_matplotlib_and_the_toolkits_mnist_loader(student):
    code, _ = student
    assert os.environ.get("MNIST_DIR"), "set MNIST_DIR to the shared MNIST folder"
    out = run(
        code,
        """
import numpy as np
import matplotlib
import matplotlib.pyplot as plt
from autograder import load_mnist
data = load_mnist()
print("train", data.X_train.shape, "test", data.X_test.shape, "backend", matplotlib.get_backend())
x = np.random.default_rng(0).normal(size=(64, 32))
print("svd", np.allclose(np.linalg.svd(x, compute_uv=False).sum() > 0, True))
plt.plot(x[:, 0]); plt.savefig("plot.png")
import os
print("plot", os.path.getsize("plot.png") > 1000)
""",
    )
    assert "train (60000, 784) test (10000, 784) backend agg" in out.lower(), out
    assert "svd True" in out and "plot True" in out


# ----------------------------------------------------------------- what it shares


@pytest.mark.sandbox
def test_the_student_process_cannot_undo_its_mounts_or_grow_past_its_limits(student):
    code, _ = student
    out = run(
        code,
        f"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
print("umount", libc.umount2({str(Path(sys.prefix)).encode()!r}, 2), ctypes.get_errno())
print("mount", libc.mount(b"none", b"/tmp/work", b"tmpfs", 0, None))
children = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            import time; time.sleep(5); os._exit(0)
        children += 1
except OSError:
    pass
print("forked", children)
try:
    big = bytearray(3 * 2**30)
    print("allocated")
except MemoryError:
    print("memory refused")
""",
    )
    assert "umount -1" in out and "mount -1" in out, out
    assert int(out.split("forked ")[1].split()[0]) < 32
    assert "memory refused" in out


SYSV = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT, IPC_RMID = 0o1000, 0
def create(key):
    return (libc.shmget(key, 4096, IPC_CREAT | 0o666), libc.msgget(key, IPC_CREAT | 0o666),
            libc.semget(key, 1, IPC_CREAT | 0o666))
def remove(ids):
    libc.shmctl(ids[0], IPC_RMID, None); libc.msgctl(ids[1], IPC_RMID, None); libc.semctl(ids[2], 0, IPC_RMID)
def keys():
    found = set()
    for kind in ("shm", "msg", "sem"):
        with open("/proc/sysvipc/" + kind) as table:
            found |= {(kind, int(line.split()[0])) for line in list(table)[1:]}
    return found
"""  # noqa: E501 (code a student writes, kept verbatim)


@pytest.mark.sandbox
def test_sysv_ipc_objects_stay_in_the_sandbox_and_end_with_it(sandboxed):
    sandbox, code, _ = sandboxed
    namespace = {}
    exec(SYSV, namespace)
    inside_key, outside_key = 0x5EED0000 + os.getpid() % 4096, 0x0DD00000 + os.getpid() % 4096
    host_ids = namespace["create"](outside_key)
    assert min(host_ids) >= 0
    try:
        seen = printed(
            code, SYSV + f"print([min(create({inside_key})) >= 0, sorted(k for _, k in keys())])"
        )
        created, keys_inside = seen
        assert created and outside_key not in keys_inside and inside_key in keys_inside
        assert inside_key not in {
            key for _, key in namespace["keys"]()
        }  # not on the host while it runs
        sandbox.kill()
        assert inside_key not in {key for _, key in namespace["keys"]()}  # nor after
    finally:
        namespace["remove"](host_ids)


@pytest.mark.sandbox
def test_no_run_lock_and_no_host_unix_socket(student, tmp_path):
    code, _ = student
    path = f"/tmp/autograder-test-{uuid.uuid4().hex[:8]}.sock"
    abstract = f"\0autograder-test-{uuid.uuid4().hex[:8]}"
    listeners = []
    for address in (path, abstract):
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(address)
        listener.listen()
        listeners.append(listener)
    os.chmod(path, 0o777)
    lock_name = f"autograder-test-{uuid.uuid4().hex[:8]}"
    try:
        out = run(
            code,
            f"""
import socket
for address in ({path!r}, {abstract!r}):
    try:
        socket.socket(socket.AF_UNIX).connect(address); print("connected", repr(address))
    except OSError as error:
        print("refused", type(error).__name__)
for folder in ("/run/lock", "/var/lock", "/run"):
    try:
        open(folder + "/{lock_name}", "w").write("x"); print("wrote", folder)
    except OSError as error:
        print("cannot write", folder)
""",
        )
    finally:
        for listener in listeners:
            listener.close()
        os.unlink(path)
    assert "connected" not in out and out.count("refused") == 2, out
    assert "wrote" not in out and not any(
        Path(f, lock_name).exists() for f in ("/run/lock", "/var/lock", "/run")
    )


DETACHED = """
import os, sys
def detach(marker):
    '''A grandchild in a session of its own (setsid), its parent gone, undumpable, running `marker`.'''
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            import ctypes
            ctypes.CDLL(None).prctl(4, 0)  # PR_SET_DUMPABLE 0: /proc/PID is then root's
            os.execv(sys.executable, [sys.executable, "-c", "import time\\nwhile True: time.sleep(1)", marker])
        os._exit(0)
"""  # noqa: E501 (code a student writes, kept verbatim)


def processes_running(marker):
    """Pids of the host's processes whose command line holds `marker`."""
    found = []
    for entry in os.scandir("/proc"):
        try:
            if entry.name.isdigit() and marker.encode() in Path(entry.path, "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


@pytest.mark.sandbox
def test_a_setsid_double_forked_child_dies_with_the_sandbox(sandboxed):
    sandbox, code, _ = sandboxed
    marker = f"detached-{uuid.uuid4().hex}"
    run(code, DETACHED + f"detach({marker!r})")
    deadline = time.monotonic() + 10
    while not processes_running(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    [pid] = processes_running(marker)
    assert pid in processes_of(sandbox.uid)  # found by its uid even though /proc/PID is root's
    uid = sandbox.uid
    sandbox.kill()
    assert processes_running(marker) == [] and processes_of(uid) == []  # gone when kill() returns


@pytest.mark.sandbox
def test_two_sandboxes_never_share_a_user_id_in_one_run_or_two(sandboxed):
    sandbox, _, _ = sandboxed
    other = Sandbox([], slot=3999)  # the same slot: the lock decides
    other.start()
    try:
        assert other.uid != sandbox.uid
        script = (
            "from autograder.instructor.sandbox import Sandbox\n"
            "s = Sandbox([], slot=3999); s.start(); print(s.uid); s.kill()"
        )
        uid_of_another_run = int(
            subprocess.run(
                [sys.executable, "-c", script],
                capture_output=True,
                text=True,
                check=True,
                env=environment(),
            ).stdout
        )
        assert uid_of_another_run not in (sandbox.uid, other.uid)
        assert FIRST_UID <= uid_of_another_run < FIRST_UID + UID_COUNT
    finally:
        other.kill()
    lock = os.open(sandbox_module.UID_LOCKS / str(other.uid), os.O_RDWR)  # released by kill()
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(lock)


def test_a_layers_input_goes_through_the_message_pipes_in_one_write(sandboxed):
    """Both pipes hold a 64 x 512 float64 message whole (256 KiB; Linux's default is 64 KiB),
    and the student's process still receives and answers such a message."""
    sandbox, code, tests = sandboxed
    channel = sandbox.channel
    for fd in (channel.write_fd, channel.read_fd):
        assert fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) == sandbox_module.PIPE_SIZE
    x = np.random.default_rng(0).standard_normal((64, 512))
    assert sandbox_module.PIPE_SIZE > x.nbytes + 4096
    run(code, "def twice(x):\n    return 2 * x\n")
    assert np.array_equal(tests["twice"](x), 2 * x)


def test_without_bubblewrap_the_message_names_the_package(monkeypatch):
    monkeypatch.setattr(sandbox_module, "_checked", False)
    real_which = sandbox_module.shutil.which
    monkeypatch.setattr(
        sandbox_module.shutil, "which", lambda name: None if name == "bwrap" else real_which(name)
    )
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        check_available()


# ----------------------------------------------------------------- signals to a grading run


@pytest.fixture(scope="module")
def hanging_course(tmp_path_factory):
    """A course whose one submission starts detached grandchildren, then hangs in a cell."""
    root = copy_course(tmp_path_factory.mktemp("hang"))
    nbgrader(root, "generate_assignment", "backward", "--force")
    return root


def sandbox_tree(marker):
    """The pids of a run's sandbox: the marked grandchild, the namespace's bwrap above it, and the
    outer bwrap; plus the worker that started them."""
    [grandchild] = processes_running(marker)
    chain = [grandchild]
    for _ in range(4):  # grandchild -> bwrap (pid 1 inside) -> bwrap -> worker
        stat = Path(f"/proc/{chain[-1]}/stat").read_text()
        chain.append(int(stat.rsplit(")", 1)[1].split()[1]))
    return chain[:3], chain[3]


@pytest.mark.parametrize(
    "target, sent",
    [("command", signal.SIGTERM), ("worker", signal.SIGTERM), ("command", signal.SIGINT)],
)
@pytest.mark.slow
@pytest.mark.sandbox
def test_a_signal_to_grading_leaves_no_sandbox_process_and_no_scratch_folder(
    hanging_course, tmp_path, target, sent
):
    marker = f"grading-{uuid.uuid4().hex}"
    notebook = read(source_notebook("backward", hanging_course))
    Prepend(
        "tanh", DETACHED + f"detach({marker!r})\nimport time\nwhile True:\n    time.sleep(1)\n"
    ).apply(notebook.cells)
    student = f"hang_{sent.name.lower()}_{target}"
    submit(hanging_course, student, "backward", notebook)
    scratch = tmp_path / "tmp"  # the run's TMPDIR: any scratch folder it made would be here
    scratch.mkdir()
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "autograder",
            "grade",
            "backward",
            "--student",
            student,
            "--workers",
            "1",
            "--timeout",
            "600",
        ],
        cwd=hanging_course,
        env={**environment(), "TMPDIR": str(scratch)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal: a child inherits an ignored SIGINT, and an in-process
        # kernel earlier in this test process (ipykernel's init_signal) may have ignored it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while (
            not processes_running(marker) and time.monotonic() < deadline and command.poll() is None
        ):
            time.sleep(0.2)
        assert processes_running(marker), "the submission's grandchild never started"
        sandbox_pids, worker = sandbox_tree(marker)
        uid = Path(f"/proc/{sandbox_pids[0]}/status").read_text().split("Uid:")[1].split()[0]
        os.kill(command.pid if target == "command" else worker, sent)
        deadline = time.monotonic() + 30
        alive = lambda: [p for p in sandbox_pids + [worker] if Path(f"/proc/{p}").exists()]  # noqa: E731
        while (alive() or processes_of(int(uid))) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert alive() == [] and processes_of(int(uid)) == [] and processes_running(marker) == []
        assert [p.name for p in scratch.iterdir() if p.name.startswith("sandbox-")] == []
        if sent == signal.SIGINT:  # Ctrl-C: a message and the shell's status, no traceback
            _, errors = command.communicate(timeout=60)
            assert command.returncode == 130, errors
            assert "Traceback" not in errors and "run the same command again" in errors, errors
    finally:
        command.kill()
        command.communicate()
        for pid in processes_running(marker):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.sandbox
def test_a_killed_worker_fails_its_submission_and_the_next_run_grades_it(hanging_course):
    marker = f"slow-{uuid.uuid4().hex}"
    notebook = read(source_notebook("backward", hanging_course))
    Prepend("tanh", DETACHED + f"detach({marker!r})\nimport time\ntime.sleep(4)\n").apply(
        notebook.cells
    )
    student = "slow_killed_worker"
    submit(hanging_course, student, "backward", notebook)
    command = [sys.executable, "-m", "autograder", "grade", "backward", "--student", student]
    first = subprocess.Popen(
        [*command, "--workers", "1"],
        cwd=hanging_course,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not processes_running(marker) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.2)
    _, worker = sandbox_tree(marker)
    os.kill(worker, signal.SIGKILL)
    output, errors = first.communicate(timeout=120)
    assert first.returncode == 1 and "Traceback" not in errors, errors
    assert "run grade again" in output, output
    assert load_status(Course(hanging_course), "backward")[student]["status"] == Status.FAILED

    again = subprocess.run(
        command, cwd=hanging_course, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert "Traceback" not in again.stderr, again.stderr
    status = load_status(Course(hanging_course), "backward")[student]["status"]
    assert status == Status.GRADED, (again.stdout, again.stderr)


# ----------------------------------------------------------------- the objects that come back


@pytest.mark.sandbox
def test_objects_come_back_as_data_or_proxies_that_claim_nothing(student):
    code, names = student
    run(
        code,
        """
import numpy as np
class Liar(float):
    def __eq__(self, other): return True
    def __lt__(self, other): return True
class Everything:
    def __eq__(self, other): return True
    def __array__(self, dtype=None, copy=None): return np.zeros(3)
class Layer:
    params = ("W",)
    def __init__(self): self.W = np.ones((2, 2))
    def forward(self, x): return x @ self.W
def liar(): return Liar(0.5)
def everything(): return Everything()
""",
    )
    exec("liar_value = liar(); thing = everything(); layer = Layer()", names)
    assert (
        type(names["liar_value"]) is float
        and names["liar_value"] == 0.5
        and not names["liar_value"] == 1.0
    )
    thing = names["thing"]
    assert (
        type(thing).__name__ == "Everything" and not thing == 1 and not hasattr(thing, "__array__")
    )
    layer = names["layer"]
    assert type(layer).__name__ == "Layer" and isinstance(layer, names["Layer"])
    out = layer.forward(np.eye(2))
    assert type(out) is np.ndarray and np.array_equal(out, np.ones((2, 2)))
    assert names["layer"] is layer  # the same object gives the same proxy


@pytest.mark.sandbox
def test_a_shared_generator_advances_on_both_sides(student):
    code, names = student
    run(code, "def draw(rng, n):\n    return rng.permutation(n)\n")
    rng = np.random.default_rng(5)
    first = names["draw"](rng, 10)
    second = names["draw"](rng, 10)
    replay = np.random.default_rng(5)
    assert np.array_equal(first, replay.permutation(10)) and np.array_equal(
        second, replay.permutation(10)
    )


@pytest.mark.sandbox
def test_arrays_seen_through_vars_follow_the_students_changes_and_travel_only_when_changed(
    student, monkeypatch
):
    code, names = student
    run(
        code,
        """
        import numpy as np
        class Layer:
            def forward(self, x):
                self.x = x.copy()
                return x
            def look(self):
                return float(self.x.sum())
            def clip(self):
                self.x[self.x < 0] = 0.0
            def flip_zero(self):
                self.x[0] = -0.0  # equal to 0.0 for ==, a change all the same
            def clip_and_answer_what_cannot_be_sent(self):
                self.x[:] = 7.0
                return np.array([object()])
        layer = Layer()
        """,
    )
    layer = names["layer"]
    layer.forward(np.array([-1.0, 0.0, 2.0]))
    kept = vars(layer)["x"]
    received = []
    exchange = code._exchange

    def recording(data, timeout):
        message = exchange(data, timeout)
        received.append([ref for ref, _ in message.get("watched") or []])
        return message

    monkeypatch.setattr(code, "_exchange", recording)
    layer.look()
    assert received[-1] == [] and kept.tolist() == [-1.0, 0.0, 2.0]  # unchanged: nothing sent
    layer.clip()
    assert len(received[-1]) == 1 and kept.tolist() == [0.0, 0.0, 2.0]
    layer.look()
    assert received[-1] == []
    layer.flip_zero()
    assert len(received[-1]) == 1 and np.signbit(kept[0])
    # An answer that cannot be sent carries no arrays: the change arrives with the next one.
    with pytest.raises(TypeError):
        layer.clip_and_answer_what_cannot_be_sent()
    layer.look()
    assert kept.tolist() == [7.0, 7.0, 7.0]


@pytest.mark.sandbox
def test_the_student_code_reaches_only_public_methods_of_the_tests_objects(student):
    code, names = student
    # The student's code can send any request through the channel, e.g. for a private attribute.
    run(
        code,
        "def poke(helper):\n    return helper._server.ask_grader("
        "{'action': 'getattr', 'export': helper._export, 'name': '__dict__'})\n",
    )
    exec("class Helper:\n    def forward(self, x):\n        return 3 * x\n", names)
    with pytest.raises(StudentError, match="not available"):
        names["poke"](names["Helper"]())
    run(code, "def use(helper):\n    return helper.forward(2.0)\n")
    assert names["use"](names["Helper"]()) == 6.0


@pytest.mark.sandbox
def test_a_crash_or_a_hang_loses_the_process_not_the_grader(student):
    code, names = student
    run(code, "import os, time\ndef crash():\n    os._exit(3)\ndef hang():\n    while True: pass\n")
    with pytest.raises(StudentProcessLost, match="ended"):
        names["crash"]()
    with pytest.raises(StudentProcessLost):
        names["hang"]()


@pytest.mark.sandbox
def test_a_hung_request_times_out():
    sandbox = Sandbox(hidden_paths(COURSE), slot=3998)
    code = StudentCode(sandbox.start(), timeout=2)
    try:
        code.run_cell(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "def hang():\n    while True: pass\n",
            20,
        )
        with pytest.raises(StudentProcessLost, match="no answer within 2 s"):
            Namespace(code)["hang"]()
    finally:
        sandbox.kill()


# ----------------------------------------------------------------- the channel's bounds


@pytest.mark.sandbox
def test_a_student_process_that_stops_reading_cannot_block_the_grader():
    """It stops itself (SIGSTOP) with the channel still open; a large request must give up."""
    sandbox = Sandbox(hidden_paths(COURSE), Limits(channel_timeout=3), slot=3997)
    code = StudentCode(sandbox.start(), timeout=3)
    try:
        code.run_cell(
            "import os, signal\ndef identity(x):\n    return x\n"
            "signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGSTOP))\n"
            "signal.setitimer(signal.ITIMER_REAL, 0.5)\n",
            20,
        )
        time.sleep(1.5)
        started = time.monotonic()
        with pytest.raises(StudentProcessLost, match="no answer"):
            Namespace(code)["identity"](np.zeros(4_000_000))  # 32 MB: far more than a pipe holds
        assert time.monotonic() - started < 10
    finally:
        sandbox.kill()


def test_a_channel_write_and_read_have_deadlines():
    read_end, write_end = os.pipe()  # one pipe: what the channel writes, nobody reads
    channel = Channel(read_end, write_end, timeout=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(Timeout):
            channel.send(bytes(8 * 2**20))  # more than the pipe holds
        os.read(read_end, 2**20)  # empty the pipe's start, then wait for a message that never ends
        with pytest.raises((Timeout, ProtocolError)):
            channel.receive()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert time.monotonic() - started < 5


def nested(depth):
    value = 1
    for _ in range(depth):
        value = {"list": [value]}
    return value


def header_of(body, arrays=()):
    import json

    return json.dumps({"body": body, "arrays": list(arrays)}).encode()


@pytest.mark.parametrize(
    "header, payload",
    [
        (b"[" * 100_000 + b"]" * 100_000, b""),  # nested too deep to parse
        (header_of({"list": [[]] * 300_000}), b""),  # too many containers
        (header_of(None, [{"dtype": "<f8", "shape": [0]}] * 70_000), b""),  # too many arrays
        (
            header_of({"nd": 0}, [{"dtype": "(1000000000,)f8", "shape": [1]}]),
            b"",
        ),  # a subarray dtype
        (header_of({"nd": 0}, [{"dtype": "f8,f8", "shape": [1]}]), bytes(16)),  # a structured dtype
        (header_of({"nd": 0}, [{"dtype": "|O", "shape": [1]}]), bytes(8)),  # objects
        (header_of({"nd": 0}, [{"dtype": "<f8", "shape": [-1]}]), bytes(8)),  # a negative size
        (
            header_of({"nd": 0}, [{"dtype": "<f8", "shape": [2**40, 2**40]}]),
            bytes(8),
        ),  # more than the payload
        (header_of({"nd": 0}, [{"dtype": "<f8", "shape": [1.5]}]), bytes(8)),  # not a whole number
        (header_of({"dict": [["a", 1, 2]]}), b""),  # not a key and a value
        (header_of(nested(40)), b""),  # values nested too deep
    ],
)
def test_decoding_refuses_what_is_too_big_too_deep_or_not_plain(header, payload):
    started = time.monotonic()
    with pytest.raises(ProtocolError):
        decode((header, payload), lambda tagged: (_ for _ in ()).throw(ProtocolError("unknown")))
    assert time.monotonic() - started < 2


def test_the_wire_format_refuses_what_it_cannot_check():
    refuse = lambda value: pytest.raises(TypeError)  # noqa: E731
    with refuse(None):
        encode(np.array([object()], dtype=object), lambda v: (_ for _ in ()).throw(TypeError("no")))
    header = b'{"body": {"nd": 0}, "arrays": [{"dtype": "|O", "shape": [1]}]}'
    with pytest.raises(ProtocolError):
        decode((header, b"\0" * 8), lambda t: None)
    header = b'{"body": {"nd": 0}, "arrays": [{"dtype": "<f8", "shape": [1000]}]}'
    with pytest.raises(ProtocolError):
        decode((header, b"\0" * 8), lambda t: None)
    data = encode(
        {"x": np.arange(3.0), "s": (1, "a", None, float("nan")), "b": np.array([True, False])},
        lambda v: None,
    )
    header_size = int.from_bytes(data[:4], "big")
    value = decode((data[8 : 8 + header_size], bytearray(data[8 + header_size :])), lambda t: None)
    assert np.array_equal(value["x"], np.arange(3.0)) and value["s"][:3] == (1, "a", None)
    assert value["b"].dtype == bool and value["x"].flags.writeable
