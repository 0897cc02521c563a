"""Elementwise functions with their derivatives: the one table behind the activation
layers (``layers.py``) and the graph's one-input gates (``graph.py``).

A ``Function`` is a pair ``(f, derivative)``: ``f(x)`` acts on each entry of an array of
any shape, and ``derivative(x, y)`` gives f'(x) entry by entry, where ``y = f(x)`` is
passed too because several derivatives are cheapest in terms of the output
(sigmoid: y (1 - y), tanh: 1 - y², exp: y).

``Elementwise`` is the template both layers and gates follow: ``forward(x)`` caches x and
y = f(x); the input gradient is ``grad_out * f'(x)`` (the chain rule, entry by entry).
"""

from collections import namedtuple

import numpy as np

Function = namedtuple("Function", "f derivative")


def sigmoid(x):
    """Numerically stable logistic function 1 / (1 + exp(-x)): exp is only taken of -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def leaky_relu(slope):
    """x for x > 0, slope * x otherwise; the derivative at 0 is the slope."""
    return Function(
        lambda x: np.where(x > 0, x, slope * x),
        lambda x, y: np.where(x > 0, 1.0, slope).astype(x.dtype, copy=False),
    )


def scale(c):
    """c * x for a constant c."""
    return Function(lambda x: c * x, lambda x, y: c)


def power(p):
    """x ** p for a constant p."""
    return Function(lambda x: x**p, lambda x, y: p * x ** (p - 1))


# The functions without a constant, by name. ReLU's derivative at 0 is taken as 0.
FUNCTIONS = {
    "relu": Function(lambda x: np.maximum(x, 0), lambda x, y: x > 0),
    "sigmoid": Function(sigmoid, lambda x, y: y * (1 - y)),
    "tanh": Function(np.tanh, lambda x, y: 1 - y * y),
    "neg": Function(np.negative, lambda x, y: -1.0),
    "log": Function(np.log, lambda x, y: 1 / x),
    "exp": Function(np.exp, lambda x, y: y),
    "sin": Function(np.sin, lambda x, y: np.cos(x)),
    "cos": Function(np.cos, lambda x, y: -np.sin(x)),
}


class Elementwise:
    """y = f(x) entry by entry, for ``function`` = (f, derivative); x: any shape -> y: x's shape.

    Subclasses set ``function`` (a row of FUNCTIONS, or one made for a constant in
    ``__init__``) and wrap ``forward`` / ``input_gradient`` in their own contract. ``_apply``
    and ``_derivative`` are where a subclass may compute f or f' another way.
    """

    function = None

    def forward(self, x):
        self._x = x
        self._out = self._apply(x)
        return self._out

    def input_gradient(self, grad_out):
        """grad_out: y's shape -> dL/dx = grad_out * f'(x), x's shape."""
        return grad_out * self._derivative(self._x, self._out)

    def _apply(self, x):
        return self.function.f(x)

    def _derivative(self, x, out):
        return self.function.derivative(x, out)
