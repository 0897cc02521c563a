"""Reference implementation of the course: an MLP in NumPy, by concept.

    layers      Linear, ReLU, LeakyReLU, Sigmoid, Tanh (forward/backward)
    init        He / Xavier initialisation
    model       Sequential, MLP
    losses      SoftmaxCrossEntropy, MSELoss, BinaryCrossEntropyWithLogits
    graph       a small reverse-mode computation-graph engine
    optim       SGD with momentum and weight decay
    train       the mini-batch training loop, evaluation, history
    checkpoint  save/load a trained model as .npz (no pickle)
    cli         `python -m solutions train xor|mnist`

Instructor side only: never shipped to students.
"""

from .layers import Layer, LeakyReLU, Linear, ReLU, Sigmoid, Tanh, make_activation
from .losses import BinaryCrossEntropyWithLogits, MSELoss, SoftmaxCrossEntropy, log_softmax, softmax
from .model import MLP, Sequential
from .optim import SGD

__all__ = [
    "Layer",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "make_activation",
    "SoftmaxCrossEntropy",
    "MSELoss",
    "BinaryCrossEntropyWithLogits",
    "softmax",
    "log_softmax",
    "Sequential",
    "MLP",
    "SGD",
]
