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

from .elementwise import FUNCTIONS, Elementwise, leaky_relu
from .elementwise import sigmoid as sigmoid  # public here too: solutions.layers.sigmoid
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


class Activation(Elementwise, Layer):
    """An elementwise activation (elementwise.py): ``dZ = dA * f'(Z)``, any input shape."""

    def forward(self, x):
        check_array(x, "x", self)
        return super().forward(x)

    def backward(self, grad_out):
        x = cached(self, "_x")
        check_array(grad_out, "grad_out", self, shape=x.shape)
        return self.input_gradient(grad_out)

    def __repr__(self):
        return f"{type(self).__name__}()"


class ReLU(Activation):
    """max(0, x); the derivative at 0 is taken as 0."""

    function = FUNCTIONS["relu"]


class LeakyReLU(Activation):
    """x for x > 0, slope * x otherwise."""

    def __init__(self, slope=0.01):
        self.slope = slope
        self.function = leaky_relu(slope)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope})"


class Sigmoid(Activation):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""

    function = FUNCTIONS["sigmoid"]


class Tanh(Activation):
    function = FUNCTIONS["tanh"]


# The activation layer classes by name (make_activation, the CLI's --activation choices).
ACTIVATION_LAYERS = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh}


def make_activation(name):
    """Build an activation layer from its name ('relu', 'leaky_relu', 'sigmoid', 'tanh')."""
    key = str(name).lower().replace("-", "_")
    if key not in ACTIVATION_LAYERS:
        raise ValueError(
            f"unknown activation {name!r}: choose one of {', '.join(sorted(ACTIVATION_LAYERS))}"
        )
    return ACTIVATION_LAYERS[key]()
