"""The instructor's solution cells of the assignments and the `solutions` package give the
same numbers on the same inputs: one course, one set of formulas.

The notebooks' code (every code cell of a source notebook but its test cells, the code the
grader's referee runs) is executed once per notebook, then its layers and gates are compared
with the package's, forward and backward, on random inputs.
"""

import functools

import numpy as np
import pytest

from autograder.instructor.trusted import instructor_cells
from solutions import graph
from solutions import layers as reference_layers
from tests.support.assignment_course import read, source_notebook

rng = np.random.default_rng(1515)


@functools.cache
def notebook_code(name):
    """The namespace left by running the instructor cells of the assignment `name`."""
    namespace = {}
    for source in instructor_cells(read(source_notebook(name))):
        exec(compile(source, f"<{name}.ipynb>", "exec"), namespace)
    return namespace


def assert_same(got, expected, what):
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=what)


# The activations of the backward assignment against solutions.layers, x: (B, d) with
# entries around and at 0 (the kink of ReLU and LeakyReLU).
ACTIVATIONS = {
    "ReLU": lambda: (),
    "LeakyReLU": lambda: (0.2,),
    "Sigmoid": lambda: (),
    "Tanh": lambda: (),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_layers_agree(name):
    x = np.concatenate([3 * rng.standard_normal((4, 5)), np.zeros((1, 5))])
    grad_out = rng.standard_normal(x.shape)
    mine = notebook_code("backward")[name](*ACTIVATIONS[name]())
    reference = getattr(reference_layers, name)(*ACTIVATIONS[name]())
    assert_same(mine.forward(x.copy()), reference.forward(x.copy()), f"{name}.forward")
    assert_same(mine.backward(grad_out), reference.backward(grad_out), f"{name}.backward")


def test_linear_layers_agree():
    x, grad_out = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))
    mine = notebook_code("backward")["Linear"](4, 3, rng=0)
    reference = reference_layers.Linear(4, 3, dtype=np.float64)
    reference.W, reference.b = rng.standard_normal((3, 4)), rng.standard_normal(3)
    mine.W, mine.b = reference.W.copy(), reference.b.copy()
    assert_same(mine.forward(x), reference.forward(x), "Linear.forward")
    assert_same(mine.backward(grad_out), reference.backward(grad_out), "Linear.backward dX")
    assert_same(mine.dW, reference.dW, "Linear.dW")
    assert_same(mine.db, reference.db, "Linear.db")


# The gates of the graph assignment against solutions.graph: (constants, input samplers).
positive = lambda shape: np.exp(rng.standard_normal(shape))  # noqa: E731
anywhere = lambda shape: 3 * rng.standard_normal(shape)  # noqa: E731
GATES = {
    "Add": ((), (anywhere, anywhere)),
    "Mul": ((), (anywhere, anywhere)),
    "Max": ((), (anywhere, anywhere)),
    "Log": ((), (positive,)),
    "Sin": ((), (anywhere,)),
    "Scale": ((-2.5,), (anywhere,)),
}


@pytest.mark.parametrize("name", GATES)
def test_gates_agree(name):
    constants, samplers = GATES[name]
    inputs = [sample((3, 4)) for sample in samplers]
    if name == "Max":
        inputs[1][0] = inputs[0][0]  # a row of ties: both send the gradient to the first input
    grad_out = rng.standard_normal((3, 4))
    mine = notebook_code("graph")[name](*constants)
    reference = getattr(graph, name)(*constants)
    assert_same(mine.forward(*inputs), reference.forward(*inputs), f"{name}.forward")
    got, expected = mine.backward(grad_out), reference.backward(grad_out)
    assert len(got) == len(expected) == len(inputs)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert_same(g, e, f"{name}.backward, input {i}")


def test_worked_example_agrees():
    """The notebook's engine (its gates, topological_order, backward) and the package's give
    the chapter's example the same value and leaf gradients."""
    code = notebook_code("graph")
    for point in ([5.0, -2.0, -5.0], [2.0, -7.0, 3.0]):
        mine = [code["Node"](v) for v in point]
        y = code["worked_example"](*mine)
        leaves = [graph.Node(v) for v in point]
        x1, x2, x3 = leaves
        reference = 2 * graph.log(x1 + graph.sin(x1)) * graph.max(x2, x3)
        reference.backward()
        assert_same(y.value, reference.value, f"y at {point}")
        assert_same([n.grad for n in mine], [n.grad for n in leaves], f"gradients at {point}")
