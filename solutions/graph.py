"""A small reverse-mode computation-graph engine on NumPy arrays.

A ``Node`` holds a ``value`` (an ndarray; a scalar is a 0-d array), the gate
that made it (``node.gate``) and that gate's inputs (its ``parents``).
Arithmetic on nodes builds the graph as it runs; ``backward(y)`` then walks
it from ``y`` back to the leaves and fills every node's ``grad`` with dy/dnode
(same shape as the node's value).

Every gate is one class with the same contract as the layers (ARCHITECTURE.md):
``forward(*input_values)`` returns the output value and caches what
``backward`` needs; ``backward(grad_out)`` returns one gradient per input,
each of its input's shape. The engine only sends gradients along the edges
and sums them where a node feeds several others. The module functions
(``add``, ``max``, ``log``, ...) and the operators on nodes (``+``, ``*``, ``x.T``, ...)
are the gates' ``apply``: ``max(a, b)`` is ``Max()(a, b)``.

    x1, x2, x3 = Node(5.0, name="x1"), Node(-2.0, name="x2"), Node(-5.0, name="x3")
    y = 2 * log(x1 + sin(x1)) * max(x2, x3)
    y.backward()            # x1.grad, x2.grad, x3.grad
    trace(y)                # every node with its value and grad, parents first

Binary elementwise gates (``+ - * /``, ``max``) broadcast like NumPy, and
their backward sums the gradient over the broadcast axes, so a bias ``b:
(d_out,)`` in ``X @ W.T + b`` gets ``db = dZ.sum(axis=0)``. The one-input
elementwise gates take f and f' from the table shared with the activation layers
(elementwise.py).
"""

import numbers
from collections import namedtuple

import numpy as np

from . import elementwise
from .elementwise import FUNCTIONS, Elementwise

__all__ = [
    "Node",
    "Gate",
    "backward",
    "topological_order",
    "trace",
    "TraceRow",
    # the gates as functions
    "add",
    "sub",
    "mul",
    "div",
    "max",
    "neg",
    "scale",
    "power",
    "log",
    "exp",
    "sin",
    "cos",
    "tanh",
    "relu",
    "sigmoid",
    "matmul",
    "transpose",
    "sum",
    "mean",
    # the gates, for code that builds or subclasses them directly
    "ElementwiseGate",
    "Broadcasting",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Neg",
    "Scale",
    "Power",
    "Log",
    "Exp",
    "Sin",
    "Cos",
    "Tanh",
    "ReLU",
    "Sigmoid",
    "MatMul",
    "Transpose",
    "Sum",
    "Mean",
]


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, Node)


def _as_node(x):
    """Wrap a constant (number or array) as a leaf so gates only ever see Nodes."""
    return x if isinstance(x, Node) else Node(x)


# --------------------------------------------------------------------------
# Gates
# --------------------------------------------------------------------------


class Gate:
    """Base gate: subclasses define ``forward(*input_values)`` and ``backward(grad_out)``.

    ``gate(*inputs)`` runs the forward pass on the inputs' values and returns
    the output Node, linked to its inputs. A gate instance caches one forward
    pass, so it can be applied once: make a new gate for every use.
    ``Gate.apply(*inputs, *constants)`` does both, e.g. ``Scale.apply(x, 2)`` is
    ``Scale(2)(x)``; ``arity`` is the number of inputs.
    """

    arity = 1

    def __call__(self, *inputs):
        if getattr(self, "_applied", False):
            raise RuntimeError(
                f"this {type(self).__name__} gate is already part of a graph and its cache "
                f"belongs to that node; make a new gate for each use, e.g. "
                f"{type(self).__name__}()(x)"
            )
        self._applied = True
        parents = tuple(_as_node(x) for x in inputs)
        out = Node(self.forward(*(p.value for p in parents)), dtype=None)
        out.gate, out.parents = self, parents
        return out

    @classmethod
    def apply(cls, *args, **constants):
        """A new gate of this class on the inputs: the first ``arity`` arguments are the
        inputs, the rest the gate's constants."""
        return cls(*args[cls.arity :], **constants)(*args[: cls.arity])

    @property
    def label(self):
        """Short name of the gate, e.g. 'mul'."""
        return type(self).__name__.lower()

    def settings(self):
        """The gate's constants as strings, e.g. ('2',) for scale by 2."""
        return ()

    def formula(self, *input_names):
        """How the gate's output reads in a trace, e.g. 'mul(a, b)' or 'scale(l, 2)'."""
        return f"{self.label}({', '.join((*input_names, *self.settings()))})"

    def __repr__(self):
        return f"<{self.formula()} gate>"


class ElementwiseGate(Elementwise, Gate):
    """A gate y = f(x) acting on each entry: dx = dy * f'(x), any shape.

    ``function`` is (f, f') from the table shared with the activation layers
    (elementwise.FUNCTIONS), or made from the gate's constant in ``__init__``.
    """

    def backward(self, grad_out):
        return (self.input_gradient(grad_out),)


class Scale(ElementwiseGate):
    """y = c * x for a constant c: the gradient is scaled by c."""

    def __init__(self, c):
        self.c = float(c)
        self.function = elementwise.scale(self.c)

    def settings(self):
        return (f"{self.c:g}",)


class Power(ElementwiseGate):
    """y = x ** p for a constant number p (not a Node): dx = dy * p * x ** (p - 1)."""

    def __init__(self, p):
        if not _is_number(p):
            raise TypeError(f"power takes a constant number as exponent, got {type(p).__name__}")
        self.p = float(p)
        self.function = elementwise.power(self.p)

    def settings(self):
        return (f"{self.p:g}",)


class Neg(ElementwiseGate):
    function = FUNCTIONS["neg"]


class Log(ElementwiseGate):
    """Natural logarithm; defined for x > 0."""

    function = FUNCTIONS["log"]


class Exp(ElementwiseGate):
    function = FUNCTIONS["exp"]


class Sin(ElementwiseGate):
    function = FUNCTIONS["sin"]


class Cos(ElementwiseGate):
    function = FUNCTIONS["cos"]


class Tanh(ElementwiseGate):
    function = FUNCTIONS["tanh"]


class ReLU(ElementwiseGate):
    """max(0, x); the derivative at 0 is taken as 0 (as in ``layers.ReLU``)."""

    function = FUNCTIONS["relu"]


class Sigmoid(ElementwiseGate):
    """1 / (1 + exp(-x)), without overflow for large |x|."""

    function = FUNCTIONS["sigmoid"]


class Broadcasting(Gate):
    """A binary elementwise gate z = f(a, b) with NumPy broadcasting.

    Subclasses give ``_apply(a, b)`` and ``_grads(grad_out)``, the two
    gradients at the broadcast shape; this class sums them back down to the
    shapes of a and b (an input stretched along an axis fed every entry of
    that axis, so its gradient is the sum over it).
    """

    arity = 2

    def forward(self, a, b):
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(
                f"{self.label}: shapes {a.shape} and {b.shape} do not broadcast "
                "(compared from the right, each pair of sizes must be equal or one of them 1)"
            ) from None
        self._a, self._b = a, b
        return self._apply(a, b)

    def backward(self, grad_out):
        da, db = self._grads(grad_out)
        return _unbroadcast(da, self._a.shape), _unbroadcast(db, self._b.shape)


def _unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added to or stretched in ``shape``."""
    grad = np.asarray(grad)
    added = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(added)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True)


class Add(Broadcasting):
    """z = a + b: the gradient is passed unchanged to both inputs ("distributes")."""

    def _apply(self, a, b):
        return a + b

    def _grads(self, g):
        return g, g


class Sub(Broadcasting):
    def _apply(self, a, b):
        return a - b

    def _grads(self, g):
        return g, -g


class Mul(Broadcasting):
    """z = a * b: each input's gradient is the other input times dz ("swaps")."""

    def _apply(self, a, b):
        return a * b

    def _grads(self, g):
        return g * self._b, g * self._a


class Div(Broadcasting):
    def _apply(self, a, b):
        return a / b

    def _grads(self, g):
        return g / self._b, -g * self._a / self._b**2


class Max(Broadcasting):
    """z = max(a, b) entrywise: the gradient goes to the larger input ("routes").

    Ties go to the first input, a: any split summing to dz is a valid
    subgradient, and this keeps max(x, x) = x with gradient exactly 1.
    """

    def _apply(self, a, b):
        return np.maximum(a, b)

    def _grads(self, g):
        a_wins = self._a >= self._b
        return g * a_wins, g * ~a_wins


class MatMul(Gate):
    """z = a @ b for 1-D or 2-D a, b: da = dz @ b.T, db = a.T @ dz.

    a: (n, k) or (k,), b: (k, m) or (k,); z: (n, m), (m,), (n,) or ().
    """

    arity = 2

    def forward(self, a, b):
        if not (1 <= a.ndim <= 2 and 1 <= b.ndim <= 2):
            raise ValueError(f"matmul takes 1-D or 2-D arrays, got shapes {a.shape} @ {b.shape}")
        if a.shape[-1] != b.shape[0]:
            raise ValueError(
                f"matmul: inner sizes differ in {a.shape} @ {b.shape} "
                f"(a's last axis has {a.shape[-1]}, b's first axis {b.shape[0]})"
            )
        self._a, self._b = a, b
        return a @ b

    def backward(self, grad_out):
        # View vectors as a row (a) and a column (b) so one pair of formulas
        # covers every case, then drop the axes that were added.
        a = self._a.reshape(-1, self._a.shape[-1])
        b = self._b.reshape(self._b.shape[0], -1)
        g = np.reshape(grad_out, (a.shape[0], b.shape[1]))
        return (g @ b.T).reshape(self._a.shape), (a.T @ g).reshape(self._b.shape)


class Transpose(Gate):
    """Reverse the axes (x.T): the gradient is transposed back."""

    def forward(self, x):
        return x.T

    def backward(self, grad_out):
        return (grad_out.T,)


class Sum(Gate):
    """Sum over ``axis`` (None: every entry): each input entry gets the gradient of its sum.

    x: any shape -> the shape of ``x.sum(axis, keepdims=keepdims)``.
    """

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self._shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, grad_out):
        if self.axis is not None and not self.keepdims:
            grad_out = np.expand_dims(grad_out, self.axis)  # put the summed axes back as size 1
        return (np.broadcast_to(grad_out, self._shape),)

    def settings(self):
        return () if self.axis is None else (f"axis={self.axis}",)


class Mean(Sum):
    """Average over ``axis``: a sum divided by the number of entries averaged."""

    def forward(self, x):
        total = super().forward(x)
        self._count = x.size // np.size(total)
        return total / self._count

    def backward(self, grad_out):
        return super().backward(grad_out / self._count)


# The gates as functions, for code that reads like math: ``max(a, b)`` is ``Max()(a, b)``,
# ``scale(x, c)`` is ``Scale(c)(x)``, ``sum(x, axis)`` is ``Sum(axis)(x)``. ``max`` and
# ``sum`` shadow the builtins inside this module, like ``np.max`` and ``np.sum``.
add, sub, mul, div, max, matmul = (g.apply for g in (Add, Sub, Mul, Div, Max, MatMul))  # noqa: A001
neg, scale, power, transpose = (g.apply for g in (Neg, Scale, Power, Transpose))
log, exp, sin, cos = (g.apply for g in (Log, Exp, Sin, Cos))
tanh, relu, sigmoid = (g.apply for g in (Tanh, ReLU, Sigmoid))
sum, mean = Sum.apply, Mean.apply  # noqa: A001


def _node_method(gate, *, reflected=False, by_number=None):
    """A Node method that builds ``gate``: ``node.method(other, *constants)``.

    reflected: the node is the right operand (``other - node`` for ``__rsub__``).
    by_number: for a plain number ``other``, the one-input gate made from it instead
    (``2 * x`` is a Scale(2) gate, as in the book's graphs, not Mul with a constant leaf).
    """

    def method(self, *args, **constants):
        if by_number is not None and _is_number(args[0]):
            return by_number(args[0])(self)
        return gate.apply(args[0], self) if reflected else gate.apply(self, *args, **constants)

    return method


class Node:
    """A value in the graph. ``Node(2.0, name="x1")`` makes a leaf (an input or a parameter).

    value: ndarray, the node's own copy, float64 unless ``dtype`` says otherwise
    (``dtype=None`` keeps a float input's dtype). grad: ndarray of the value's
    shape after ``backward``, else None.
    gate: the Gate that computed the value (None for a leaf); parents: its inputs.
    """

    # Make NumPy defer to Node in `ndarray * node`, so the result is a Node
    # rather than an object array of Nodes.
    __array_ufunc__ = None

    def __init__(self, value, name=None, *, dtype=np.float64):
        self.value = np.array(value, dtype=dtype)
        if not np.issubdtype(self.value.dtype, np.floating):
            raise TypeError(f"Node values must be floats, got dtype {self.value.dtype}")
        self.name = name
        self.grad = None
        self.gate = None
        self.parents = ()

    @property
    def shape(self):
        return self.value.shape

    def backward(self, grad=None):
        """Fill ``grad`` on every node this one depends on; see ``backward``."""
        backward(self, grad)

    # The operators, each a gate (see _node_method).
    __add__, __radd__ = _node_method(Add), _node_method(Add, reflected=True)
    __sub__, __rsub__ = _node_method(Sub), _node_method(Sub, reflected=True)
    __mul__ = _node_method(Mul, by_number=Scale)
    __rmul__ = _node_method(Mul, reflected=True, by_number=Scale)
    __truediv__ = _node_method(Div, by_number=lambda c: Scale(1.0 / c))
    __rtruediv__ = _node_method(Div, reflected=True)
    __matmul__, __rmatmul__ = _node_method(MatMul), _node_method(MatMul, reflected=True)
    __neg__ = _node_method(Neg)
    __pow__ = _node_method(Power)
    T = property(_node_method(Transpose))
    sum = _node_method(Sum)
    mean = _node_method(Mean)

    def __repr__(self):
        made_by = f", gate={self.gate.label}" if self.gate is not None else ""
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"Node({self.value!r}{name}{made_by})"


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


def topological_order(output):
    """Every node ``output`` depends on, each once, every node after its parents.

    An iterative depth-first search (an explicit stack, not recursion), so a
    chain of any depth works. ``output`` comes last.
    """
    order, seen = [], set()
    stack = [(output, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
        elif node not in seen:
            seen.add(node)
            stack.append((node, True))  # revisited once every parent is in `order`
            # Reversed so the first parent is popped, and listed, first.
            stack.extend((p, False) for p in reversed(node.parents) if p not in seen)
    return order


def backward(output, grad=None):
    """Set ``node.grad = d(output)/d(node)`` on every node ``output`` depends on.

    ``grad`` seeds dL/d(output) and must have the output's shape; it may be
    left out when the output has a single entry, which then gets 1. Gradients
    of an earlier ``backward`` call are replaced, not accumulated.
    """
    if grad is None:
        if output.value.size != 1:
            raise ValueError(
                f"backward needs a seed gradient for an output of shape {output.shape}: "
                "only a single-entry output has the implicit seed dL/dy = 1; "
                "reduce it first (e.g. y.sum()) or pass grad= of the output's shape"
            )
        grad = np.ones_like(output.value)
    grad = np.asarray(grad, dtype=output.value.dtype)
    if grad.shape != output.shape:
        raise ValueError(
            f"seed gradient has shape {grad.shape}, but the output has shape {output.shape}"
        )

    order = topological_order(output)
    for node in order:
        node.grad = np.zeros_like(node.value)
    output.grad += grad
    # Children before parents: a node's grad is complete (summed over every
    # node it feeds) before its own gate passes it on.
    for node in reversed(order):
        if node.gate is not None:
            _send_to_parents(node)


def _send_to_parents(node):
    """Run the node's gate backward and add each gradient to the matching parent."""
    grads = node.gate.backward(node.grad)
    if len(grads) != len(node.parents):
        raise ValueError(
            f"{type(node.gate).__name__}.backward returned {len(grads)} gradient(s) "
            f"for {len(node.parents)} input(s); return one per input, as a tuple"
        )
    for i, (parent, g) in enumerate(zip(node.parents, grads, strict=True)):
        if np.shape(g) != parent.shape:
            raise ValueError(
                f"{type(node.gate).__name__}.backward returned a gradient of shape {np.shape(g)} "
                f"for input {i} of shape {parent.shape}; a gradient has the shape of its "
                "input (was a broadcast axis not summed?)"
            )
        parent.grad += g  # += sums over every path: the fan-out rule


TraceRow = namedtuple("TraceRow", "name formula value grad")


def trace(output):
    """One row per node, parents first: (name, formula, value, grad).

    ``formula`` names the gate that made the node and its inputs, e.g. 'log(a)', or is
    'leaf'; unnamed nodes are called '#i' by their position in the order. ``grad`` is None
    until ``backward`` has run.
    """
    order = topological_order(output)
    names = {node: node.name or f"#{i}" for i, node in enumerate(order)}
    rows = []
    for node in order:
        inputs = (names[p] for p in node.parents)
        formula = "leaf" if node.gate is None else node.gate.formula(*inputs)
        rows.append(TraceRow(names[node], formula, node.value, node.grad))
    return rows
