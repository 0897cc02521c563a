"""The student's process (sandbox.py), the wire format (protocol.py) and the proxies (remote.py).

These run a few lines of "student code" in a real sandbox and check what it can
reach, and what the grader's side believes of the objects it gets back.
"""

import os

import numpy as np
import pytest

from assignment_course import COURSE

from autograder.instructor.protocol import ProtocolError, decode, encode
from autograder.instructor.remote import Namespace, StudentCode, StudentError, StudentProcessLost
from autograder.instructor.sandbox import Limits, Sandbox, hidden_paths


@pytest.fixture
def student():
    """A fresh student process; yields (StudentCode, Namespace of the tests)."""
    sandbox = Sandbox(hidden_paths(COURSE), Limits(memory=2 * 2**30, processes=32), slot=3999)
    code = StudentCode(sandbox.start(), timeout=20)
    yield code, Namespace(code)
    sandbox.kill()


def run(code, source):
    result = code.run_cell(source, 20)
    assert result["error"] is None, result["error"]
    return result["stdout"]


def test_the_student_process_sees_no_course_no_solutions_no_network_and_is_not_root(student):
    code, _ = student
    out = run(code, f"""
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
""")
    assert "uid 0" not in out and "course False" in out and "solutions False" in out
    assert "imported solutions" not in out
    assert "network no" in out and "cwd True" in out
    assert "pytest-of" not in out.split("other tmp")[1] and "git False" in out  # a private /tmp; no history


def test_the_student_process_cannot_undo_its_mounts_or_grow_past_its_limits(student):
    code, _ = student
    out = run(code, f"""
import os, subprocess
print("umount", subprocess.run(["umount", {str(COURSE)!r}], capture_output=True).returncode)
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
""")
    assert "umount 0" not in out
    assert int(out.split("forked ")[1].split()[0]) < 32
    assert "memory refused" in out


def test_objects_come_back_as_data_or_proxies_that_claim_nothing(student):
    code, names = student
    run(code, """
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
""")
    exec("liar_value = liar(); thing = everything(); layer = Layer()", names)
    assert type(names["liar_value"]) is float and names["liar_value"] == 0.5 and not names["liar_value"] == 1.0
    thing = names["thing"]
    assert type(thing).__name__ == "Everything" and not thing == 1 and not hasattr(thing, "__array__")
    layer = names["layer"]
    assert type(layer).__name__ == "Layer" and isinstance(layer, names["Layer"])
    out = layer.forward(np.eye(2))
    assert type(out) is np.ndarray and np.array_equal(out, np.ones((2, 2)))
    assert names["layer"] is layer  # the same object gives the same proxy


def test_a_shared_generator_advances_on_both_sides(student):
    code, names = student
    run(code, "def draw(rng, n):\n    return rng.permutation(n)\n")
    rng = np.random.default_rng(5)
    first = names["draw"](rng, 10)
    second = names["draw"](rng, 10)
    replay = np.random.default_rng(5)
    assert np.array_equal(first, replay.permutation(10)) and np.array_equal(second, replay.permutation(10))


def test_the_student_code_reaches_only_public_methods_of_the_tests_objects(student):
    code, names = student
    # The student's code can send any request through the channel, e.g. for a private attribute.
    run(code, "def poke(helper):\n    return helper._server.ask_grader("
              "{'action': 'getattr', 'export': helper._export, 'name': '__dict__'})\n")
    exec("class Helper:\n    def forward(self, x):\n        return 3 * x\n", names)
    with pytest.raises(StudentError, match="not available"):
        names["poke"](names["Helper"]())
    run(code, "def use(helper):\n    return helper.forward(2.0)\n")
    assert names["use"](names["Helper"]()) == 6.0


def test_a_crash_or_a_hang_loses_the_process_not_the_grader(student):
    code, names = student
    run(code, "import os, time\ndef crash():\n    os._exit(3)\ndef hang():\n    while True: pass\n")
    with pytest.raises(StudentProcessLost, match="ended"):
        names["crash"]()
    with pytest.raises(StudentProcessLost):
        names["hang"]()


def test_a_hung_request_times_out(tmp_path):
    sandbox = Sandbox(hidden_paths(COURSE), slot=3998)
    code = StudentCode(sandbox.start(), timeout=2)
    try:
        code.run_cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ndef hang():\n    while True: pass\n", 20)
        with pytest.raises(StudentProcessLost, match="no answer within 2 s"):
            Namespace(code)["hang"]()
    finally:
        sandbox.kill()
    assert not os.path.exists(sandbox.scratch or "/nonexistent")


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
    data = encode({"x": np.arange(3.0), "s": (1, "a", None, float("nan"))}, lambda v: None)
    header_size = int.from_bytes(data[:4], "big")
    value = decode((data[8:8 + header_size], data[8 + header_size:]), lambda t: None)
    assert np.array_equal(value["x"], np.arange(3.0)) and value["s"][:3] == (1, "a", None)
