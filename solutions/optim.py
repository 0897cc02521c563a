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
        self._state = {}

    def step(self):
        # A NumPy float64 learning rate (a schedule's output) would make the float32 update
        # below run in float64 and cast back, about 1.4x its cost: a Python float does not.
        lr = float(self.lr)
        for layer, name in self.parameters:
            param, grad = getattr(layer, name), getattr(layer, "d" + name)
            if grad is None:
                raise RuntimeError(
                    f"no gradient for {name} of {layer!r}: call backward before step"
                )
            state = self._state_for(layer, name, param)
            # Every update below writes into preallocated buffers: no temporaries.
            if self.weight_decay:
                np.multiply(param, self.weight_decay, out=state["scratch"])
                state["scratch"] += grad
                grad = state["scratch"]
            if self.momentum:
                velocity = state["velocity"]
                velocity *= self.momentum
                velocity += grad
                grad = velocity
            np.multiply(grad, lr, out=state["scratch"])
            param -= state["scratch"]

    def _state_for(self, layer, name, param):
        """Momentum buffer and scratch space of one parameter, made again if its shape changed."""
        key = (id(layer), name)
        state = self._state.get(key)
        if state is None or state["scratch"].shape != param.shape:
            state = self._state[key] = {
                "velocity": np.zeros_like(param),
                "scratch": np.empty_like(param),
            }
        return state


def cosine_schedule(base_lr, epochs):
    """Learning rate per epoch (0-based), from ``base_lr`` down along a half cosine.

    Large steps early make fast progress; small steps late let the weights
    settle instead of bouncing around a minimum, which steadies the final accuracy.
    """

    def lr_at(epoch):
        return float(base_lr * 0.5 * (1 + np.cos(np.pi * epoch / epochs)))

    return lr_at
