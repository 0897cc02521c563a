"""Tests for the computation-graph engine in solutions/graph.py.

Gradients are checked against hand derivatives and against central
differences in float64. The relative error is book/notation.md's
|a - b| / max(|a| + |b|, tiny), taken over whole arrays (Euclidean norms) so
that an entry whose true gradient happens to be near 0 cannot dominate it.
"""

import copy
import math
import sys

import numpy as np
import pytest

from solutions import graph as G
from solutions.graph import Gate, Node, backward, topological_order, trace
from solutions.layers import Linear

TOL = 1e-7


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f() with respect to each entry of x.

    x is perturbed in place (and restored), so f must read it afresh each call.
    """
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        up = f()
        x[i] = old - h
        down = f()
        x[i] = old
        grad[i] = (up - down) / (2 * h)
    return grad


def check_gradients(fn, *arrays, seed=0):
    """Backward through fn(*Nodes) must match central differences of sum(fn(...) * R).

    R is a random seed gradient, so every entry of the output is exercised.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    nodes = [Node(a) for a in arrays]
    out = fn(*nodes)
    seed_grad = np.random.default_rng(seed).standard_normal(out.shape)
    backward(out, seed_grad)

    def loss():
        return np.sum(fn(*(Node(a) for a in arrays)).value * seed_grad)

    for i, (node, a) in enumerate(zip(nodes, arrays, strict=True)):
        assert node.grad.shape == a.shape and node.grad.dtype == np.float64
        err = rel_error(node.grad, numeric_grad(loss, a))
        assert err < TOL, f"input {i} of shape {a.shape}: relative error {err:.2e}"


def replay(output, node, value):
    """output's value recomputed with ``node``'s value replaced: forward passes only.

    Gates are copied so the graph's own caches are left alone.
    """
    values = {}
    for n in topological_order(output):
        if n is node:
            values[n] = value
        elif n.gate is None:
            values[n] = n.value
        else:
            values[n] = copy.copy(n.gate).forward(*(values[p] for p in n.parents))
    return np.copy(values[output])  # a copy: the value may be the array being perturbed


# ---------------------------------------------------------------------------
# The worked example of chapter 3: y = 2 log(x1 + sin x1) * max(x2, x3)
# at the chapter's point x = (5, -2, -5).
# ---------------------------------------------------------------------------

X1, X2, X3 = 5.0, -2.0, -5.0


def worked_example():
    """The graph, with every node named as in the book's step-through."""
    x1, x2, x3 = Node(X1, name="x1"), Node(X2, name="x2"), Node(X3, name="x3")
    s = G.sin(x1)
    a = x1 + s
    l = G.log(a)  # noqa: E741 - chapter 3's name for it
    d = 2 * l
    m = G.max(x2, x3)
    y = d * m
    for node, name in ((s, "s"), (a, "a"), (l, "l"), (d, "d"), (m, "m"), (y, "y")):
        node.name = name
    return y, dict(x1=x1, x2=x2, x3=x3, s=s, a=a, l=l, d=d, m=m, y=y)


def hand_worked_example():
    """Values and dy/d(node) of every node, derived by hand."""
    s = math.sin(X1)
    a = X1 + s
    l = math.log(a)  # noqa: E741 (chapter 3 names this node l)
    d = 2 * l
    m = max(X2, X3)
    values = dict(x1=X1, x2=X2, x3=X3, s=s, a=a, l=l, d=d, m=m, y=d * m)
    grads = dict(
        y=1.0,
        d=m,  # mul swaps: dy/dd = m
        m=d,  # ... and dy/dm = d
        l=2 * m,  # scale by 2
        a=2 * m / a,  # log: 1/a
        s=2 * m / a,  # add passes the gradient to both inputs
        x1=2 * m / a * (1 + math.cos(X1)),  # x1 fans out: through a directly, and through sin
        x2=d,  # max routes everything to the larger input, x2 = -2 > x3 = -5
        x3=0.0,
    )
    return values, grads


def test_worked_example_values_and_gradients_match_hand_derivation():
    y, nodes = worked_example()
    y.backward()
    values, grads = hand_worked_example()
    for name, node in nodes.items():
        assert node.value == pytest.approx(values[name], rel=1e-14, abs=1e-14), name
        assert node.grad == pytest.approx(grads[name], rel=1e-14, abs=1e-14), name
    # The numbers chapter 3 works out by hand: y = 2 ln(4.041) * (-2) and
    # dy/dx1 = -(4/4.04) cos 5 - 4/4.04.
    assert values["a"] == pytest.approx(4.04, abs=5e-3)  # rounded to 4.04 in the text
    assert nodes["x1"].grad == pytest.approx(-(4 / 4.04) * math.cos(5) - 4 / 4.04, abs=1e-2)
    assert nodes["x1"].grad == pytest.approx(-1.270614, abs=1e-6)
    assert nodes["x2"].grad == pytest.approx(2.793022, abs=1e-6)
    assert nodes["x3"].grad == 0.0


def test_worked_example_every_gradient_matches_central_differences():
    y, nodes = worked_example()
    y.backward()
    for name, node in nodes.items():
        v = node.value.copy()
        numeric = numeric_grad(lambda node=node, v=v: replay(y, node, v), v)
        assert rel_error(node.grad, numeric) < TOL, name


def test_worked_example_input_gradients_match_a_closed_form_numerically():
    # Independent of the engine's forward pass: the formula in plain NumPy.
    x = np.array([X1, X2, X3])

    def y():
        return 2 * np.log(x[0] + np.sin(x[0])) * max(x[1], x[2])

    _, nodes = worked_example()
    nodes["y"].backward()
    engine = [nodes[k].grad for k in ("x1", "x2", "x3")]
    assert rel_error(engine, numeric_grad(y, x)) < TOL


def test_worked_example_matches_the_pytorch_appendix():
    # The PyTorch appendix (book/appendix_pytorch.md) runs the example once with
    # torch.log10 (the log divided by ln 10), which gives tensor([-0.5518, 1.2130, 0.0000]):
    # dy/dx2 = 1.213 is that base-10 value, while chapter 3's dy/dx1 uses the natural log.
    x1, x2, x3 = Node(X1), Node(X2), Node(X3)
    y = 2 * G.log(x1 + G.sin(x1)) / np.log(10) * G.max(x2, x3)
    y.backward()
    np.testing.assert_allclose([x1.grad, x2.grad, x3.grad], [-0.5518, 1.2130, 0.0], atol=5e-5)


def test_trace_lists_every_node_with_its_formula_value_and_grad():
    y, nodes = worked_example()
    before = trace(y)
    assert all(row.grad is None for row in before)
    y.backward()
    rows = trace(y)
    assert [(r.name, r.formula) for r in rows] == [
        ("x1", "leaf"),
        ("s", "sin(x1)"),
        ("a", "add(x1, s)"),
        ("l", "log(a)"),
        ("d", "scale(l, 2)"),
        ("x2", "leaf"),
        ("x3", "leaf"),
        ("m", "max(x2, x3)"),
        ("y", "mul(d, m)"),
    ]
    for row in rows:
        assert row.value == nodes[row.name].value and row.grad == nodes[row.name].grad


def test_trace_names_unnamed_nodes_by_position():
    x = Node(1.0, name="x")
    rows = trace(G.exp(x) * x)
    assert [(r.name, r.formula) for r in rows] == [
        ("x", "leaf"),
        ("#1", "exp(x)"),
        ("#2", "mul(#1, x)"),
    ]


# ---------------------------------------------------------------------------
# Every gate against central differences, on random inputs of several shapes
# ---------------------------------------------------------------------------

rng = np.random.default_rng(434)
SHAPES = [(), (5,), (3, 4), (2, 3, 4)]


def anywhere(shape):
    return rng.standard_normal(shape) * 2


def positive(shape):
    return rng.uniform(0.5, 3.0, shape)


def away_from_zero(shape):
    # Keeps kinks (relu at 0) and poles (1/x) further than h from every entry.
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


UNARY = {
    "neg": (lambda x: -x, anywhere),
    "scale": (lambda x: G.scale(x, -2.5), anywhere),
    "pow 3": (lambda x: x**3, anywhere),
    "pow -1.5": (lambda x: x**-1.5, positive),
    "pow 0.5": (lambda x: G.power(x, 0.5), positive),
    "log": (G.log, positive),
    "exp": (G.exp, anywhere),
    "sin": (G.sin, anywhere),
    "cos": (G.cos, anywhere),
    "tanh": (G.tanh, anywhere),
    "relu": (G.relu, away_from_zero),
    "sigmoid": (G.sigmoid, anywhere),
    "transpose": (lambda x: x.T, anywhere),
    "sum": (G.sum, anywhere),
    "mean": (G.mean, anywhere),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", UNARY)
def test_unary_gate_gradients(name, shape):
    fn, sample = UNARY[name]
    check_gradients(fn, sample(shape))


@pytest.mark.parametrize(
    "shape, axis, keepdims",
    [
        ((5,), 0, False),
        ((3, 4), 0, False),
        ((3, 4), -1, True),
        ((2, 3, 4), (0, 2), False),
        ((2, 3, 4), 1, True),
    ],
)
@pytest.mark.parametrize("reduce", [G.sum, G.mean], ids=["sum", "mean"])
def test_reductions_over_axes(reduce, shape, axis, keepdims):
    x = anywhere(shape)
    out = reduce(Node(x), axis=axis, keepdims=keepdims)
    np_reduce = np.sum if reduce is G.sum else np.mean
    expected = np_reduce(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.value, expected, rtol=1e-15)
    check_gradients(lambda n: reduce(n, axis=axis, keepdims=keepdims), x)


def test_mean_gradient_is_one_over_count():
    x = Node(np.ones((4, 5)))
    x.mean(axis=0).sum().backward()
    np.testing.assert_allclose(x.grad, np.full((4, 5), 1 / 4), rtol=1e-15)


BINARY = {
    "add": (lambda a, b: a + b, anywhere),
    "sub": (lambda a, b: a - b, anywhere),
    "mul": (lambda a, b: a * b, anywhere),
    "div": (lambda a, b: a / b, away_from_zero),
    "max": (G.max, anywhere),
}
SHAPE_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 1), (1, 4)),
    ((), (2, 3)),
    ((2, 3, 4), (3, 1)),
]


@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
@pytest.mark.parametrize("name", BINARY)
def test_binary_gate_gradients_with_broadcasting(name, shapes):
    fn, sample_b = BINARY[name]
    check_gradients(fn, anywhere(shapes[0]), sample_b(shapes[1]))


@pytest.mark.parametrize(
    "shapes", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,))], ids=str
)
def test_matmul_gradients(shapes):
    a, b = anywhere(shapes[0]), anywhere(shapes[1])
    out = Node(a) @ Node(b)
    np.testing.assert_allclose(out.value, a @ b, rtol=1e-15)
    check_gradients(lambda x, y: x @ y, a, b)


def test_operators_with_constants():
    x0 = away_from_zero((3, 4))

    def f(x):
        elementwise = 1 / x + 2 - x * 3 + x**2 - (-x) + x / 4 + np.full((3, 4), 0.5) * x
        return elementwise.sum() + (np.ones((2, 3)) @ x @ np.arange(4.0)).sum()

    check_gradients(f, x0)
    x = Node(x0)
    assert isinstance((2 * x).gate, G.Scale) and isinstance((x * np.float64(2)).gate, G.Scale)
    assert isinstance(np.ones((3, 4)) * x, Node)  # NumPy defers to Node instead of looping over it


def test_unbroadcast_sums_over_the_stretched_axes():
    z = Node(rng.standard_normal((3, 4)))
    row, col, scalar = Node(np.zeros(4)), Node(np.zeros((3, 1))), Node(0.0)
    (z + row + col + scalar).sum().backward()
    np.testing.assert_array_equal(row.grad, np.full(4, 3.0))
    np.testing.assert_array_equal(col.grad, np.full((3, 1), 4.0))
    assert scalar.grad.shape == () and scalar.grad == 12.0


def test_max_routes_ties_to_the_first_input():
    a, b = Node([1.0, 2.0, 3.0]), Node([2.0, 2.0, 2.0])
    G.max(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad, [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(b.grad, [1.0, 0.0, 0.0])
    x = Node(1.5)
    G.max(x, x).backward()
    assert x.grad == 1.0  # max(x, x) = x


def test_relu_derivative_at_zero_is_zero():
    x = Node([-1.0, 0.0, 1.0])
    G.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


def test_sigmoid_saturates_without_overflow():
    # pytest turns RuntimeWarnings from solutions into errors, so overflow would fail here.
    x = Node([-800.0, 0.0, 800.0])
    y = G.sigmoid(x)
    y.sum().backward()
    np.testing.assert_allclose(y.value, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(x.grad, [0.0, 0.25, 0.0])


# ---------------------------------------------------------------------------
# The engine: fan-out, order, depth, repeated calls
# ---------------------------------------------------------------------------


def test_fan_out_sums_gradients():
    x = Node(3.0)
    (x * x).backward()
    assert x.grad == 6.0
    (x * x * x).backward()
    assert x.grad == 27.0
    (x + x + x).backward()
    assert x.grad == 3.0
    v = Node([1.0, -2.0, 4.0])
    (v * v).sum().backward()
    np.testing.assert_array_equal(v.grad, [2.0, -4.0, 8.0])


def test_fan_out_through_a_shared_intermediate():
    # a feeds both sin and the product: dc/da = sin a + a cos a, da/dx = 2.
    x = Node(0.7)
    a = 2 * x
    c = a * G.sin(a)
    c.backward()
    a0 = 1.4
    assert a.grad == pytest.approx(math.sin(a0) + a0 * math.cos(a0), rel=1e-14)
    assert x.grad == pytest.approx(2 * (math.sin(a0) + a0 * math.cos(a0)), rel=1e-14)


def test_backward_replaces_gradients_instead_of_accumulating():
    y, nodes = worked_example()
    y.backward()
    first = {name: node.grad.copy() for name, node in nodes.items()}
    backward(y)
    for name, node in nodes.items():
        assert node.grad == first[name], name


def mlp_graph():
    X = Node(rng.standard_normal((5, 3)), name="X")
    W1, b1 = Node(rng.standard_normal((4, 3)), name="W1"), Node(np.zeros(4), name="b1")
    W2, b2 = Node(rng.standard_normal((2, 4)), name="W2"), Node(np.zeros(2), name="b2")
    H = G.tanh(X @ W1.T + b1)
    return ((H @ W2.T + b2) ** 2).mean() + (W1 * W1).sum()


def reachable(output):
    """Every node output depends on, by breadth-first search (independent of the engine)."""
    found, frontier = {output}, [output]
    while frontier:
        frontier = [p for n in frontier for p in n.parents if p not in found]
        found.update(frontier)
    return found


@pytest.mark.parametrize("build", [lambda: worked_example()[0], mlp_graph], ids=["worked", "mlp"])
def test_topological_order_puts_every_node_after_its_parents(build):
    y = build()
    order = topological_order(y)
    position = {node: i for i, node in enumerate(order)}
    assert len(position) == len(order), "a node is listed twice"
    assert set(order) == reachable(y)
    assert order[-1] is y
    for node in order:
        for parent in node.parents:
            assert position[parent] < position[node]


def test_deep_chain_does_not_recurse():
    depth = 10_000
    assert sys.getrecursionlimit() < depth  # otherwise this test would prove nothing
    x = Node(0.5)
    y = x
    for _ in range(depth):
        y = 1.0001 * y
    y.backward()
    assert len(topological_order(y)) == depth + 1
    assert x.grad == pytest.approx(1.0001**depth, rel=1e-10)
    assert len(trace(y)) == depth + 1


# ---------------------------------------------------------------------------
# A linear layer built from gates, in the notation of book/notation.md
# ---------------------------------------------------------------------------


def test_linear_layer_from_gates_matches_the_layer_formulas():
    B, d_in, d_out = 5, 4, 3
    X0 = rng.standard_normal((B, d_in))
    W0, b0 = rng.standard_normal((d_out, d_in)), rng.standard_normal(d_out)
    dZ = rng.standard_normal((B, d_out))
    X, W, b = Node(X0), Node(W0), Node(b0)
    Z = X @ W.T + b
    backward(Z, dZ)
    np.testing.assert_allclose(Z.value, X0 @ W0.T + b0, rtol=1e-14)
    np.testing.assert_allclose(X.grad, dZ @ W0, rtol=1e-14)
    np.testing.assert_allclose(W.grad, dZ.T @ X0, rtol=1e-14)
    np.testing.assert_allclose(b.grad, dZ.sum(axis=0), rtol=1e-14)

    layer = Linear(d_in, d_out, dtype=np.float64)
    layer.W, layer.b = W0, b0
    layer.forward(X0)
    np.testing.assert_allclose(X.grad, layer.backward(dZ), rtol=1e-14)
    np.testing.assert_allclose(W.grad, layer.dW, rtol=1e-14)
    np.testing.assert_allclose(b.grad, layer.db, rtol=1e-14)


def test_two_layer_network_gradients_match_central_differences():
    def loss(X, W1, b1, W2, b2, Y):
        H = G.tanh(X @ W1.T + b1)
        return ((H @ W2.T + b2 - Y) ** 2).mean()

    shapes = [(6, 3), (4, 3), (4,), (2, 4), (2,), (6, 2)]
    check_gradients(loss, *(anywhere(s) for s in shapes))


def test_a_gate_written_to_the_notebook_contract_plugs_in():
    class MultiplyGate(Gate):
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, dz):
            return [self.y * dz, self.x * dz]

    a, b = Node(3.0), Node(-4.0)
    G.exp(MultiplyGate()(a, b) / 10).backward()
    assert a.grad == pytest.approx(-0.4 * math.exp(-1.2), rel=1e-14)
    assert b.grad == pytest.approx(0.3 * math.exp(-1.2), rel=1e-14)


# ---------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------


def test_backward_on_a_non_scalar_needs_a_seed():
    y = G.sin(Node(np.ones(3)))
    with pytest.raises(ValueError, match=r"seed gradient .* shape \(3,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"seed gradient has shape \(2,\).*\(3,\)"):
        y.backward(np.ones(2))
    y.backward(np.ones(3))  # with a seed it works
    assert y.grad.shape == (3,)


def test_mismatched_shapes_are_reported():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(3,\) do not broadcast"):
        Node(np.ones((3, 4))) + Node(np.ones(3))
    with pytest.raises(ValueError, match=r"matmul: inner sizes differ in \(3, 4\) @ \(3, 4\)"):
        Node(np.ones((3, 4))) @ Node(np.ones((3, 4)))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        Node(np.ones((2, 3, 4))) @ Node(np.ones((4, 2)))


def test_a_gate_returning_a_gradient_of_the_wrong_shape_is_named():
    class ForgetsToBroadcast(Gate):
        def forward(self, x):
            return x.sum()

        def backward(self, grad_out):
            return (grad_out,)  # should be broadcast back to x's shape

    message = (
        r"ForgetsToBroadcast.backward returned a gradient of shape \(\)"
        r" for input 0 of shape \(3,\)"
    )
    with pytest.raises(ValueError, match=message):
        ForgetsToBroadcast()(Node(np.ones(3))).backward()


def test_a_gate_returning_the_wrong_number_of_gradients_is_named():
    class Bare(Gate):
        def forward(self, a, b):
            return a + b

        def backward(self, grad_out):
            return grad_out  # not a tuple: one array, not one gradient per input

    message = r"Bare.backward returned 3 gradient\(s\) for 2 input\(s\)"
    with pytest.raises(ValueError, match=message):
        Bare()(Node(np.ones(3)), Node(np.ones(3))).sum().backward()


def test_a_gate_cannot_be_reused():
    gate = G.Tanh()
    gate(Node(1.0))
    with pytest.raises(RuntimeError, match=r"make a new gate for each use"):
        gate(Node(2.0))


def test_exponent_must_be_a_constant():
    with pytest.raises(TypeError, match="constant number"):
        Node(2.0) ** Node(3.0)


def test_node_values_are_float64_copies():
    raw = np.array([1, 2, 3])
    x = Node(raw)
    assert x.value.dtype == np.float64
    x.value[0] = 10.0
    assert raw[0] == 1
    with pytest.raises(TypeError, match="floats"):
        Node(raw, dtype=None)
