"""The mistake zoo: deliberately wrong layers, losses and derivatives.

Each wrong block subclasses a correct one from `solutions` and changes one
thing, so the mistake is exactly the difference. A :class:`Mistake` names the
error, the diagnosis key the checks must report, and runs the check.
Used by tests/test_mistake_zoo.py and benchmarks/false_alarms.py.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import solutions as S
from autograder.student.checks import GradientCheckError, check_function, check_layer, check_loss
from solutions.layers import sigmoid

B = 6  # the batch size of every zoo input


def batch(features=5, *, scale=1.0, seed=0):
    """A (B, features) float64 batch with a few exact zeros (where ReLU's kink sits)."""
    x = np.random.default_rng(seed).standard_normal((B, features)) * scale
    x[::2, ::2] = 0.0
    return x


LABELS = np.arange(B) % 3  # class labels for 3 classes


# ------------------------------------------------------------- Linear mistakes


class TransposedDW(S.Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.dW = self.dW.T.copy()
        return dx


class DWAveraged(S.Linear):
    """The batch average applied again in the layer (the loss already did it)."""

    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.dW = self.dW / len(grad_out)
        return dx


class NegatedDX(S.Linear):
    def backward(self, grad_out):
        return -super().backward(grad_out)


class DBPerExample(S.Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.db = grad_out.copy()
        return dx


class DBLastRow(S.Linear):
    """A loop over the examples that assigns instead of adding up."""

    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.db = grad_out[-1].copy()
        return dx


class DBKeepdims(S.Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.db = self.db[None, :]
        return dx


class DBMissing(S.Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.db = None
        return dx


class DXZeros(S.Linear):
    def backward(self, grad_out):
        return np.zeros_like(super().backward(grad_out))


class DXFloat32(S.Linear):
    def backward(self, grad_out):
        return super().backward(grad_out).astype(np.float32)


class Accumulating(S.Linear):
    """dW += new gradient, never reset."""

    def backward(self, grad_out):
        old_dW, old_db = self.dW, self.db
        dx = super().backward(grad_out)
        if old_dW is not None:
            self.dW, self.db = self.dW + old_dW, self.db + old_db
        return dx


class UpdatesWeights(S.Linear):
    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.W -= 0.1 * self.dW
        return dx


class ForgetsInput(S.Linear):
    """forward never stores x; backward looks for it."""

    def forward(self, x):
        return x @ self.W.T + self.b

    def backward(self, grad_out):
        self.dW = grad_out.T @ self.x
        self.db = grad_out.sum(axis=0)
        return grad_out @ self.W


class KeepsFirstInput(S.Linear):
    """forward stores its input only the first time."""

    def forward(self, x):
        first = self._x
        out = super().forward(x)
        if first is not None:
            self._x = first
        return out


# --------------------------------------------------------- activation mistakes


class SigmoidAtOutput(S.Sigmoid):
    """sigmoid'(a) computed from a = sigmoid(x) by applying sigmoid again."""

    def _derivative(self, x, out):
        s = sigmoid(out)
        return s * (1 - s)


class TanhWithSigmoidDerivative(S.Tanh):
    def _derivative(self, x, out):
        s = sigmoid(x)
        return s * (1 - s)


class LeakyWithReLUDerivative(S.LeakyReLU):
    def _derivative(self, x, out):
        return (x > 0).astype(x.dtype)


class SigmoidWithoutDerivative(S.Sigmoid):
    def backward(self, grad_out):
        return grad_out.copy()


class ReLUOneAtZero(S.ReLU):
    def _derivative(self, x, out):
        return x >= 0


class ReLUPassesNegatives(S.ReLU):
    def _derivative(self, x, out):
        return x != 0


class ReLUDerivativeIsOutput(S.ReLU):
    """The output relu(x) used where its derivative (the 0/1 mask) belongs."""

    def _derivative(self, x, out):
        return out


class ReLUDerivativeIsInput(S.ReLU):
    """grad_out * x: the input where the 0/1 mask belongs (as a product's a * b rule misread)."""

    def _derivative(self, x, out):
        return x


class SigmoidFormulaAtInput(S.Sigmoid):
    """s (1 - s) with s = x, the input, instead of the output sigmoid(x)."""

    def _derivative(self, x, out):
        s = x
        return s * (1 - s)


class TanhFormulaAtInput(S.Tanh):
    def _derivative(self, x, out):
        return 1 - x**2


class SigmoidWithoutUpstream(S.Sigmoid):
    """Returns sigmoid'(x) and forgets the chain rule's grad_out."""

    def backward(self, grad_out):
        return self._out * (1 - self._out)


class ReLUMaskOnly(S.ReLU):
    def backward(self, grad_out):
        return (self._x > 0).astype(grad_out.dtype)


class LeakyFixedSlope(S.LeakyReLU):
    """The default slope 0.01 written into backward: wrong for LeakyReLU(0.2)."""

    def _derivative(self, x, out):
        return np.where(x > 0, 1.0, 0.01)


class LeakyForgetsUpstreamForPositive(S.LeakyReLU):
    def backward(self, grad_out):
        return np.where(self._x > 0, 1.0, self.slope * grad_out)


class LinearXW(S.Linear):
    """x @ W where W.T belongs: the shapes only fit for a square layer."""

    def forward(self, x):
        self._x = x
        return x @ self.W + self.b


class LinearBackwardWT(S.Linear):
    def backward(self, grad_out):
        super().backward(grad_out)
        return grad_out @ self.W.T


class LinearBiasColumn(S.Linear):
    """The bias as a column (d_out, 1): it broadcasts against the batch axis."""

    def forward(self, x):
        self._x = x
        return x @ self.W.T + self.b[:, None]


class ReLUWithPythonMax(S.ReLU):
    def forward(self, x):
        self._x = x
        return max(x, 0)


class ReLUMasksGradOut(S.ReLU):
    def backward(self, grad_out):
        grad_out[self._x <= 0] = 0
        return grad_out


class SigmoidOverwritesOutput(S.Sigmoid):
    def backward(self, grad_out):
        out = self._out
        out *= 1 - out  # in place: the array forward returned changes
        return grad_out * out


class SigmoidRebindsOutput(S.Sigmoid):
    """Not in place, but the second call starts from the changed value."""

    def backward(self, grad_out):
        self._out = self._out * (1 - self._out)
        return grad_out * self._out


class ReLUInPlace(S.ReLU):
    def forward(self, x):
        self._x = x.copy()
        self._out = np.maximum(x, 0, out=x)
        return self._out


class SigmoidNaiveBackward(S.Sigmoid):
    """exp(-x) / (1 + exp(-x))**2 overflows to inf / inf for very negative x."""

    def _derivative(self, x, out):
        e = np.exp(-x)
        return e / (1 + e) ** 2


# --------------------------------------------------------------- loss mistakes


class CrossEntropyNotAveraged(S.SoftmaxCrossEntropy):
    def backward(self):
        return super().backward() * len(self._labels)


class CrossEntropyUnstable(S.SoftmaxCrossEntropy):
    """Softmax without subtracting the row maximum: exp overflows for large logits."""

    def forward(self, logits, targets):
        e = np.exp(logits)
        self._probs = e / e.sum(axis=1, keepdims=True)
        self._labels = np.asarray(targets)
        return float(-np.log(self._probs[np.arange(len(logits)), self._labels]).mean())


class CrossEntropyPerExample(S.SoftmaxCrossEntropy):
    def forward(self, logits, targets):
        super().forward(logits, targets)
        return -np.log(self._probs[np.arange(len(logits)), self._labels])


class CrossEntropyOverTheBatchAxis(S.SoftmaxCrossEntropy):
    """forward normalises down the batch axis: the examples of a batch mix."""

    def forward(self, logits, targets):
        return super().forward(logits - np.log(np.exp(logits).sum(axis=0)), targets)


class MSEWithoutTwo(S.MSELoss):
    def backward(self):
        return super().backward() / 2


class MSEFlippedDifference(S.MSELoss):
    def backward(self):
        return -super().backward()


class BCENotAveraged(S.BinaryCrossEntropyWithLogits):
    def backward(self):
        return super().backward() * self._logits.size


# ------------------------------------------------------------------ the zoo


@dataclass(frozen=True)
class Mistake:
    name: str  # the mistake in words
    key: str  # the diagnosis the checks must give
    run: Callable[[], object]  # runs the check (which must fail)


def layer(cls, *args, x=None, **kwargs):
    return lambda: check_layer(cls(*args, **kwargs), batch() if x is None else x)


def loss(cls, logits=None, targets=LABELS):
    return lambda: check_loss(cls(), batch(3) if logits is None else logits, targets)


def relu(x):
    return np.maximum(x, 0)


MISTAKES = [
    Mistake("dW transposed (square layer)", "transposed", layer(TransposedDW, 4, 4, x=batch(4))),
    Mistake("dW transposed (its shape)", "transposed", layer(TransposedDW, 5, 3)),
    Mistake("dW averaged over the batch again", "batch_size", layer(DWAveraged, 5, 3)),
    Mistake("cross-entropy gradient not averaged", "batch_size", loss(CrossEntropyNotAveraged)),
    Mistake(
        "BCE gradient not averaged", "batch_size", loss(BCENotAveraged, batch(1)[:, 0], LABELS % 2)
    ),
    Mistake("dX with the wrong sign", "sign", layer(NegatedDX, 5, 3)),
    Mistake(
        "MSE with pred and target swapped",
        "sign",
        loss(MSEFlippedDifference, batch(3), batch(3, seed=1)),
    ),
    Mistake("db not summed over the batch", "not_summed", layer(DBPerExample, 5, 3)),
    Mistake("db is the last example's row", "not_summed", layer(DBLastRow, 5, 3)),
    Mistake(
        "MSE gradient without the 2", "factor", loss(MSEWithoutTwo, batch(3), batch(3, seed=1))
    ),
    Mistake("sigmoid derivative at the output", "at_output", layer(SigmoidAtOutput)),
    Mistake(
        "tanh with the sigmoid derivative", "other_activation", layer(TanhWithSigmoidDerivative)
    ),
    Mistake(
        "leaky ReLU with the ReLU derivative", "other_activation", layer(LeakyWithReLUDerivative)
    ),
    Mistake(
        "sigmoid backward skips the derivative", "no_derivative", layer(SigmoidWithoutDerivative)
    ),
    Mistake("ReLU derivative 1 at x = 0", "kink", layer(ReLUOneAtZero)),
    Mistake("ReLU passes gradients for x < 0", "negative_inputs", layer(ReLUPassesNegatives)),
    Mistake("ReLU derivative taken as relu(x)", "times_output", layer(ReLUDerivativeIsOutput)),
    Mistake(
        "leaky ReLU forgets grad_out where x > 0",
        "positive_inputs",
        layer(LeakyForgetsUpstreamForPositive),
    ),
    Mistake("ReLU derivative taken as x", "times_input", layer(ReLUDerivativeIsInput)),
    Mistake("sigmoid's s (1 - s) with s = x", "formula_at_input", layer(SigmoidFormulaAtInput)),
    Mistake("tanh's 1 - t² with t = x", "formula_at_input", layer(TanhFormulaAtInput)),
    Mistake("sigmoid backward ignores grad_out", "no_upstream", layer(SigmoidWithoutUpstream)),
    Mistake("ReLU backward returns the mask alone", "no_upstream", layer(ReLUMaskOnly)),
    Mistake("leaky ReLU with slope 0.01 hard-coded", "wrong_slope", layer(LeakyFixedSlope, 0.2)),
    Mistake("Linear.forward computes x W", "matmul_shapes", layer(LinearXW, 5, 3)),
    Mistake("dX computed with W transposed", "matmul_shapes", layer(LinearBackwardWT, 5, 3)),
    Mistake("the bias added as a column", "broadcast_shapes", layer(LinearBiasColumn, 5, 3)),
    Mistake("ReLU with Python's max", "array_truth", layer(ReLUWithPythonMax)),
    Mistake("backward writes into grad_out", "mutates_grad_out", layer(ReLUMasksGradOut)),
    Mistake(
        "backward overwrites the cached output", "mutates_cache", layer(SigmoidOverwritesOutput)
    ),
    Mistake("forward writes into x", "mutates_input", layer(ReLUInPlace)),
    Mistake("backward updates W", "mutates_params", layer(UpdatesWeights, 5, 3)),
    Mistake("gradients accumulate across calls", "accumulates", layer(Accumulating, 5, 3)),
    Mistake("backward changes state it reads", "not_repeatable", layer(SigmoidRebindsOutput)),
    Mistake("forward keeps its first input", "stale_cache", layer(KeepsFirstInput, 5, 3)),
    Mistake("forward does not store x", "missing_cache", layer(ForgetsInput, 5, 3)),
    Mistake("backward does not store db", "missing_gradient", layer(DBMissing, 5, 3)),
    Mistake("dX all zeros", "zeros", layer(DXZeros, 5, 3)),
    Mistake("dX cast to float32", "dtype", layer(DXFloat32, 5, 3)),
    Mistake("db with keepdims", "shape", layer(DBKeepdims, 5, 3)),
    Mistake("cross-entropy returns one loss per example", "shape", loss(CrossEntropyPerExample)),
    Mistake(
        "cross-entropy normalised down the batch axis",
        "forward_not_mean",
        loss(CrossEntropyOverTheBatchAxis),
    ),
    Mistake(
        "softmax without the max shift",
        "nonfinite",
        loss(CrossEntropyUnstable, batch(3, scale=1000)),
    ),
    Mistake(
        "sigmoid derivative overflows",
        "nonfinite",
        layer(SigmoidNaiveBackward, x=batch(scale=1000)),
    ),
    Mistake(
        "relu'(0) = 1 in a derivative function",
        "kink",
        lambda: check_function(relu, lambda x: (x >= 0).astype(float), name="relu"),
    ),
    Mistake(
        "sigmoid' at the output in a derivative function",
        "at_output",
        lambda: check_function(sigmoid, lambda x: sigmoid(sigmoid(x)) * (1 - sigmoid(sigmoid(x)))),
    ),
]


def diagnosis_of(mistake):
    """The diagnosis key the check gave, "none" if it failed unrecognised, "passed" if it passed."""
    try:
        mistake.run()
    except GradientCheckError as error:
        return error.diagnosis.key if error.diagnosis else "none"
    return "passed"
