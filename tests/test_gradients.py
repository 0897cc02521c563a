"""autograder.student.gradients: central differences, kinks, sampling, relative error."""

import numpy as np
import pytest

from autograder.student.gradients import (
    NumericGradient,
    numeric_gradient,
    numeric_jacobian,
    relative_error,
    relative_errors,
)


def relu(x):
    return np.maximum(x, 0)


def leaky_relu(x):
    return np.where(x > 0, x, 0.01 * x)


# ------------------------------------------------------------ numeric_gradient


def test_gradient_of_a_quadratic_form_matches_the_formula():
    rng = np.random.default_rng(0)
    A, x = rng.standard_normal((5, 5)), rng.standard_normal(5)
    result = numeric_gradient(lambda v: 0.5 * v @ A @ v, x)
    assert isinstance(result, NumericGradient)
    np.testing.assert_allclose(result.grad, 0.5 * (A + A.T) @ x, rtol=1e-9, atol=1e-9)
    assert result.estimated.all()
    assert 0 < result.noise < 1e-9


def test_with_grad_out_it_is_the_backward_pass_of_an_array_function():
    rng = np.random.default_rng(1)
    x, M, grad_out = (
        rng.standard_normal((4, 3)),
        rng.standard_normal((3, 2)),
        rng.standard_normal((4, 2)),
    )
    grad, estimated, _ = numeric_gradient(lambda v: np.tanh(v @ M), x, grad_out)
    analytic = (grad_out * (1 - np.tanh(x @ M) ** 2)) @ M.T
    assert relative_error(grad, analytic) < 1e-8
    assert estimated.shape == x.shape


def test_float32_input_is_estimated_in_float64_and_left_unchanged():
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    before = x.copy()
    result = numeric_gradient(lambda v: np.sum(v**3), x)
    assert result.grad.dtype == np.float64
    np.testing.assert_allclose(result.grad, 3 * x.astype(np.float64) ** 2, rtol=1e-8, atol=1e-9)
    np.testing.assert_array_equal(x, before)


def test_a_function_returning_its_input_is_handled():
    # the output aliases the perturbed array: the estimate must not be fooled by it
    x = np.array([1.0, -2.0, 3.0])
    grad_out = np.array([0.5, 2.0, -1.0])
    np.testing.assert_allclose(numeric_gradient(lambda v: v, x, grad_out).grad, grad_out, rtol=1e-9)


def test_sampling_estimates_max_coords_entries_and_marks_the_rest_nan():
    x = np.random.default_rng(2).standard_normal((30, 40))
    result = numeric_gradient(lambda v: np.sum(v**2), x, max_coords=50, rng=0)
    assert result.estimated.sum() == 50
    assert np.isnan(result.grad[~result.estimated]).all()
    # a sum of 1200 squares is large: the rounding noise reported covers the error
    error = np.abs(result.grad[result.estimated] - 2 * x[result.estimated])
    assert error.max() <= result.noise
    again = numeric_gradient(lambda v: np.sum(v**2), x, max_coords=50, rng=0)
    np.testing.assert_array_equal(again.estimated, result.estimated)


def test_sampling_includes_the_exact_zeros_first():
    x = np.random.default_rng(3).standard_normal(1000)
    zeros = np.arange(0, 1000, 100)
    x[zeros] = 0.0
    result = numeric_gradient(lambda v: np.sum(relu(v)), x, max_coords=40, rng=1)
    assert result.estimated[zeros].all()
    assert result.estimated.sum() == 40


def test_max_coords_none_estimates_everything():
    x = np.ones(3000)
    assert numeric_gradient(lambda v: v.sum(), x, max_coords=None).estimated.all()


@pytest.mark.parametrize("function, slope", [(relu, 0.0), (leaky_relu, 0.01)])
def test_at_a_kink_the_left_slope_is_the_convention_and_near_it_the_smooth_side(function, slope):
    # far from the kink; exactly at it (the left slope); within h = 1e-5 of it on
    # either side, down to where the step just reaches across it
    x = np.array([-1.0, 1.5, 0.0, 2e-6, -3e-6, 0.999e-5, -0.999e-5, 1.001e-5, -1.001e-5])
    expected = np.where(x > 0, 1.0, slope)
    grad = numeric_gradient(function, x, np.ones_like(x)).grad
    np.testing.assert_allclose(grad, expected, atol=1e-9)


def test_smooth_functions_with_a_flat_point_are_not_mistaken_for_kinks():
    # f'(0) = 0 with f'' != 0 and f''' != 0: the left and right slopes differ, yet no kink
    x = np.array([0.0, 0.0, 1e-6, -1.0])
    for f, df in [
        (lambda v: v**2, lambda v: 2 * v),
        (lambda v: v**3 + v**2, lambda v: 3 * v**2 + 2 * v),
    ]:
        grad = numeric_gradient(f, x, np.ones_like(x)).grad
        np.testing.assert_allclose(grad, df(x), atol=1e-9)


def test_a_float32_function_is_refused():
    with pytest.raises(TypeError, match="float64"):
        numeric_gradient(lambda v: v.astype(np.float32).sum(), np.ones(3))


def test_an_array_function_needs_grad_out_of_its_shape():
    with pytest.raises(ValueError, match="grad_out"):
        numeric_gradient(lambda v: v * 2, np.ones(3))
    with pytest.raises(ValueError, match="shape"):
        numeric_gradient(lambda v: v * 2, np.ones(3), grad_out=np.ones(4))


# ------------------------------------------------------------ numeric_jacobian


def test_jacobian_is_in_numerator_layout():
    # y in R^2, x in R^3: J is 2 x 3 with J[i, j] = dy_i / dx_j
    def f(x):
        return np.array([x[0] * x[1], np.sin(x[2])])

    x = np.array([1.0, 2.0, 0.5])
    expected = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, np.cos(0.5)]])
    np.testing.assert_allclose(numeric_jacobian(f, x), expected, atol=1e-9)


def test_jacobian_of_a_linear_map_is_its_matrix():
    A = np.random.default_rng(4).standard_normal((4, 6))
    np.testing.assert_allclose(numeric_jacobian(lambda x: A @ x, np.zeros(6)), A, atol=1e-9)


def test_jacobian_of_relu_uses_the_kink_convention():
    jacobian = numeric_jacobian(relu, np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(jacobian, np.diag([1.0, 0.0, 0.0]), atol=1e-9)


# -------------------------------------------------------------- relative_error


def test_relative_error_is_the_largest_entrywise_error():
    a, b = np.array([1.0, 2.0, 0.0]), np.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(relative_errors(a, b), [0.0, 1 / 3, 0.0])
    assert relative_error(a, b) == pytest.approx(1 / 3)


def test_relative_error_documented_cases():
    assert relative_error([0.0, 0.0], [0.0, 0.0]) == 0.0  # both zero: no error
    assert relative_error([1e-3], [0.0]) == 1.0  # one zero, the other not
    assert relative_error(np.empty(0), np.empty(0)) == 0.0
    assert np.isnan(relative_error([np.nan], [1.0]))
    assert np.isnan(relative_error([np.inf], [1.0]))
    assert relative_error([1e-14], [0.0], tiny=1e-12) == pytest.approx(1e-2)


def test_relative_error_refuses_different_shapes():
    with pytest.raises(ValueError, match="shapes"):
        relative_error(np.ones(3), np.ones((3, 1)))


def test_max_coords_must_allow_at_least_one_entry():
    with pytest.raises(ValueError, match="max_coords"):
        numeric_gradient(lambda v: v.sum(), np.ones(3), max_coords=0)
