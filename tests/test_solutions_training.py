"""Training with the reference package: SGD, XOR, MNIST, checkpoints and the command line."""

import json
import re
from itertools import pairwise

import numpy as np
import pytest

from autograder import xor_dataset
from solutions import (
    MLP,
    SGD,
    BinaryCrossEntropyWithLogits,
    Linear,
    ReLU,
    Sequential,
    SoftmaxCrossEntropy,
)
from solutions.checkpoint import load_model, save_model
from solutions.cli import main
from solutions.optim import cosine_schedule
from solutions.train import evaluate, minibatches, train


def test_hand_set_relu_network_computes_xor_exactly():
    # The network of the source material: h = relu(X W^T + c), y = h w + b.
    hidden = Linear(2, 2, dtype=np.float64)
    hidden.W, hidden.b = np.array([[1.0, 1.0], [1.0, 1.0]]), np.array([0.0, -1.0])
    output = Linear(2, 1, dtype=np.float64)
    output.W, output.b = np.array([[1.0, -2.0]]), np.array([0.0])
    network = Sequential([hidden, ReLU(), output])
    X, y = xor_dataset()
    np.testing.assert_array_equal(hidden.forward(X), [[0, -1], [1, 0], [1, 0], [2, 1]])
    np.testing.assert_array_equal(network.forward(X)[:, 0], y)


@pytest.mark.parametrize("hidden,activation", [([4], "tanh"), ([2], "tanh"), ([4], "relu")])
def test_xor_trains_to_full_accuracy(hidden, activation):
    X, y = xor_dataset(dtype=np.float32)
    rng = np.random.default_rng(0)
    model = MLP([2, *hidden, 1], activation, rng=rng)
    loss = BinaryCrossEntropyWithLogits()
    history = train(
        model,
        loss,
        SGD(model.parameters(), lr=0.1, momentum=0.9),
        X,
        y,
        epochs=500,
        batch_size=4,
        rng=rng,
        progress=False,
    )
    assert evaluate(model, loss, X, y)[1] == 1.0
    assert history.loss[-1] < 0.05 < history.loss[0]


def test_sgd_update_rules():
    layer = Linear(2, 1, dtype=np.float64)
    layer.W, layer.b = np.array([[1.0, 2.0]]), np.array([0.5])
    layer.dW, layer.db = np.array([[1.0, -1.0]]), np.array([2.0])
    plain = SGD([(layer, "W"), (layer, "b")], lr=0.1)
    plain.step()
    np.testing.assert_allclose(layer.W, [[0.9, 2.1]])
    np.testing.assert_allclose(layer.b, [0.3])

    momentum = SGD([(layer, "W")], lr=0.1, momentum=0.5, weight_decay=0.1)
    W0 = layer.W.copy()
    momentum.step()  # v = g + wd W0
    v1 = layer.dW + 0.1 * W0
    np.testing.assert_allclose(layer.W, W0 - 0.1 * v1)
    W1 = layer.W.copy()
    momentum.step()  # v = 0.5 v + g + wd W1
    np.testing.assert_allclose(layer.W, W1 - 0.1 * (0.5 * v1 + layer.dW + 0.1 * W1))


def test_sgd_refuses_bad_settings_and_missing_gradients():
    with pytest.raises(ValueError, match="learning rate"):
        SGD([], lr=0)
    with pytest.raises(ValueError, match="momentum"):
        SGD([], lr=0.1, momentum=1.0)
    layer = Linear(2, 2)
    with pytest.raises(RuntimeError, match="call backward before step"):
        SGD([(layer, "W")], lr=0.1).step()


def test_cosine_schedule_starts_at_the_rate_and_decreases():
    lr = cosine_schedule(0.05, 10)
    rates = [lr(epoch) for epoch in range(10)]
    assert rates[0] == 0.05 and all(a > b for a, b in pairwise(rates)) and rates[-1] > 0
    # A Python float, not a NumPy float64 that would turn float32 arithmetic into float64.
    assert all(type(rate) is float for rate in rates)


def test_sgd_updates_float32_parameters_in_float32_whatever_the_type_of_the_rate():
    grad = np.random.default_rng(0).standard_normal((32, 64), dtype=np.float32)
    updated = []
    for lr in (0.05, np.float64(0.05)):
        layer = Linear(64, 32, rng=1)
        layer.dW = grad
        SGD([(layer, "W")], lr=lr, momentum=0.9).step()
        assert layer.W.dtype == np.float32
        updated.append(layer.W)
    np.testing.assert_array_equal(updated[0], updated[1])


def test_minibatches_cover_every_example_once_in_a_new_order_each_epoch():
    rng = np.random.default_rng(0)
    first = np.concatenate(list(minibatches(10, 3, rng)))
    second = np.concatenate(list(minibatches(10, 3, rng)))
    assert sorted(first) == sorted(second) == list(range(10))
    assert not np.array_equal(first, second)
    assert [len(b) for b in minibatches(10, 3, rng)] == [3, 3, 3, 1]


def test_train_refuses_mismatched_data():
    model = MLP([3, 2], rng=0)
    optimizer = SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"expects \(N, 3\)"):
        train(
            model,
            SoftmaxCrossEntropy(),
            optimizer,
            np.zeros((5, 4), np.float32),
            np.zeros(5, int),
            epochs=1,
            batch_size=2,
            progress=False,
        )
    with pytest.raises(ValueError, match="one label per input row"):
        train(
            model,
            SoftmaxCrossEntropy(),
            optimizer,
            np.zeros((5, 3), np.float32),
            np.zeros(4, int),
            epochs=1,
            batch_size=2,
            progress=False,
        )


def test_checkpoint_round_trip(tmp_path):
    model = MLP([5, 4, 3], "tanh", rng=1)
    path = save_model(model, tmp_path / "model.npz")
    loaded, history = load_model(path)
    assert loaded.sizes == [5, 4, 3] and loaded.activation == "tanh" and history is None
    x = np.random.default_rng(0).random((6, 5), dtype=np.float32)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    # Saved without pickle: readable with allow_pickle=False.
    np.load(path, allow_pickle=False)["meta"]


def test_loading_a_foreign_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a model saved by save_model"):
        load_model(path)


def test_cli_trains_xor(capsys, tmp_path):
    assert (
        main(
            [
                "train",
                "xor",
                "--no-progress",
                "--save",
                str(tmp_path / "xor.npz"),
                "--plot",
                str(tmp_path / "xor.png"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "final training accuracy: 100.00%" in out
    assert (tmp_path / "xor.png").stat().st_size > 1000


def test_cli_reports_missing_data_with_instructions(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path))
    assert main(["train", "mnist", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "MNIST files not found" in err and "export MNIST_DIR" in err and "--download" in err


def test_cli_rejects_bad_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "mnist", "--activation", "swish"])
    with pytest.raises(SystemExit):
        main(["train", "mnist", "--lr", "-1"])
    assert "invalid" in capsys.readouterr().err


@pytest.mark.slow
def test_mnist_reaches_98_percent_in_10_epochs(tmp_path, capsys):
    """The course's target: 784-256-128-10 ReLU, float32, SGD momentum 0.9,
    lr 0.05 (cosine), batch 128, seed 0, 10 epochs: at least 98.0% test accuracy."""
    model_path = tmp_path / "mnist.npz"
    assert main(["train", "mnist", "--no-progress", "--seed", "0", "--save", str(model_path)]) == 0
    out = capsys.readouterr().out
    model, history = load_model(model_path)
    assert model.sizes == [784, 256, 128, 10]
    assert len(history["test_accuracy"]) == 10
    assert history["test_accuracy"][-1] >= 0.98, out
    assert main(["evaluate", str(model_path), "--no-progress"]) == 0
    assert f"test accuracy {history['test_accuracy'][-1]:.2%}" in capsys.readouterr().out


def _save_without(tmp_path, drop_meta=None, drop_param=None):
    """A saved model with one key of its description or one parameter left out."""
    model = MLP([3, 2], "relu", rng=0)
    path = save_model(model, tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files if key != f"param/{drop_param}"}
    meta = json.loads(str(arrays["meta"]))
    meta.pop(drop_meta, None)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "drop, message",
    [
        (
            {"drop_meta": "sizes"},
            "is not a model saved by save_model: its description has no sizes",
        ),
        ({"drop_meta": "activation"}, "its description has no activation"),
        ({"drop_param": "0.W"}, r"no parameter 0.W \(the first layer's weights\)"),
        ({"drop_param": "0.b"}, r"saved parameters \['0.W'\] do not match the model"),
    ],
    ids=["sizes", "activation", "first weights", "a bias"],
)
def test_a_checkpoint_with_a_missing_key_is_a_clear_error(tmp_path, capsys, drop, message):
    path = _save_without(tmp_path, **drop)
    with pytest.raises(ValueError, match=message):
        load_model(path)
    assert main(["evaluate", str(path), "--no-progress"]) == 2  # no traceback: a message
    assert re.search(message, capsys.readouterr().err)
