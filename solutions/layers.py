"""Layers with paired ``forward``/``backward`` passes.

The contract (ARCHITECTURE.md, "The layer contract"): ``forward(x)`` computes the output and
caches what
``backward`` needs; ``backward(grad_out)`` returns ``dL/dx`` and stores
parameter gradients (``dW``, ``db``) on the layer. Neither mutates its
arguments; calling ``forward`` again replaces the cache.

Shapes: a batch ``x`` is ``(B, d)`` with one example per row. ``Linear`` has
``W: (d_out, d_in)`` and ``b: (d_out,)`` and computes ``x @ W.T + b``.
"""

import numpy as np

from .init import init_weights
from .validation import cached, check_array


class Layer:
    """Base class: a layer without parameters has an empty ``params`` tuple."""

    params = ()

    def __call__(self, x):
        return self.forward(x)


class Linear(Layer):
    """Fully connected layer ``Z = X @ W.T + b``.

    W: (d_out, d_in), b: (d_out,); after ``backward``: dW, db of the same shapes.
    """

    params = ("W", "b")

    def __init__(self, d_in, d_out, *, init="he", rng=None, dtype=np.float32):
        if int(d_in) < 1 or int(d_out) < 1:
            raise ValueError(f"Linear needs positive sizes, got d_in={d_in}, d_out={d_out}")
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.W = init_weights(self.d_out, self.d_in, scheme=init, rng=rng, dtype=dtype)
        self.b = np.zeros(self.d_out, dtype=dtype)
        self.dW = self.db = None
        self._x = None

    def forward(self, x):
        """x: (B, d_in) -> Z: (B, d_out)."""
        check_array(x, "x", self, ndim=2, last_dim=self.d_in)
        self._x = x
        z = x @ self.W.T
        z += self.b  # z is a fresh array, so adding in place is safe
        return z

    def backward(self, grad_out, *, need_input_grad=True):
        """grad_out: (B, d_out) -> dX: (B, d_in); stores dW: (d_out, d_in), db: (d_out,).

        ``need_input_grad=False`` skips ``dX`` (returns None): the first layer
        of a network never needs the gradient with respect to the data.
        """
        x = cached(self, "_x")
        check_array(grad_out, "grad_out", self, shape=(x.shape[0], self.d_out))
        self.dW = grad_out.T @ x
        self.db = grad_out.sum(axis=0)
        return grad_out @ self.W if need_input_grad else None

    def __repr__(self):
        return f"Linear({self.d_in}, {self.d_out})"


class Activation(Layer):
    """An elementwise activation: ``dZ = dA * f'(Z)``, any input shape."""

    name = None

    def forward(self, x):
        check_array(x, "x", self)
        self._x = x
        self._out = self._apply(x)
        return self._out

    def backward(self, grad_out):
        x = cached(self, "_x")
        check_array(grad_out, "grad_out", self, shape=x.shape)
        return grad_out * self._derivative(x, self._out)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """max(0, x); the derivative at 0 is taken as 0."""

    name = "relu"

    def _apply(self, x):
        return np.maximum(x, 0)

    def _derivative(self, x, out):
        return x > 0


class LeakyReLU(Activation):
    """x for x > 0, slope * x otherwise."""

    name = "leaky_relu"

    def __init__(self, slope=0.01):
        self.slope = slope

    def _apply(self, x):
        return np.where(x > 0, x, self.slope * x)

    def _derivative(self, x, out):
        return np.where(x > 0, 1.0, self.slope).astype(x.dtype, copy=False)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class Sigmoid(Activation):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

    name = "sigmoid"

    def _apply(self, x):
        return sigmoid(x)

    def _derivative(self, x, out):
        return out * (1 - out)


class Tanh(Activation):
    name = "tanh"

    def _apply(self, x):
        return np.tanh(x)

    def _derivative(self, x, out):
        return 1 - out * out


def sigmoid(x):
    """Numerically stable logistic function: exp is only taken of -|x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


ACTIVATIONS = {cls.name: cls for cls in (ReLU, LeakyReLU, Sigmoid, Tanh)}


def make_activation(name):
    """Build an activation layer from its name ('relu', 'leaky_relu', 'sigmoid', 'tanh')."""
    key = str(name).lower().replace("-", "_")
    if key not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}: choose one of {', '.join(sorted(ACTIVATIONS))}"
        )
    return ACTIVATIONS[key]()
