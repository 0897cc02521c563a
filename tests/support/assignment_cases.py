"""The submissions of the round trip, and what the course's design says each one scores.

Every case starts from the instructor's source notebook (which passes every test)
and changes one thing, the way a student's mistake would. `failing` lists the
test cells that must then score 0; every other test cell of the notebook must
score its full points. `feedback` lists texts the HTML feedback must show: the
diagnosis of the autograder check (or of the test) that caught the mistake.

The forward-assignment cases include the bad inputs (a syntax error, an exception
at the top of a cell, an infinite loop, a deleted test cell): each scores what it
earned. The infinite loop is graded in a run of its own with a short per-cell
timeout (the configured 120 s would make the test slow); the others are graded
in one run with everyone else. A rewritten test cell
earns nothing either: nbgrader puts the read-only cells back before grading.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Replace:
    """In the cell `cell` (a grade_id), replace `old` by `new`; `old` must occur `count` times."""

    cell: str
    old: str
    new: str
    count: int = 1

    def apply(self, cells):
        cell = _find(cells, self.cell)
        found = cell.source.count(self.old)
        assert found == self.count, (
            f"{self.cell}: {self.old!r} occurs {found} times, expected {self.count}"
        )
        cell.source = cell.source.replace(self.old, self.new)


@dataclass(frozen=True)
class Prepend:
    """Put `code` at the top of the cell `cell`."""

    cell: str
    code: str

    def apply(self, cells):
        cell = _find(cells, self.cell)
        cell.source = self.code + cell.source


@dataclass(frozen=True)
class Append:
    """Put `code` at the end of the cell `cell` (after the student's definitions)."""

    cell: str
    code: str

    def apply(self, cells):
        cell = _find(cells, self.cell)
        cell.source = cell.source.rstrip("\n") + "\n" + self.code


@dataclass(frozen=True)
class Rewrite:
    """Replace the whole source of the cell `cell` by `code`."""

    cell: str
    code: str

    def apply(self, cells):
        _find(cells, self.cell).source = self.code


@dataclass(frozen=True)
class Delete:
    """Remove the cell `cell` from the notebook."""

    cell: str

    def apply(self, cells):
        cells.remove(_find(cells, self.cell))


def _find(cells, grade_id):
    matches = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(matches) == 1, f"no single cell {grade_id!r}"
    return matches[0]


@dataclass(frozen=True)
class Case:
    student: str
    assignment: str
    mistake: str
    edits: tuple
    failing: frozenset
    feedback: tuple = ()
    cell_timeout: int = None  # if set: graded in a run of its own with this per-cell timeout (s)

    def notebook(self, source):
        """The student's notebook: the source notebook with this case's edits."""
        for edit in self.edits:
            edit.apply(source.cells)
        return source


CASES = (
    # ---------------------------------------------------------------- forward
    Case(
        "no_bias",
        "forward",
        "Linear.forward leaves out the bias",
        (Replace("linear", "return x @ self.W.T + self.b", "return x @ self.W.T"),),
        frozenset({"test_linear_forward", "test_xor_network"}),
        ("Linear.forward is wrong in 6 of 6 entries",),
    ),
    Case(
        "syntax_error",
        "forward",
        "a syntax error in the Linear cell",
        (Replace("linear", "return x @ self.W.T + self.b", "return x @ self.W.T +"),),
        frozenset({"test_linear_forward", "test_xor_network"}),
        ("SyntaxError",),
    ),
    Case(
        "exception_in_cell",
        "forward",
        "the ReLU cell raises before it defines ReLU",
        (Prepend("relu", 'weights = np.load("my_weights.npy")\n'),),
        frozenset({"test_relu_forward", "test_xor_network"}),
        ("FileNotFoundError",),
    ),
    Case(
        "infinite_loop",
        "forward",
        "the Sigmoid cell never ends (stopped by the cell timeout)",
        (Prepend("sigmoid", "while True:\n    pass\n"),),
        frozenset({"test_sigmoid_forward"}),
        ("KeyboardInterrupt",),
        cell_timeout=10,
    ),
    Case(
        "deleted_test_cell",
        "forward",
        "the Tanh test cell deleted (nbgrader restores it)",
        (Delete("test_tanh_forward"),),
        frozenset(),
        ("was missing from the submission",),
    ),
    # --------------------------------------------------------------- backward
    Case(
        "dW_transposed",
        "backward",
        "Linear.backward computes dW transposed",
        (Replace("linear", "self.dW = grad_out.T @ self.x", "self.dW = self.x.T @ grad_out"),),
        frozenset({"test_linear_dW"}),
        ("it is transposed (check the order of the product)",),
    ),
    Case(
        "dX_sign_only",
        "backward",
        "Linear.backward returns dX with the wrong sign; dW and db are right "
        "(one mistake, one test: the dW and db tests judge dW and db alone)",
        (Replace("linear", "return grad_out @ self.W", "return -(grad_out @ self.W)"),),
        frozenset({"test_linear_dX"}),
        ("dX of Linear does not match",),
    ),
    Case(
        "relu_backward_wrong",
        "backward",
        "ReLU: forward right, backward passes grad_out through",
        (Replace("relu", "return grad_out * (self.x > 0)", "return grad_out"),),
        frozenset({"test_relu_backward"}),
        ("equals the upstream gradient unchanged",),
    ),
    # ------------------------------------------------------------------ graph
    Case(
        "overwrite_grads",
        "graph",
        "backward overwrites a node's gradient instead of adding to it",
        (Replace("backward", "parent.grad = parent.grad + grad", "parent.grad = grad"),),
        frozenset({"test_backward", "test_worked_example"}),
        ("must be summed",),
    ),
    # ---------------------------------------------------------------- softmax
    Case(
        "mean_twice",
        "softmax",
        "the cross-entropy gradient divided by the batch size twice",
        (
            Replace(
                "cross_entropy", "return grad / len(grad)", "return grad / len(grad) / len(grad)"
            ),
        ),
        frozenset({"test_ce_backward"}),
        ("the average over the batch is applied twice",),
    ),
    Case(
        "tampered_test",
        "softmax",
        "the cross-entropy gradient without the batch mean, and its test cell rewritten to pass "
        "(nbgrader restores read-only cells from the gradebook)",
        (
            Replace("cross_entropy", "return grad / len(grad)", "return grad"),
            Rewrite("test_ce_backward", 'print("SoftmaxCrossEntropy.backward: tests passed")'),
        ),
        frozenset({"test_ce_backward"}),
        ("the average over the batch is missing",),
    ),
    # ---------------------------------------------------------------- sgd_xor
    Case(
        "velocity_per_name",
        "sgd_xor",
        "SGD keys the velocity by parameter name only: right for one layer (the visible test), "
        "wrong for two (the hidden test), and it breaks training the two-layer XOR network "
        "(predict_proba, right, keeps its point: its test compares it with the model's own logits)",
        (Replace("sgd", "(index, name)", "name", count=2),),
        frozenset({"test_sgd_step", "test_xor_trained"}),
        ("does every parameter of every layer have its own velocity",),
    ),
    # ------------------------------------------------------------------ mnist
    Case(
        "undertrained",
        "mnist",
        "a learning rate far too small: the target accuracy is missed",
        (
            Replace("mnist_training", "lr=0.1, momentum=0.9", "lr=0.0005, momentum=0.0"),
            Replace("mnist_training", "epochs=5", "epochs=1"),
        ),
        frozenset({"test_mnist_accuracy"}),
        ("is below the target 95%",),
    ),
)
