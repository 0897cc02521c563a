"""The student-mistake corpus: realistic mistakes in the six assignments, and what catches them.

Each mistake starts from the instructor's notebook (whose code passes every
test) and changes one line or two of the student's code, as a student would.
``test`` is the test cell that must catch it, ``caught`` whether its visible
part does or only the hidden part; ``spares`` are test cells that must still
pass whole (one bug costs one part, in the student's own notebook too). ``key``
is the diagnosis the check must give (``GradientCheckError.diagnosis.key``, or for NumPy's own
errors the hint
Jupyter adds, see autograder/student/display.py); ``says`` is instead a phrase
a test cell's own message must contain. A mistake with neither gets no
specific diagnosis: the failure names the wrong values only.

:func:`run` runs the notebook's cells in this process, as its test cells do
in Jupyter (no kernel, no grading pipeline): the solution and setup cells in
order, then the test cell, first as released (visible part), then whole.
"""

import contextlib
import copy
import functools
import io
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.student import display
from autograder.student.checks import GradientCheckError

from .assignment_cases import Replace

SOURCE = Path(__file__).resolve().parents[2] / "assignments" / "source"
# Cells a test never needs: MNIST's data and training, plots, re-checks of earlier parts.
SKIPPED = {"data", "mnist_training", "decision_boundary", "check_earlier_parts"}
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


@dataclass(frozen=True)
class Mistake:
    assignment: str
    test: str  # grade_id of the test cell that must catch it
    mistake: str
    edits: tuple
    caught: str  # "visible" or "hidden"
    key: str = None
    says: str = None
    spares: tuple = ()


@dataclass(frozen=True)
class Result:
    caught: str  # "visible", "hidden" or "missed"
    key: str  # the diagnosis key given (None if none)
    message: str  # what the student reads


def M(
    assignment,
    test,
    mistake,
    cell,
    old,
    new,
    caught="visible",
    key=None,
    says=None,
    count=1,
    also=(),
    spares=(),
):
    """A mistake made by one replacement in one cell (and the edits ``also``)."""
    edits = (Replace(cell, old, new, count), *also)
    return Mistake(assignment, test, mistake, edits, caught, key, says, spares)


# forward keeping its input too, for a backward that (wrongly) uses it
SIGMOID_KEEPS_X = Replace(
    "sigmoid", "small = np.exp(-np.abs(x))", "self.x = x\n        small = np.exp(-np.abs(x))"
)
TANH_KEEPS_X = Replace("tanh", "self.out = np.tanh(x)", "self.x = x\n        self.out = np.tanh(x)")


MISTAKES = [
    # ---------------------------------------------------------------- forward
    M(
        "forward",
        "test_relu_forward",
        "ReLU with np.max (a reduction) instead of np.maximum",
        "relu",
        "np.maximum(x, 0.0)",
        "np.max(x, 0)",
        says="returned shape (5,), expected (2, 5)",
    ),
    M(
        "forward",
        "test_relu_forward",
        "ReLU zeroes the negatives of x in place",
        "relu",
        "return np.maximum(x, 0.0)",
        "x[x < 0] = 0.0\n        return x",
        says="changed its input x in place",
    ),
    M(
        "forward",
        "test_relu_forward",
        "ReLU with Python's max",
        "relu",
        "np.maximum(x, 0.0)",
        "max(x, 0.0)",
        key="array_truth",
    ),
    M(
        "forward",
        "test_sigmoid_forward",
        "sigmoid written as 1 / (1 + exp(-x))",
        "sigmoid",
        "small = np.exp(-np.abs(x))  # exp of a number <= 0 never overflows\n"
        "        self.out = np.where(x >= 0, 1 / (1 + small), small / (1 + small))",
        "self.out = 1 / (1 + np.exp(-x))",
        says="overflow encountered in exp",
    ),
    M(
        "forward",
        "test_tanh_forward",
        "tanh from exponentials (overflows for large inputs)",
        "tanh",
        "np.tanh(x)",
        "(np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))",
        caught="hidden",
        says="an overflow? Use a formula that stays finite",
    ),
    M(
        "forward",
        "test_linear_forward",
        "Linear.forward computes x W instead of x W^T",
        "linear",
        "x @ self.W.T + self.b",
        "x @ self.W + self.b",
        key="matmul_shapes",
    ),
    M(
        "forward",
        "test_linear_forward",
        "Linear.forward adds the bias as a column",
        "linear",
        "x @ self.W.T + self.b",
        "x @ self.W.T + self.b[:, None]",
        key="broadcast_shapes",
    ),
    M(
        "forward",
        "test_linear_forward",
        "Linear.forward leaves out the bias",
        "linear",
        "x @ self.W.T + self.b",
        "x @ self.W.T",
        says="such as the bias b, is missing",
    ),
    M(
        "forward",
        "test_sequential_forward",
        "Sequential.forward runs the layers last to first",
        "sequential",
        "for layer in self.layers:",
        "for layer in reversed(self.layers):",
        says="the layers ran last to first",
    ),
    # --------------------------------------------------------------- backward
    M(
        "backward",
        "test_relu_backward",
        "ReLU multiplied by its output, not the 0/1 mask",
        "relu",
        "grad_out * (self.x > 0)",
        "grad_out * np.maximum(self.x, 0.0)",
        key="times_output",
    ),
    M(
        "backward",
        "test_relu_backward",
        "ReLU returns the mask and ignores grad_out",
        "relu",
        "grad_out * (self.x > 0)",
        "(self.x > 0) * 1.0",
        key="no_upstream",
    ),
    M(
        "backward",
        "test_relu_backward",
        "ReLU backward passes grad_out through",
        "relu",
        "grad_out * (self.x > 0)",
        "grad_out",
        key="no_derivative",
    ),
    M(
        "backward",
        "test_relu_backward",
        "ReLU'(0) = 1",
        "relu",
        "grad_out * (self.x > 0)",
        "grad_out * (self.x >= 0)",
        key="kink",
    ),
    M(
        "backward",
        "test_relu_backward",
        "ReLU backward masks grad_out in place",
        "relu",
        "return grad_out * (self.x > 0)",
        "grad_out[self.x <= 0] = 0.0\n        return grad_out",
        key="mutates_grad_out",
    ),
    M(
        "backward",
        "test_leaky_relu_backward",
        "leaky ReLU with the slope 0.01 written in",
        "leaky_relu",
        "np.where(self.x > 0, 1.0, self.slope)",
        "np.where(self.x > 0, 1.0, 0.01)",
        key="wrong_slope",
    ),
    M(
        "backward",
        "test_leaky_relu_backward",
        "leaky ReLU with ReLU's derivative",
        "leaky_relu",
        "np.where(self.x > 0, 1.0, self.slope)",
        "(self.x > 0)",
        key="other_activation",
    ),
    M(
        "backward",
        "test_leaky_relu_backward",
        "leaky ReLU with slope 1 at the kink",
        "leaky_relu",
        "np.where(self.x > 0, 1.0, self.slope)",
        "np.where(self.x >= 0, 1.0, self.slope)",
        key="kink",
    ),
    M(
        "backward",
        "test_sigmoid_backward",
        "sigmoid's s (1 - s) with s = x",
        "sigmoid",
        "grad_out * self.out * (1 - self.out)",
        "grad_out * self.x * (1 - self.x)",
        key="formula_at_input",
        also=(SIGMOID_KEEPS_X,),
    ),
    M(
        "backward",
        "test_sigmoid_backward",
        "sigmoid backward returns sigma'(x) without grad_out",
        "sigmoid",
        "grad_out * self.out * (1 - self.out)",
        "self.out * (1 - self.out)",
        key="no_upstream",
    ),
    M(
        "backward",
        "test_sigmoid_backward",
        "sigmoid applied again to the output",
        "sigmoid",
        "return grad_out * self.out * (1 - self.out)",
        "s = 1 / (1 + np.exp(-self.out))\n        return grad_out * s * (1 - s)",
        key="at_output",
    ),
    M(
        "backward",
        "test_sigmoid_backward",
        "sigmoid backward forgets the (1 - s)",
        "sigmoid",
        "grad_out * self.out * (1 - self.out)",
        "grad_out * self.out",
        key="times_output",
    ),
    M(
        "backward",
        "test_tanh_backward",
        "tanh's 1 - t² with t = x",
        "tanh",
        "grad_out * (1 - self.out**2)",
        "grad_out * (1 - self.x**2)",
        key="formula_at_input",
        also=(TANH_KEEPS_X,),
    ),
    M(
        "backward",
        "test_tanh_backward",
        "tanh applied again to the output",
        "tanh",
        "grad_out * (1 - self.out**2)",
        "grad_out * (1 - np.tanh(self.out) ** 2)",
        key="at_output",
    ),
    M(
        "backward",
        "test_tanh_backward",
        "tanh backward returns 1 - t² without grad_out",
        "tanh",
        "grad_out * (1 - self.out**2)",
        "1 - self.out**2",
        key="no_upstream",
    ),
    M(
        "backward",
        "test_linear_dX",
        "dX with the wrong sign",
        "linear",
        "return grad_out @ self.W",
        "return -(grad_out @ self.W)",
        key="sign",
        spares=("test_linear_dW", "test_linear_db"),
    ),
    M(
        "backward",
        "test_linear_dX",
        "dX computed with W transposed",
        "linear",
        "return grad_out @ self.W",
        "return grad_out @ self.W.T",
        key="matmul_shapes",
    ),
    M(
        "backward",
        "test_linear_dW",
        "dW transposed",
        "linear",
        "self.dW = grad_out.T @ self.x",
        "self.dW = self.x.T @ grad_out",
        key="transposed",
    ),
    M(
        "backward",
        "test_linear_dW",
        "dW averaged over the batch in the layer",
        "linear",
        "self.dW = grad_out.T @ self.x",
        "self.dW = grad_out.T @ self.x / len(self.x)",
        key="batch_size",
    ),
    M(
        "backward",
        "test_linear_dW",
        "dW from a product in the wrong order",
        "linear",
        "self.dW = grad_out.T @ self.x",
        "self.dW = grad_out @ self.x",
        key="matmul_shapes",
    ),
    M(
        "backward",
        "test_linear_dW",
        "dW accumulates across backward calls",
        "linear",
        "self.dW = grad_out.T @ self.x",
        "self.dW = getattr(self, 'dW', 0) + grad_out.T @ self.x",
        key="accumulates",
    ),
    M(
        "backward",
        "test_linear_db",
        "db not summed over the batch",
        "linear",
        "self.db = grad_out.sum(axis=0)",
        "self.db = grad_out",
        key="not_summed",
    ),
    M(
        "backward",
        "test_linear_db",
        "db summed over the features",
        "linear",
        "self.db = grad_out.sum(axis=0)",
        "self.db = grad_out.sum(axis=1)",
        key="not_summed",
    ),
    M(
        "backward",
        "test_linear_db",
        "db averaged instead of summed",
        "linear",
        "self.db = grad_out.sum(axis=0)",
        "self.db = grad_out.mean(axis=0)",
        key="batch_size",
    ),
    M(
        "backward",
        "test_linear_db",
        "db with keepdims",
        "linear",
        "self.db = grad_out.sum(axis=0)",
        "self.db = grad_out.sum(axis=0, keepdims=True)",
        key="shape",
    ),
    M(
        "backward",
        "test_jacobian",
        "the Jacobian by central finite differences",
        "jacobian",
        "slope = 1 - np.tanh(W @ x + b) ** 2  # tanh'(z) for each output\n"
        "    return slope[:, None] * W           # row i of W scaled by output i's slope",
        "return numeric_jacobian(lambda v: np.tanh(W @ v + b), x)",
        caught="hidden",
        says="Finite differences are not exact enough",
    ),
    M(
        "backward",
        "test_jacobian",
        "the Jacobian by forward differences",
        "jacobian",
        "slope = 1 - np.tanh(W @ x + b) ** 2  # tanh'(z) for each output\n"
        "    return slope[:, None] * W           # row i of W scaled by output i's slope",
        "f0, h = np.tanh(W @ x + b), 1e-7\n"
        "    return np.stack([(np.tanh(W @ (x + h * e) + b) - f0) / h "
        "for e in np.eye(len(x))], axis=1)",
        says="if you computed J by finite differences, they are not exact enough",
    ),
    M(
        "backward",
        "test_jacobian",
        "the Jacobian without tanh's slope (W alone)",
        "jacobian",
        "return slope[:, None] * W ",
        "return W ",
        says="the slope of tanh is missing",
    ),
    M(
        "backward",
        "test_jacobian",
        "the Jacobian transposed (denominator layout)",
        "jacobian",
        "return slope[:, None] * W ",
        "return (slope[:, None] * W).T ",
        says="it is transposed",
    ),
    # ------------------------------------------------------------------ graph
    M(
        "graph",
        "test_max_gate",
        "the max gate with Python's max",
        "max",
        "return np.where(self.a_wins, a, b)",
        "return max(a, b)",
        key="array_truth",
    ),
    M(
        "graph",
        "test_max_gate",
        "the max gate's backward with an if",
        "max",
        "return grad_out * self.a_wins, grad_out * ~self.a_wins",
        "if self.a_wins:\n            return grad_out, 0 * grad_out\n"
        "        return 0 * grad_out, grad_out",
        key="array_truth",
    ),
    M(
        "graph",
        "test_mul_gate",
        "the multiply gate does not swap its inputs",
        "mul",
        "return grad_out * self.b, grad_out * self.a",
        "return grad_out * self.a, grad_out * self.b",
        key="times_input",
    ),
    M(
        "graph",
        "test_sin_gate",
        "sin's derivative taken as -cos",
        "sin",
        "grad_out * np.cos(self.x)",
        "-grad_out * np.cos(self.x)",
        key="sign",
    ),
    M(
        "graph",
        "test_scale_gate",
        "the scale gate forgets its constant",
        "scale",
        "return (self.c * grad_out,)",
        "return (grad_out,)",
        key="factor",
    ),
    M(
        "graph",
        "test_add_gate",
        "the add gate returns one gradient, not a tuple",
        "add",
        "return grad_out, grad_out",
        "return grad_out",
        says="must return a tuple of 2 gradient(s)",
    ),
    M(
        "graph",
        "test_log_gate",
        "log's derivative as 1/x without grad_out",
        "log",
        "return (grad_out / self.x,)",
        "return (1 / self.x,)",
        key="no_upstream",
    ),
    M(
        "graph",
        "test_topological_order",
        "topological_order without a visited set",
        "topological_order",
        "        if id(node) in visited:\n            return\n",
        "",
        says="a node appears more than once",
    ),
    M(
        "graph",
        "test_backward",
        "backward overwrites a gradient instead of adding",
        "backward",
        "parent.grad = parent.grad + grad",
        "parent.grad = grad",
        says="must be summed",
    ),
    M(
        "graph",
        "test_backward",
        "backward never resets the gradients",
        "backward",
        "    for node in order:\n        node.grad = np.zeros_like(node.value)\n",
        "    for node in order:\n        if node.grad is None:\n"
        "            node.grad = np.zeros_like(node.value)\n",
        says="start every grad at 0",
    ),
    # ---------------------------------------------------------------- softmax
    M(
        "softmax",
        "test_softmax",
        "softmax without the max shift",
        "softmax",
        "shifted = z - z.max(axis=1, keepdims=True)",
        "shifted = z",
        says="Shift each row first",
    ),
    M(
        "softmax",
        "test_softmax",
        "softmax shifts z in place",
        "softmax",
        "shifted = z - z.max(axis=1, keepdims=True)",
        "z -= z.max(axis=1, keepdims=True)\n    shifted = z",
        says="softmax changed its input z in place",
    ),
    M(
        "softmax",
        "test_softmax",
        "softmax normalised over the batch axis",
        "softmax",
        "e / e.sum(axis=1, keepdims=True)",
        "e / e.sum(axis=0, keepdims=True)",
        says="the rows of softmax must sum to 1",
    ),
    M(
        "softmax",
        "test_ce_forward",
        "cross-entropy summed over the batch, not averaged",
        "cross_entropy",
        "float(-log_probs[rows, labels].mean())",
        "float(-log_probs[rows, labels].sum())",
        says="the sum of the 2 examples' losses: return their mean",
        spares=("test_ce_backward",),
    ),
    M(
        "softmax",
        "test_ce_forward",
        "cross-entropy as log(softmax) (log 0 for large logits)",
        "cross_entropy",
        "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
        "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))",
        says="use the log-sum-exp form",
    ),
    M(
        "softmax",
        "test_ce_backward",
        "the cross-entropy gradient not averaged",
        "cross_entropy",
        "return grad / len(grad)",
        "return grad",
        key="batch_size",
    ),
    M(
        "softmax",
        "test_ce_backward",
        "the cross-entropy gradient averaged twice",
        "cross_entropy",
        "return grad / len(grad)",
        "return grad / len(grad) / len(grad)",
        key="batch_size",
    ),
    M(
        "softmax",
        "test_ce_backward",
        "the cross-entropy gradient as Y - p",
        "cross_entropy",
        "return grad / len(grad)",
        "return -grad / len(grad)",
        key="sign",
    ),
    # ---------------------------------------------------------------- sgd_xor
    M(
        "sgd_xor",
        "test_sequential_backward",
        "Sequential.backward runs the layers first to last",
        "sequential",
        "for layer in reversed(self.layers):\n            grad_out",
        "for layer in self.layers:\n            grad_out",
        key="matmul_shapes",
    ),
    M(
        "sgd_xor",
        "test_sgd_step",
        "SGD without the velocity (momentum ignored)",
        "sgd",
        "setattr(layer, name, getattr(layer, name) - self.lr * velocity)",
        "setattr(layer, name, getattr(layer, name) - self.lr * grad)",
        says="v <- momentum * v + g",
    ),
    M(
        "sgd_xor",
        "test_sgd_step",
        "SGD keys the velocity by parameter name only",
        "sgd",
        "(index, name)",
        "name",
        caught="hidden",
        count=2,
        says="does every parameter of every layer have its own velocity",
    ),
    M(
        "sgd_xor",
        "test_minibatches",
        "mini-batches in a fixed order",
        "minibatches",
        "order = rng.permutation(n)",
        "order = np.arange(n)",
        says="the indices are not shuffled",
    ),
    M(
        "sgd_xor",
        "test_minibatches",
        "mini-batches drop the last partial batch",
        "minibatches",
        "range(0, n, batch_size)",
        "range(0, n - batch_size + 1, batch_size)",
        says="should give sizes [4, 4, 2]",
    ),
    M(
        "sgd_xor",
        "test_minibatches",
        "mini-batches shuffled by numpy's global generator",
        "minibatches",
        "order = rng.permutation(n)",
        "order = np.random.permutation(n)",
        says="draw the order from rng",
    ),
    M(
        "sgd_xor",
        "test_train",
        "train forgets the optimiser step",
        "train",
        "            optimizer.step()\n",
        "",
        says="the loss did not go down",
    ),
    M(
        "sgd_xor",
        "test_train",
        "train reports the last batch's loss as the epoch's",
        "train",
        "total += loss_fn.forward(logits, y[batch]) * len(batch)",
        "total = loss_fn.forward(logits, y[batch]) * len(X)",
        caught="hidden",
        says="the epoch loss is the loss of all examples",
    ),
    M(
        "sgd_xor",
        "test_predict_proba",
        "predict_proba gives class 0's probability",
        "predict_proba",
        "[:, 1]",
        "[:, 0]",
        says="predict_proba must be softmax(model.forward(X))[:, 1]",
    ),
    # ------------------------------------------------------------------ mnist
    M(
        "mnist",
        "test_build_mlp",
        "build_mlp with the Linear sizes swapped",
        "build_mlp",
        "Linear(d_in, d_out, rng)",
        "Linear(d_out, d_in, rng)",
        says="W is (d_out, d_in)",
    ),
    M(
        "mnist",
        "test_build_mlp",
        "build_mlp ignores the rng it is given",
        "build_mlp",
        "Linear(d_in, d_out, rng)",
        "Linear(d_in, d_out)",
        caught="hidden",
        says="the same seed must give the same weights",
    ),
    M(
        "mnist",
        "test_accuracy",
        "accuracy returns the count, not the fraction",
        "accuracy",
        "return correct / len(X)",
        "return correct",
        says="expected 2/3 correct",
    ),
]


# ------------------------------------------------------------------ running


@functools.cache
def _source(assignment):
    return nbformat.read(str(SOURCE / assignment / f"{assignment}.ipynb"), as_version=4)


def _role(cell):
    return cell.metadata.get("nbgrader", {})


def run(mistake):
    """Run the mistake's notebook up to its test; where it was caught and what the student reads."""
    cells = copy.deepcopy(_source(mistake.assignment)).cells
    for edit in mistake.edits:
        edit.apply(cells)
    for version in ("visible", "hidden"):
        error = _run_until(cells, mistake.test, with_hidden=version == "hidden")
        if error is not None:
            key, message = _what_is_shown(error)
            return Result(version, key, message)
    return Result("missed", None, "")


def spared(mistake):
    """{test: the error it raised} for the tests the mistake must leave passing."""
    cells = copy.deepcopy(_source(mistake.assignment)).cells
    for edit in mistake.edits:
        edit.apply(cells)
    errors = {test: _run_until(cells, test, with_hidden=True) for test in mistake.spares}
    return {test: error for test, error in errors.items() if error is not None}


def _run_until(cells, test, with_hidden):
    """Run the cells up to ``test`` in a fresh namespace; the test's exception or None."""
    namespace = {"__name__": "__main__"}
    for cell in cells:
        role = _role(cell)
        name = role.get("grade_id")
        if cell.cell_type != "code" or name in SKIPPED:
            continue
        is_test = role.get("grade") and not role.get("solution")
        if is_test and name != test:
            continue
        source = cell.source if with_hidden or not is_test else HIDDEN.sub("", cell.source)
        source = "\n".join(line for line in source.splitlines() if not line.startswith("%"))
        try:
            # what the cells print and warn is the notebook's business, not the test log's
            with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(source, f"<{name}>", "exec"), namespace)
        except Exception as error:
            if name == test:
                return error
            continue  # a cell that fails leaves its names undefined, as in Jupyter
        if name == test:
            return None
    raise AssertionError(f"no test cell {test!r}")


def _what_is_shown(error):
    """(diagnosis key or None, the text the student reads) for a test's exception."""
    if isinstance(error, GradientCheckError):
        return (error.diagnosis.key if error.diagnosis else None), str(error)
    message = f"{type(error).__name__}: {error}"
    # what Jupyter adds under a ValueError from NumPy (display.install_in_ipython)
    hint = display.hint_for(error, error.__traceback__) if isinstance(error, ValueError) else None
    if hint is None:
        return None, message
    return hint[0], f"{message}\nLikely mistake: {hint[2]}"


def specific(mistake, result):
    """The failure names this mistake: the expected key, or the expected phrase."""
    if mistake.key is not None:
        return result.key == mistake.key
    return mistake.says is not None and mistake.says in result.message


if __name__ == "__main__":  # print every mistake's result
    for m in MISTAKES:
        r = run(m)
        mark = "ok " if specific(m, r) and r.caught == m.caught else "-- "
        print(
            f"{mark}{m.assignment:8} {m.mistake:60} {r.caught:8} {r.key}\n"
            f"      {r.message[:300]!r}",
            file=sys.stdout,
        )
