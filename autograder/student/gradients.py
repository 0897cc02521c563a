"""Finite-difference gradients and the relative error used by the checks.

Everything here works in float64 with central differences (book/notation.md,
"Checking gradients"):

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)

Two refinements keep the estimate trustworthy:

* Kinks. At a kink (ReLU at 0) the central difference averages two slopes and
  means nothing. Where the slopes left and right of x_i jump, the estimate is
  the slope of the side that is smooth; exactly at a kink (both sides smooth)
  it is the *left* slope. That is the course's convention: relu'(0) = 0 and
  leaky_relu'(0) = slope.
* Rounding noise. Every estimate comes with ``noise``, a bound on the
  floating-point rounding it may carry: machine epsilon times the size of the
  outputs the step changed (plus the largest output, below whose resolution a
  change is invisible), divided by the step. A gradient entry not far above
  that noise cannot be compared relatively; the checks use it as the floor of
  the relative error.
"""

from typing import NamedTuple

import numpy as np

EPS = np.finfo(np.float64).eps
# The default step h, near the best trade of truncation (~h**2) against rounding (~eps / h).
STEP = 1e-5
TINY = 1e-12  # default floor of |a| + |b| in relative_error (it only keeps 0 / 0 away)

# Two slopes count as different only beyond this many times their rounding
# noise (see _slopes and _kink).
KINK_NOISE = 100.0


class NumericGradient(NamedTuple):
    """The result of :func:`numeric_gradient`; unpacks as ``grad, estimated, noise``.

    grad:      float64, the shape of x. Entries that were not estimated are NaN,
               so that they cannot be mistaken for zeros.
    estimated: bool, the shape of x: True where ``grad`` holds an estimate.
    noise:     float, a bound on the rounding error an estimated entry may
               carry (see the module docstring).
    """

    grad: np.ndarray
    estimated: np.ndarray
    noise: float


def numeric_gradient(f, x, grad_out=None, h=STEP, *, max_coords=2000, rng=None):
    """Central-difference gradient of a scalar function, in float64.

    f:        called with a float64 array of x's shape. Without ``grad_out`` it
              returns a number; with it, an array of grad_out's shape, and the
              gradient of sum(f(x) * grad_out) is estimated (what the backward
              pass of f returns for the upstream gradient grad_out).
    x:        any shape; never modified (f gets a perturbed float64 copy).
    h:        the step.
    max_coords: when x has more entries, estimate only this many, chosen by
              ``rng`` (a seed or a numpy Generator). Exact zeros of x are
              sampled first (up to half the budget), because kinks sit there.
              ``None`` estimates every entry.

    Returns a :class:`NumericGradient` ``(grad, estimated, noise)``.
    """
    if max_coords is not None and max_coords < 1:
        raise ValueError(f"max_coords must be at least 1 (or None for all), got {max_coords}")
    x = np.array(x, dtype=np.float64)  # our own copy: perturbed in place below
    if grad_out is None:
        evaluate, weights = _evaluator(f, x, shape=()), 1.0
    else:
        weights = np.asarray(grad_out, dtype=np.float64)
        evaluate = _evaluator(f, x, shape=weights.shape)
    coords = _choose_coords(x, max_coords, rng)
    slopes, noise = _slopes(evaluate, x, coords, h, weights, per_output=False)
    grad = np.full(x.shape, np.nan)
    grad.flat[coords] = slopes
    estimated = np.zeros(x.shape, dtype=bool)
    estimated.flat[coords] = True
    return NumericGradient(grad, estimated, float(noise.max(initial=0.0)))


def numeric_jacobian(f, x, h=STEP):
    """Central-difference Jacobian in numerator layout, in float64.

    f maps an array x (any shape, n entries) to an array y (any shape, m
    entries). Returns J of shape (m, n) with J[i, j] = dy_i / dx_j, both
    flattened in C order. Kinks are treated as in :func:`numeric_gradient`.
    """
    x = np.array(x, dtype=np.float64)
    evaluate = _evaluator(f, x, shape=None)
    columns, _ = _slopes(evaluate, x, np.arange(x.size), h, 1.0, per_output=True)
    return columns.reshape(x.size, -1).T


def relative_errors(a, b, tiny=TINY):
    """Entrywise |a - b| / max(|a| + |b|, tiny), in float64; a and b share one shape.

    An entry where a and b are both 0 has error 0; NaN or inf gives NaN.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"relative_error: shapes {a.shape} and {b.shape} differ")
    with np.errstate(invalid="ignore"):
        return np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), tiny)


def relative_error(a, b, tiny=TINY):
    """The largest entrywise relative error |a - b| / max(|a| + |b|, tiny), a float.

    This is the metric of book/notation.md ("Checking gradients") taken entry by entry and
    maximised: 0.0 for
    equal arrays (and for empty ones), 1.0 where one is 0 and the other is not
    (above ``tiny``), NaN if either holds NaN or inf. ``tiny`` only keeps 0 / 0
    away; the checks raise it to the rounding-noise level of the numeric
    gradient so that near-zero entries are compared absolutely.
    """
    return float(relative_errors(a, b, tiny).max(initial=0.0))  # max propagates NaN


def _choose_coords(x, max_coords, rng):
    """Flat indices to estimate: all of them, or a sorted random sample favouring zeros."""
    if max_coords is None or x.size <= max_coords:
        return np.arange(x.size)
    rng = np.random.default_rng(rng)
    zeros = rng.permutation(np.flatnonzero(x.reshape(-1) == 0))[: max_coords // 2]
    others = np.setdiff1d(np.arange(x.size), zeros, assume_unique=True)
    others = rng.choice(others, size=max_coords - zeros.size, replace=False)
    return np.sort(np.concatenate([zeros, others]))


def _slopes(evaluate, x, coords, h, weights, per_output):
    """Derivative estimates along each coordinate in ``coords``, and their rounding noise.

    ``evaluate()`` returns f at the current (perturbed) x. Without
    ``per_output`` the estimates are of phi = sum(f(x) * weights), one number
    per coordinate; with it, of every output (rows of the transposed Jacobian).
    Returns (slopes, noise), one row per coordinate.
    """
    flat = x.reshape(-1)  # a view: writing flat[i] perturbs x
    base = evaluate()
    weights = np.broadcast_to(weights, base.shape).ravel()
    base = base.ravel().copy()  # copied: f may return (a view of) x
    # Rounding: each output the step changes contributes eps |f| |weight|, and
    # a change below the resolution of the largest output is invisible.
    size = np.abs(base * weights)
    resolution = size.max(initial=0.0)

    def slopes_along(indices, step):
        """(phi(x + step e_i) - phi(x)) / step for each i in indices, and its rounding noise.

        Differencing the outputs before weighting them keeps the estimate
        accurate: outputs the coordinate does not touch cancel exactly
        instead of adding their rounding to a large sum. One coordinate at a
        time, so that the output changes stay in the processor's cache.
        """
        rows = (len(indices), base.size) if per_output else (len(indices),)
        values, noises = np.empty(rows), np.empty(rows)
        scale = 2 * EPS / abs(step)
        for row, i in enumerate(indices):
            old = flat[i]
            flat[i] = old + step
            try:
                change = evaluate().ravel() - base
            finally:
                flat[i] = old  # restore the saved value, not old + step - step
            touched = change != 0
            if per_output:
                values[row], noises[row] = change * weights / step, touched * size + resolution
            else:
                values[row], noises[row] = change @ weights / step, touched @ size + resolution
        return values, noises * scale

    (left, left_noise), (right, right_noise) = slopes_along(coords, -h), slopes_along(coords, h)
    slopes, noise = (left + right) / 2, np.maximum(left_noise, right_noise)
    # Where the two slopes differ beyond rounding (curvature, or a kink within
    # h of x), the slopes one step further out tell which. Linear functions,
    # such as a Linear layer in any of its arguments, never need them.
    differ = np.abs(left - right) > KINK_NOISE * noise
    suspects = np.flatnonzero(differ.reshape(len(coords), -1).any(axis=1))
    if suspects.size:
        (far_left, far_left_noise), (far_right, far_right_noise) = (
            slopes_along(coords[suspects], step) for step in (-2 * h, 2 * h)
        )
        # the slopes over [x - 2h, x - h] and [x + h, x + 2h], from [x - 2h, x] and [x, x + 2h]
        outer_left, outer_right = 2 * far_left - left[suspects], 2 * far_right - right[suspects]
        near = np.maximum.reduce([noise[suspects], 2 * far_left_noise, 2 * far_right_noise])
        kinked, one_sided = _kink(outer_left, left[suspects], right[suspects], outer_right, near, h)
        slopes[suspects] = np.where(kinked, one_sided, slopes[suspects])
        noise[suspects] = near
    return slopes, noise


def _kink(s1, s2, s3, s4, noise, h):
    """Decide from four consecutive slopes (steps of h, x in the middle) whether x is at a kink.

    Along a smooth function the slopes change at a steady rate: their
    differences agree up to about h**2 |f'''|, far below sqrt(h) |f'| unless
    |f'''| > |f'| / h**1.5. A kink makes one of them jump, wherever it sits
    within h of x. Returns (kinked, one_sided): one_sided is the slope on the
    smoother side, the left one when both are smooth (x exactly at the kink:
    the convention).
    """
    changes = np.stack([s2 - s1, s3 - s2, s4 - s3])
    spread = changes.max(axis=0) - changes.min(axis=0)
    kinked = spread > np.sqrt(h) * (np.abs(s2) + np.abs(s3)) + KINK_NOISE * noise
    right_is_smoother = np.abs(s4 - s3) + KINK_NOISE * noise < np.abs(s2 - s1)
    return kinked, np.where(right_is_smoother, s3, s2)


def _evaluator(f, x, shape):
    """A no-argument function returning f(x) as a float64 array, after checking it.

    ``shape`` is the output shape f must have: () for a number, None for any.
    """

    def evaluate():
        array = np.asarray(f(x))
        if array.dtype.kind == "f" and array.dtype.itemsize < 8:
            raise TypeError(
                f"f returned {array.dtype} values; finite differences need float64 "
                "(with a step of 1e-5, float32 rounding swamps the gradient). "
                "Cast the parameters and inputs to float64 first."
            )
        if shape == () and array.size != 1:
            raise ValueError(
                f"f returned an array of shape {array.shape}, not a number: pass grad_out "
                "of that shape to differentiate sum(f(x) * grad_out)"
            )
        if shape not in ((), None) and array.shape != shape:
            raise ValueError(f"f returned shape {array.shape} but grad_out has shape {shape}")
        return array.astype(np.float64, copy=False)

    return evaluate
