"""A small reverse-mode computation-graph engine on NumPy arrays.

A ``Node`` holds a ``value`` (an ndarray; a scalar is a 0-d array), the
operation that made it and that operation's inputs (its ``parents``).
Arithmetic on nodes builds the graph as it runs; ``backward(y)`` then walks
it from ``y`` back to the leaves and fills every node's ``grad`` with dy/dnode
(same shape as the node's value).

Every operation is a gate with the same contract as the layers (ARCHITECTURE.md,
"The gate contract"):
``forward(*input_values)`` returns the output value and caches what
``backward`` needs; ``backward(grad_out)`` returns one gradient per input,
each of its input's shape. The engine only sends gradients along the edges
and sums them where a node feeds several others.

    x1, x2, x3 = Node(5.0, name="x1"), Node(-2.0, name="x2"), Node(-5.0, name="x3")
    y = 2 * log(x1 + sin(x1)) * maximum(x2, x3)
    y.backward()            # x1.grad, x2.grad, x3.grad
    trace(y)                # every node with its value and grad, parents first

Binary elementwise gates (``+ - * /``, ``maximum``) broadcast like NumPy, and
their backward sums the gradient over the broadcast axes, so a bias ``b:
(d_out,)`` in ``X @ W.T + b`` gets ``db = dZ.sum(axis=0)``.
"""

import numbers
from collections import namedtuple

import numpy as np

from .layers import sigmoid as _stable_sigmoid

__all__ = [
    "Node",
    "Operation",
    "backward",
    "topological_order",
    "trace",
    "TraceRow",
    "add",
    "sub",
    "mul",
    "div",
    "neg",
    "scale",
    "maximum",
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
    "Elementwise",
    "Broadcasting",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Maximum",
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


class Node:
    """A value in the graph. ``Node(2.0, name="x1")`` makes a leaf (an input or a parameter).

    value: ndarray, the node's own copy, float64 unless ``dtype`` says otherwise
    (``dtype=None`` keeps a float input's dtype). grad: ndarray of the value's
    shape after ``backward``, else None.
    op: the Operation that computed the value (None for a leaf); parents: its inputs.
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
        self.op = None
        self.parents = ()

    @property
    def shape(self):
        return self.value.shape

    def backward(self, grad=None):
        """Fill ``grad`` on every node this one depends on; see ``backward``."""
        backward(self, grad)

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def __mul__(self, other):
        # A plain number makes chapter 3's scale gate rather than a
        # constant leaf, so `2 * x` shows up in the graph as scale(2).
        return scale(self, other) if _is_number(other) else mul(self, other)

    def __rmul__(self, other):
        return scale(self, other) if _is_number(other) else mul(other, self)

    def __truediv__(self, other):
        return scale(self, 1.0 / other) if _is_number(other) else div(self, other)

    def __rtruediv__(self, other):
        return div(other, self)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def __neg__(self):
        return neg(self)

    def __pow__(self, exponent):
        return power(self, exponent)

    @property
    def T(self):
        return transpose(self)

    def sum(self, axis=None, keepdims=False):
        return sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return mean(self, axis, keepdims)

    def __repr__(self):
        made_by = f", op={self.op.label}" if self.op is not None else ""
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"Node({self.value!r}{name}{made_by})"


def _is_number(x):
    return isinstance(x, numbers.Real) and not isinstance(x, Node)


def _as_node(x):
    """Wrap a constant (number or array) as a leaf so gates only ever see Nodes."""
    return x if isinstance(x, Node) else Node(x)


# --------------------------------------------------------------------------
# Gates
# --------------------------------------------------------------------------


class Operation:
    """Base gate: subclasses define ``forward(*input_values)`` and ``backward(grad_out)``.

    ``gate(*inputs)`` runs the forward pass on the inputs' values and returns
    the output Node, linked to its inputs. A gate instance caches one forward
    pass, so it can be applied once: make a new gate for every use.
    """

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
        out.op, out.parents = self, parents
        return out

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


class Elementwise(Operation):
    """A gate y = f(x) acting on each entry: dx = dy * f'(x), any shape.

    Subclasses give ``_apply(x)`` and ``_derivative(x, y)`` (y = f(x) is passed
    too because several derivatives are cheapest in terms of the output).
    """

    def forward(self, x):
        self._x = x
        self._y = self._apply(x)
        return self._y

    def backward(self, grad_out):
        return (grad_out * self._derivative(self._x, self._y),)


class Scale(Elementwise):
    """y = c * x for a constant c: the gradient is scaled by c."""

    def __init__(self, c):
        self.c = float(c)

    def _apply(self, x):
        return self.c * x

    def _derivative(self, x, y):
        return self.c

    def settings(self):
        return (f"{self.c:g}",)


class Neg(Elementwise):
    def _apply(self, x):
        return -x

    def _derivative(self, x, y):
        return -1.0


class Power(Elementwise):
    """y = x ** p for a constant p: dx = dy * p * x ** (p - 1)."""

    def __init__(self, p):
        self.p = float(p)

    def _apply(self, x):
        return x**self.p

    def _derivative(self, x, y):
        return self.p * x ** (self.p - 1)

    def settings(self):
        return (f"{self.p:g}",)


class Log(Elementwise):
    """Natural logarithm; defined for x > 0."""

    def _apply(self, x):
        return np.log(x)

    def _derivative(self, x, y):
        return 1 / x


class Exp(Elementwise):
    def _apply(self, x):
        return np.exp(x)

    def _derivative(self, x, y):
        return y


class Sin(Elementwise):
    def _apply(self, x):
        return np.sin(x)

    def _derivative(self, x, y):
        return np.cos(x)


class Cos(Elementwise):
    def _apply(self, x):
        return np.cos(x)

    def _derivative(self, x, y):
        return -np.sin(x)


class Tanh(Elementwise):
    def _apply(self, x):
        return np.tanh(x)

    def _derivative(self, x, y):
        return 1 - y * y


class ReLU(Elementwise):
    """max(0, x); the derivative at 0 is taken as 0 (as in ``layers.ReLU``)."""

    def _apply(self, x):
        return np.maximum(x, 0)

    def _derivative(self, x, y):
        return x > 0


class Sigmoid(Elementwise):
    """1 / (1 + exp(-x)), without overflow for large |x|."""

    def _apply(self, x):
        return _stable_sigmoid(x)

    def _derivative(self, x, y):
        return y * (1 - y)


class Broadcasting(Operation):
    """A binary elementwise gate z = f(a, b) with NumPy broadcasting.

    Subclasses give ``_apply(a, b)`` and ``_grads(grad_out)``, the two
    gradients at the broadcast shape; this class sums them back down to the
    shapes of a and b (an input stretched along an axis fed every entry of
    that axis, so its gradient is the sum over it).
    """

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
    """z = a + b: the gradient is passed unchanged to both inputs."""

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
    """z = a * b: each input's gradient is the other input times dz (the "swap")."""

    def _apply(self, a, b):
        return a * b

    def _grads(self, g):
        return g * self._b, g * self._a


class Div(Broadcasting):
    def _apply(self, a, b):
        return a / b

    def _grads(self, g):
        return g / self._b, -g * self._a / self._b**2


class Maximum(Broadcasting):
    """z = max(a, b) entrywise: the gradient goes to the larger input ("routing").

    Ties go to the first input, a: any split summing to dz is a valid
    subgradient, and this keeps max(x, x) = x with gradient exactly 1.
    """

    def _apply(self, a, b):
        return np.maximum(a, b)

    def _grads(self, g):
        a_wins = self._a >= self._b
        return g * a_wins, g * ~a_wins


class MatMul(Operation):
    """z = a @ b for 1-D or 2-D a, b: da = dz @ b.T, db = a.T @ dz.

    a: (n, k) or (k,), b: (k, m) or (k,); z: (n, m), (m,), (n,) or ().
    """

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


class Transpose(Operation):
    """Reverse the axes (x.T): the gradient is transposed back."""

    def forward(self, x):
        return x.T

    def backward(self, grad_out):
        return (grad_out.T,)


class Sum(Operation):
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


# Module functions: the same gates, for code that reads like math.


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def maximum(a, b):
    """Entrywise max; ties send the gradient to ``a``."""
    return Maximum()(a, b)


def neg(x):
    return Neg()(x)


def scale(x, c):
    """c * x for a constant number c."""
    return Scale(c)(x)


def power(x, p):
    """x ** p for a constant number p (not a Node)."""
    if not _is_number(p):
        raise TypeError(f"power takes a constant number as exponent, got {type(p).__name__}")
    return Power(p)(x)


def log(x):
    return Log()(x)


def exp(x):
    return Exp()(x)


def sin(x):
    return Sin()(x)


def cos(x):
    return Cos()(x)


def tanh(x):
    return Tanh()(x)


def relu(x):
    return ReLU()(x)


def sigmoid(x):
    return Sigmoid()(x)


def matmul(a, b):
    return MatMul()(a, b)


def transpose(x):
    return Transpose()(x)


def sum(x, axis=None, keepdims=False):  # noqa: A001 (shadows the builtin, like np.sum)
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(axis, keepdims)(x)


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
        if node.op is not None:
            _send_to_parents(node)


def _send_to_parents(node):
    """Run the node's gate backward and add each gradient to the matching parent."""
    grads = node.op.backward(node.grad)
    if len(grads) != len(node.parents):
        raise ValueError(
            f"{type(node.op).__name__}.backward returned {len(grads)} gradient(s) "
            f"for {len(node.parents)} input(s); return one per input, as a tuple"
        )
    for i, (parent, g) in enumerate(zip(node.parents, grads, strict=True)):
        if np.shape(g) != parent.shape:
            raise ValueError(
                f"{type(node.op).__name__}.backward returned a gradient of shape {np.shape(g)} "
                f"for input {i} of shape {parent.shape}; a gradient has the shape of its "
                "input (was a broadcast axis not summed?)"
            )
        parent.grad += g  # += sums over every path: the fan-out rule


TraceRow = namedtuple("TraceRow", "name op value grad")


def trace(output):
    """One row per node, parents first: (name, op, value, grad).

    ``op`` reads like the node's formula, e.g. 'log(a)', or is 'leaf'; unnamed
    nodes are called '#i' by their position in the order. ``grad`` is None
    until ``backward`` has run.
    """
    order = topological_order(output)
    names = {node: node.name or f"#{i}" for i, node in enumerate(order)}
    rows = []
    for node in order:
        op = "leaf" if node.op is None else node.op.formula(*(names[p] for p in node.parents))
        rows.append(TraceRow(names[node], op, node.value, node.grad))
    return rows
