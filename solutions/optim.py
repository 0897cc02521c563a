"""Stochastic gradient descent with optional momentum and weight decay."""

import numpy as np


class SGD:
    """theta <- theta - lr * v, with v <- momentum * v + (grad + weight_decay * theta).

    ``parameters`` is a list of (layer, name) pairs (``model.parameters()``);
    the gradient of ``layer.<name>`` is read from ``layer.d<name>`` at each
    step, so a layer whose ``W`` is replaced keeps training. Updates happen in
    place: the arrays the layers hold are the ones that change.
    """

    def __init__(self, parameters, lr, momentum=0.0, weight_decay=0.0):
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"weight decay must be non-negative, got {weight_decay}")
        self.parameters = list(parameters)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self._velocity = {}

    def step(self):
        for layer, name in self.parameters:
            param, grad = getattr(layer, name), getattr(layer, "d" + name)
            if grad is None:
                raise RuntimeError(
                    f"no gradient for {name} of {layer!r}: call backward before step"
                )
            if self.weight_decay:
                grad = grad + self.weight_decay * param
            if self.momentum:
                key = (id(layer), name)
                velocity = self._velocity.get(key)
                if velocity is None or velocity.shape != param.shape:
                    velocity = self._velocity[key] = np.zeros_like(param)
                velocity *= self.momentum
                velocity += grad
                grad = velocity
            param -= self.lr * grad
