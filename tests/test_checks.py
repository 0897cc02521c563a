"""autograder.student.checks on correct code: it passes, reports, and changes nothing."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import solutions as S
from autograder import check_function, check_layer, check_loss
from autograder.student.checks import RTOL, CheckReport, GradientCheckError
from solutions.layers import sigmoid
from tests.support import zoo

ROOT = Path(__file__).resolve().parents[1]


def batch(shape, dtype=np.float64, seed=0):
    """Normal values with some exact zeros (ReLU's kink)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    x[::3, ::2] = 0.0
    return x.astype(dtype)


LAYERS = {
    "Linear": lambda dtype: S.Linear(5, 3, rng=0, dtype=dtype),
    "ReLU": lambda dtype: S.ReLU(),
    "LeakyReLU": lambda dtype: S.LeakyReLU(),
    "Sigmoid": lambda dtype: S.Sigmoid(),
    "Tanh": lambda dtype: S.Tanh(),
}


def test_every_layer_of_solutions_is_checked_here():
    """A new layer exported by `solutions` joins LAYERS (the containers Sequential and MLP
    are checked end to end in test_solutions_layers.py)."""
    exported = {
        name
        for name in S.__all__
        if isinstance(getattr(S, name), type) and issubclass(getattr(S, name), S.Layer)
    }
    assert exported - {"Layer", "Sequential", "MLP"} == set(LAYERS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LAYERS)
def test_correct_layers_pass_far_below_the_tolerance(name, dtype):
    report = check_layer(LAYERS[name](dtype), batch((7, 5), dtype))
    assert isinstance(report, CheckReport)
    assert set(report.errors) == ({"dX", "dW", "db"} if name == "Linear" else {"dX"})
    assert max(report.errors.values()) < RTOL / 100
    assert "all checks passed" in repr(report)


LOSSES = {
    "cross-entropy, labels": (S.SoftmaxCrossEntropy, (6, 4), np.arange(6) % 4),
    "cross-entropy, one-hot": (S.SoftmaxCrossEntropy, (6, 4), np.eye(4)[np.arange(6) % 4]),
    "MSE": (S.MSELoss, (6, 3), batch((6, 3), seed=1)),
    "BCE (B,)": (S.BinaryCrossEntropyWithLogits, (6,), np.arange(6) % 2),
    "BCE (B, 1)": (S.BinaryCrossEntropyWithLogits, (6, 1), (np.arange(6) % 2)[:, None] * 1.0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LOSSES)
def test_correct_losses_pass_far_below_the_tolerance(name, dtype):
    cls, shape, targets = LOSSES[name]
    logits = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    report = check_loss(cls(), logits, targets)
    assert set(report.errors) == {"dL/dlogits"}
    assert report.errors["dL/dlogits"] < RTOL / 100


def test_saturated_cross_entropy_is_no_false_alarm():
    # confident, correct predictions: the loss is ~1e-40, its gradient ~1e-40
    labels = np.arange(5) % 3
    logits = 50.0 * np.eye(3)[labels] + np.random.default_rng(3).standard_normal((5, 3))
    check_loss(S.SoftmaxCrossEntropy(), logits, labels)


def test_check_layer_leaves_the_layer_and_its_input_untouched():
    layer = S.Linear(5, 3, rng=0)  # float32 parameters
    W, b, attributes = layer.W, layer.b, dict(vars(layer))
    W_before, x = W.copy(), batch((4, 5), np.float32)
    x_before = x.copy()
    check_layer(layer, x)
    assert dict(vars(layer)) == attributes  # same objects, no new attributes
    assert layer.W is W and layer.b is b and layer.W.dtype == np.float32
    np.testing.assert_array_equal(layer.W, W_before)
    np.testing.assert_array_equal(x, x_before)


def test_a_784_by_256_layer_with_batch_64_is_checked_by_sampling():
    layer = S.Linear(784, 256, rng=0)
    report = check_layer(layer, batch((64, 784), np.float32))
    assert report.checked == {"dX": (64, 64 * 784), "dW": (64, 256 * 784), "db": (64, 256)}
    assert max(report.errors.values()) < RTOL / 100


def test_the_blas_thread_limit_of_a_check_is_lifted_afterwards():
    import threadpoolctl

    with threadpoolctl.threadpool_limits(2):  # not 1, which a check also sets (conftest.py)
        before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
        assert 2 in before
        check_layer(S.Linear(5, 3, rng=0), batch((4, 5)))
        assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before


def test_a_failure_is_an_assertion_error_naming_quantity_error_and_worst_entry():
    with pytest.raises(AssertionError) as info:
        check_layer(zoo.NegatedDX(5, 3), zoo.batch())
    message = str(info.value)
    assert message.startswith("dX of NegatedDX does not match finite differences")
    assert "relative error 1 (tolerance 1e-07)" in message
    assert "Worst entry at [" in message and "expected" in message and "got" in message
    assert "Likely mistake: dX of NegatedDX has the wrong sign" in message


def test_a_sampled_failure_says_how_many_entries_were_checked():
    with pytest.raises(GradientCheckError, match=r"checked 64 of 400 entries"):
        check_layer(zoo.NegatedDX(20, 3), batch((20, 20)))


def test_parameters_are_found_from_params_or_w_and_b_or_given():
    class WithoutParams(S.Linear):
        params = None  # not declared: W and b are found as attributes

    x = batch((4, 5))
    assert set(check_layer(WithoutParams(5, 3), x).errors) == {"dX", "dW", "db"}
    assert set(check_layer(S.Linear(5, 3), x, params=("W",)).errors) == {"dX", "dW"}
    with pytest.raises(TypeError, match="not a numpy array"):
        check_layer(S.Linear(5, 3), x, params=("V",))


def test_forward_is_checked_against_a_reference_and_expected_values():
    layer, x = S.Linear(5, 3, rng=0, dtype=np.float64), batch((4, 5))

    def reference(inputs):
        return inputs @ layer.W.T + layer.b

    check_layer(layer, x, reference=reference, expected=reference(x))
    check_layer(layer, x, expected=reference(x).astype(np.float32))  # float32 precision is enough
    with pytest.raises(
        GradientCheckError, match="the output of Linear.forward does not match the reference"
    ) as info:
        check_layer(layer, x, reference=lambda inputs: -reference(inputs))
    assert info.value.diagnosis.key == "sign"


def test_a_loss_value_is_checked_against_an_expected_number():
    logits, labels = batch((6, 4)), np.arange(6) % 4
    value = S.SoftmaxCrossEntropy().forward(logits, labels)
    check_loss(S.SoftmaxCrossEntropy(), logits, labels, expected=value)
    with pytest.raises(GradientCheckError, match="expected values") as info:
        check_loss(S.SoftmaxCrossEntropy(), logits, labels, expected=2 * value)
    assert info.value.diagnosis.key == "factor"


class SummingCrossEntropy(S.SoftmaxCrossEntropy):
    """forward sums over the batch; backward is the right one, of the mean."""

    def forward(self, logits, targets):
        return super().forward(logits, targets) * len(logits)


class SummingCrossEntropyBothWays(SummingCrossEntropy):
    """forward sums and backward differentiates the sum: backward breaks the contract."""

    def backward(self):
        return super().backward() * len(self._probs)


class MisspeltWeights(S.Linear):
    def backward(self, grad_out):
        super().backward(grad_out)
        return grad_out @ self.w


class MisspeltArrayAttribute(S.Linear):
    def backward(self, grad_out):
        super().backward(grad_out)
        return (grad_out @ self.W).TT


def test_a_misspelt_attribute_is_a_typo_not_a_missing_cache():
    with pytest.raises(GradientCheckError, match="did you mean W") as info:
        check_layer(MisspeltWeights(3, 2, rng=0), batch((4, 3)))
    assert info.value.diagnosis.key == "crash"
    with pytest.raises(GradientCheckError, match="'numpy.ndarray' object has no attribute") as info:
        check_layer(MisspeltArrayAttribute(3, 2, rng=0), batch((4, 3)))
    assert info.value.diagnosis.key == "crash" and "as if forward" not in str(info.value)


def test_a_forward_that_sums_does_not_fail_a_right_backward():
    """One bug, one part: the gradient check judges backward against forward / B."""
    logits, labels = batch((6, 4)), np.arange(6) % 4
    report = check_loss(SummingCrossEntropy(), logits, labels)
    assert "not their mean" in str(report) and "B = 6" in str(report)
    assert not check_loss(S.SoftmaxCrossEntropy(), logits, labels).notes
    with pytest.raises(GradientCheckError) as info:
        check_loss(SummingCrossEntropyBothWays(), logits, labels)
    assert info.value.diagnosis.key == "batch_size"


def test_a_forward_that_mixes_the_examples_is_named_not_the_backward():
    logits, labels = batch((6, 4)), np.arange(6) % 4
    with pytest.raises(GradientCheckError, match="Fix forward first") as info:
        check_loss(zoo.CrossEntropyOverTheBatchAxis(), logits, labels)
    assert info.value.diagnosis.key == "forward_not_mean"


@pytest.mark.parametrize(
    "f, df",
    [
        (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
        (sigmoid, lambda x: sigmoid(x) * (1 - sigmoid(x))),
        (lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
        (lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.where(x > 0, 1.0, 0.01)),
    ],
)
def test_check_function_passes_correct_derivatives_on_its_default_grid(f, df):
    report = check_function(f, df)
    assert report.checked["derivative"][0] >= 40
    assert report.errors["derivative"] < RTOL / 100


def test_check_function_names_the_function_and_the_point():
    def relu(x):
        return np.maximum(x, 0)

    with pytest.raises(GradientCheckError, match="the derivative of relu does not match"):
        check_function(relu, lambda x: np.ones_like(x), x=np.array([-1.0, 0.0, 2.0]))


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "false_alarms", ROOT / "benchmarks" / "false_alarms.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_false_alarms_on_100_random_cases_per_building_block():
    results = _benchmark().sweep(100, seed=1)
    assert set(results) == {
        "Linear",
        "ReLU",
        "LeakyReLU",
        "Sigmoid",
        "Tanh",
        "SoftmaxCrossEntropy",
        "MSELoss",
        "BinaryCrossEntropyWithLogits",
    }
    alarms = {name: first for name, (count, _, _, first) in results.items() if count}
    assert alarms == {}
    assert max(worst for _, worst, _, _ in results.values()) < RTOL / 100


def test_upstream_gradient_is_not_the_tests_own_input():
    """A test that draws x from default_rng(0) must not get grad_out == x from the check:
    with a square layer, a transposed dW would then be right by coincidence."""
    from tests.support.zoo import TransposedDW

    x = np.random.default_rng(0).standard_normal((4, 4))
    layer = TransposedDW(4, 4, rng=1, dtype=np.float64)
    with pytest.raises(GradientCheckError) as failure:
        check_layer(layer, x)
    assert failure.value.diagnosis.key == "transposed"


def test_judged_gradients_alone_decide_a_check():
    """One mistake, one part: a wrong dX fails a check that judges dX, not one that judges dW."""

    class WrongSignDX(S.Linear):
        def backward(self, grad_out):
            return -super().backward(grad_out)

    layer, x = (
        WrongSignDX(4, 3, rng=0, dtype=np.float64),
        np.random.default_rng(1).standard_normal((5, 4)),
    )
    report = check_layer(layer, x, params=("W", "b"), judged=("dW", "db"))
    assert set(report.errors) == {"dW", "db"}
    with pytest.raises(GradientCheckError, match="dX"):
        check_layer(layer, x, params=("W", "b"))
    with pytest.raises(TypeError, match="judged"):
        check_layer(layer, x, params=("W",), judged=("db",))


def test_a_time_limit_fails_a_check_that_takes_longer():
    class Slow(S.ReLU):
        def backward(self, grad_out):
            import time

            time.sleep(0.05)
            return super().backward(grad_out)

    x = np.random.default_rng(2).standard_normal((3, 4))
    check_layer(Slow(), x, time_limit=10)
    with pytest.raises(GradientCheckError, match="more than its 0.01 s"):
        check_layer(Slow(), x, time_limit=0.01)
