"""Models as sequences of layers."""

import numpy as np

from .init import scheme_for
from .layers import Layer, Linear, make_activation


class Sequential(Layer):
    """Apply layers in order; backward runs them in reverse.

    forward(x: (B, d_in)) -> (B, d_out); backward(grad_out: (B, d_out)) -> (B, d_in).
    """

    def __init__(self, layers):
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out, *, need_input_grad=True):
        """Backpropagate; ``need_input_grad=False`` skips dX of the first layer (returns None)."""
        grad = grad_out
        last = len(self.layers) - 1
        for index, layer in enumerate(reversed(self.layers)):
            if index == last and not need_input_grad and isinstance(layer, Linear):
                return layer.backward(grad, need_input_grad=False)
            grad = layer.backward(grad)
        return grad

    def parameters(self):
        """[(layer, name), ...] for every parameter; the gradient is ``layer.d<name>``."""
        return [(layer, name) for layer in self.layers for name in layer.params]

    def state(self):
        """{'0.W': array, ...}: every parameter by position, for saving."""
        return {
            f"{i}.{name}": getattr(layer, name)
            for i, layer in enumerate(self.layers)
            for name in layer.params
        }

    def predict(self, x, batch_size=1000):
        """Class predictions (B,) for x: (B, d_in), computed in batches."""
        return np.concatenate(
            [
                self.forward(x[i : i + batch_size]).argmax(axis=1)
                for i in range(0, len(x), batch_size)
            ]
        )

    def __repr__(self):
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


class MLP(Sequential):
    """A multilayer perceptron: Linear, activation, ..., Linear (no activation on the output).

    ``sizes`` lists the widths from input to output, e.g. [784, 256, 128, 10].
    Weights are He-initialised for ReLU-like activations and Xavier otherwise.
    """

    def __init__(self, sizes, activation="relu", *, rng=None, dtype=np.float32):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
        make_activation(activation)  # fail early on an unknown name
        rng = np.random.default_rng(rng)
        self.sizes, self.activation = sizes, activation
        layers = []
        for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(Linear(d_in, d_out, init=scheme_for(activation), rng=rng, dtype=dtype))
            if i < len(sizes) - 2:
                layers.append(make_activation(activation))
        super().__init__(layers)

    def parameter_count(self):
        return sum(getattr(layer, name).size for layer, name in self.parameters())

    def __repr__(self):
        return f"MLP({self.sizes}, activation={self.activation!r})"
