"""The reference layers and losses honour the forward/backward contract.

Gradients are compared with float64 central differences (autograder's
numeric_gradient, every coordinate); errors are measured as
||analytic - numeric|| / (||analytic|| + ||numeric||), which a correct layer
keeps far below 1e-7.
"""

import numpy as np
import pytest

from autograder import numeric_gradient
from solutions import (
    MLP,
    BinaryCrossEntropyWithLogits,
    LeakyReLU,
    Linear,
    MSELoss,
    ReLU,
    Sigmoid,
    SoftmaxCrossEntropy,
    Tanh,
    make_activation,
    softmax,
)

SHAPES = [(1, 1, 1), (1, 5, 3), (4, 3, 2), (7, 6, 9), (16, 10, 4)]  # (batch, d_in, d_out)
ACTIVATIONS = [ReLU, LeakyReLU, Sigmoid, Tanh]


def error(analytic, numeric):
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    assert analytic.shape == numeric.shape
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return np.linalg.norm(analytic - numeric) / max(scale, 1e-300)


def numeric(f, x, grad_out=None):
    return numeric_gradient(f, x, grad_out, max_coords=None).grad


def away_from_kinks(rng, shape):
    """Inputs with |x| >= 0.1, so central differences never straddle ReLU's kink."""
    x = rng.uniform(0.1, 2.0, size=shape)
    return x * rng.choice([-1.0, 1.0], size=shape)


@pytest.mark.parametrize("batch,d_in,d_out", SHAPES)
@pytest.mark.parametrize("seed", range(3))
def test_linear_gradients(batch, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    layer = Linear(d_in, d_out, rng=rng, dtype=np.float64)
    layer.b = rng.standard_normal(d_out)
    x = rng.standard_normal((batch, d_in))
    grad_out = rng.standard_normal((batch, d_out))
    x_before, grad_before = x.copy(), grad_out.copy()

    layer.forward(x)
    dx = layer.backward(grad_out)

    W, b = layer.W.copy(), layer.b.copy()
    assert error(dx, numeric(lambda v: v @ W.T + b, x, grad_out)) < 1e-7
    assert error(layer.dW, numeric(lambda v: x @ v.T + b, W, grad_out)) < 1e-7
    assert error(layer.db, numeric(lambda v: x @ W.T + v, b, grad_out)) < 1e-7
    assert layer.dW.shape == (d_out, d_in) and layer.db.shape == (d_out,)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(grad_out, grad_before)


def test_linear_formulas_match_design_notation():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, dtype=np.float64, rng=rng)
    layer.W = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]])
    layer.b = np.array([0.5, -0.5])
    x = np.array([[1.0, 1.0, 1.0], [2.0, 0.0, -1.0]])
    np.testing.assert_allclose(layer.forward(x), [[6.5, -0.5], [-0.5, -3.5]])
    dz = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(layer.backward(dz), dz @ layer.W)
    np.testing.assert_allclose(layer.dW, dz.T @ x)
    np.testing.assert_allclose(layer.db, [1.0, 2.0])


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (32, 16)])
def test_activation_gradients(activation, shape):
    rng = np.random.default_rng(sum(shape))
    layer = activation()
    x = away_from_kinks(rng, shape)
    grad_out = rng.standard_normal(shape)
    x_before, grad_before = x.copy(), grad_out.copy()
    out = layer.forward(x)
    assert out.shape == shape
    dx = layer.backward(grad_out)
    assert error(dx, numeric(lambda v: activation().forward(v), x, grad_out)) < 1e-7
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(grad_out, grad_before)


def test_activation_values():
    x = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_allclose(ReLU().forward(x), [[0.0, 0.0, 3.0]])
    np.testing.assert_allclose(LeakyReLU(0.1).forward(x), [[-0.2, 0.0, 3.0]])
    np.testing.assert_allclose(Sigmoid().forward(x), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(Tanh().forward(x), np.tanh(x))
    # The derivative of ReLU at the kink is 0 by convention.
    relu = ReLU()
    relu.forward(x)
    np.testing.assert_array_equal(relu.backward(np.ones_like(x)), [[0.0, 0.0, 1.0]])


def test_sigmoid_does_not_overflow():
    with np.errstate(over="raise"):
        out = Sigmoid().forward(np.array([[-1000.0, 1000.0]]))
    np.testing.assert_array_equal(out, [[0.0, 1.0]])


@pytest.mark.parametrize("batch", [1, 2, 9])
@pytest.mark.parametrize("classes", [2, 10])
def test_softmax_cross_entropy_gradient(batch, classes):
    rng = np.random.default_rng(batch * classes)
    logits = rng.standard_normal((batch, classes)) * 3
    labels = rng.integers(0, classes, size=batch)
    loss = SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)
    grad = loss.backward()
    assert error(grad, numeric(lambda z: SoftmaxCrossEntropy().forward(z, labels), logits)) < 1e-7
    onehot = np.eye(classes)[labels]
    np.testing.assert_allclose(grad, (softmax(logits) - onehot) / batch)
    expected = -np.mean(np.log(softmax(logits)[np.arange(batch), labels]))
    assert value == pytest.approx(expected, rel=1e-12)
    # One-hot targets give the same loss.
    assert SoftmaxCrossEntropy().forward(logits, onehot) == pytest.approx(value, rel=1e-12)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=np.float32)
    loss = SoftmaxCrossEntropy()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.forward(logits, np.array([1, 2]))
        grad = loss.backward()
    assert np.isfinite(value) and value == pytest.approx((1e4 + np.log(2)) / 2, rel=1e-6)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.25, -0.25]], atol=1e-7)


@pytest.mark.parametrize("shape", [(1, 1), (4, 3), (8, 1)])
def test_mse_gradient(shape):
    rng = np.random.default_rng(shape[0])
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    loss = MSELoss()
    assert loss.forward(pred, target) == pytest.approx(np.mean((pred - target) ** 2))
    assert error(loss.backward(), numeric(lambda p: MSELoss().forward(p, target), pred)) < 1e-7


@pytest.mark.parametrize("shape", [(1,), (6,), (5, 1)])
def test_binary_cross_entropy_gradient(shape):
    rng = np.random.default_rng(shape[0])
    logits = rng.standard_normal(shape) * 4
    targets = rng.integers(0, 2, size=shape)
    loss = BinaryCrossEntropyWithLogits()
    value = loss.forward(logits, targets)
    p = 1 / (1 + np.exp(-logits))
    assert value == pytest.approx(-np.mean(targets * np.log(p) + (1 - targets) * np.log(1 - p)))
    numeric_grad = numeric(lambda z: BinaryCrossEntropyWithLogits().forward(z, targets), logits)
    assert error(loss.backward(), numeric_grad) < 1e-7


def test_binary_cross_entropy_is_stable():
    loss = BinaryCrossEntropyWithLogits()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.forward(np.array([1000.0, -1000.0]), np.array([0, 1]))
        grad = loss.backward()
    assert value == pytest.approx(1000.0)
    np.testing.assert_allclose(grad, [0.5, -0.5])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("batch", [1, 5])
def test_mlp_gradients_end_to_end(activation, batch):
    rng = np.random.default_rng(batch)
    model = MLP([4, 6, 5, 3], activation, rng=rng, dtype=np.float64)
    x = away_from_kinks(rng, (batch, 4))
    labels = rng.integers(0, 3, size=batch)
    loss = SoftmaxCrossEntropy()
    loss.forward(model.forward(x), labels)
    dx = model.backward(loss.backward())

    def loss_at(v):
        return SoftmaxCrossEntropy().forward(model.forward(v), labels)

    assert error(dx, numeric(loss_at, x)) < 1e-7
    first = model.layers[0]
    dW = first.dW.copy()

    def loss_with_first_weights(W):
        saved, first.W = first.W, W
        try:
            return loss_at(x)
        finally:
            first.W = saved

    assert error(dW, numeric(loss_with_first_weights, first.W)) < 1e-7


def test_forward_again_replaces_the_cache():
    rng = np.random.default_rng(0)
    layer = Linear(3, 2, rng=rng, dtype=np.float64)
    first, second = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    layer.forward(first)
    layer.forward(second)
    grad_out = np.ones((4, 2))
    layer.backward(grad_out)
    np.testing.assert_allclose(layer.dW, grad_out.T @ second)


@pytest.mark.parametrize(
    "call, error_type, words",
    [
        (lambda: Linear(3, 2).forward(np.ones((4, 5), np.float32)), ValueError, "expects 3"),
        (lambda: Linear(3, 2).forward(np.ones(3, np.float32)), ValueError, "2 dimensions"),
        (lambda: Linear(3, 2).forward(np.ones((4, 3), np.int64)), TypeError, "float"),
        (lambda: Linear(3, 2).forward([[1.0, 2.0, 3.0]]), TypeError, "numpy array"),
        (lambda: Linear(3, 2).backward(np.ones((4, 2))), RuntimeError, "before forward"),
        (lambda: ReLU().backward(np.ones((4, 2))), RuntimeError, "before forward"),
        (lambda: make_activation("swish"), ValueError, "unknown activation"),
        (lambda: MLP([4, 3], "softsign"), ValueError, "unknown activation"),
        (
            lambda: SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 3])),
            ValueError,
            "0..2",
        ),
        (
            lambda: SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, -1])),
            ValueError,
            "0..2",
        ),
        (
            lambda: SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0, 1, 2])),
            ValueError,
            "shape",
        ),
        (
            lambda: SoftmaxCrossEntropy().forward(np.zeros((2, 3)), np.array([0.5, 1])),
            TypeError,
            "integers",
        ),
        (lambda: MSELoss().forward(np.zeros((4, 1)), np.zeros(4)), ValueError, "no broadcasting"),
        (
            lambda: BinaryCrossEntropyWithLogits().forward(np.zeros(2), np.array([0, 2])),
            ValueError,
            "0 or 1",
        ),
    ],
)
def test_bad_input_is_named(call, error_type, words):
    with pytest.raises(error_type, match=words):
        call()


def test_backward_checks_the_upstream_shape():
    layer = Linear(3, 2)
    layer.forward(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"grad_out has shape \(2, 4\), expected \(4, 2\)"):
        layer.backward(np.ones((2, 4), np.float32))


def test_float32_stays_float32():
    model = MLP([784, 256, 128, 10], rng=0)
    x = np.random.default_rng(0).random((8, 784), dtype=np.float32)
    logits = model.forward(x)
    loss = SoftmaxCrossEntropy()
    loss.forward(logits, np.arange(8))
    model.backward(loss.backward())
    assert logits.dtype == np.float32
    assert all(getattr(layer, "d" + name).dtype == np.float32 for layer, name in model.parameters())
