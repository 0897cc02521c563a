"""Name the likely mistake behind a failed gradient check, in plain words.

A :class:`Diagnosis` has a stable ``key`` (tests and tools match on it) and a
short ``message`` for the student. The value patterns compare what the
student's code returned (``got``) with the finite-difference estimate
(``expected``) on the entries that were estimated; the other functions word
what the checks observed directly (a mutated argument, a stale cache, ...).

No message shows code: each says what is wrong and where to look.
"""

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A pattern "explains" got when it matches it to this fraction of their size.
# Correct and wrong results differ by O(1) of that size, the finite-difference
# estimates by ~1e-9, so the margin is wide on both sides.
MATCH = 1e-3

# The course's activations as their textbook definitions, to recognise the
# derivative of a different activation. Only the functions: their slopes are
# taken numerically, so no derivative formula is written down here.
ACTIVATION_FUNCTIONS = {
    "ReLU": lambda z: np.maximum(z, 0.0),
    "leaky ReLU (slope 0.01)": lambda z: np.maximum(z, 0.01 * z),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
}

# The derivatives the course writes in terms of the output y = f(x) (the
# notebooks give both formulas): a student who plugs the input x in place of y
# gets form(x). By activation: (how the formula reads, its output's symbol, form).
OUTPUT_FORMULAS = {
    "sigmoid": ("s (1 - s)", "s", lambda y: y * (1 - y)),
    "tanh": ("1 - t²", "t", lambda y: 1 - y**2),
}


# Every diagnosis, by key (autograder/README.md shows an example message of each).
KEYS = {
    "transposed": "a matrix, or its shape, is the transpose of the right one",
    "batch_size": "B times too large or too small: the batch average missing or applied twice",
    "sign": "got = -expected",
    "not_summed": "one row per example, or one example's row, instead of the sum over the batch",
    "factor": "got = c x expected for another constant c (e.g. 2 from a square)",
    "zeros": "all zeros",
    "at_output": "an activation's derivative evaluated at its output, f'(f(x))",
    "other_activation": "the derivative of a different activation",
    "no_derivative": "an activation's backward returns the upstream gradient unchanged",
    "formula_at_input": "a derivative written for the output, s (1 - s) or 1 - t², applied to x",
    "no_upstream": "an activation's backward returns its derivative alone, without grad_out",
    "times_output": "the upstream gradient multiplied by the activation's output, not its "
    "derivative",
    "wrong_slope": "a fixed slope for x <= 0 instead of the layer's own slope",
    "times_input": "the upstream gradient multiplied by the input itself, not the local derivative",
    "kink": "wrong exactly at x = 0, where the convention is the left slope",
    "negative_inputs": "wrong only where x < 0",
    "positive_inputs": "wrong only where x > 0",
    "shape": "another wrong shape",
    "dtype": "not float64 although every input was",
    "nonfinite": "NaN or inf, with where it first appears",
    "mutates_input": "forward (or a function) wrote into its input",
    "mutates_grad_out": "backward wrote into grad_out",
    "mutates_cache": "backward changed in place what forward stored or returned",
    "mutates_params": "backward changed a parameter",
    "accumulates": "a second backward call doubles the gradients",
    "not_repeatable": "a second backward call gives other results",
    "stale_cache": "after two forward calls, backward uses the first input",
    "missing_cache": "backward fails as if forward had never run",
    "missing_gradient": "backward returned None or did not store a parameter gradient",
    "crash": "forward or backward raised an exception",
    "matmul_shapes": "a matrix product whose shapes do not fit (a missing or extra transpose)",
    "broadcast_shapes": "arrays combined entry by entry whose shapes do not fit",
    "array_truth": "Python's if, max, min, and, or used on arrays",
    "forward_not_mean": "a loss's value is not a mean over the examples of the batch",
}


@dataclass(frozen=True)
class Diagnosis:
    """A recognised mistake: ``key`` identifies it, ``message`` explains it in a sentence."""

    key: str
    message: str


@dataclass(frozen=True)
class Context:
    """What a diagnosis may look at besides expected and got.

    quantity:    the name of the checked array, e.g. "dW" or "dX".
    owner:       the layer, loss or function it belongs to, e.g. "Linear".
    batch:       the batch size B (the first axis of the input), or None.
    x:           the block's input, for elementwise blocks (same shape as got).
    grad_out:    the upstream gradient the backward pass received, or None.
    elementwise: the block's own forward as an elementwise function of x, or
                 None when the block is not elementwise (Linear, losses).
    """

    quantity: str
    owner: str
    batch: int | None = None
    x: np.ndarray | None = None
    grad_out: np.ndarray | None = None
    elementwise: Callable | None = None

    @property
    def label(self):
        return f"{self.quantity} of {self.owner}"


# ---------------------------------------------------------------- structure


def diagnose_shape(got_shape, expected_shape, ctx):
    """Why ``got`` has the wrong shape (always returns a Diagnosis)."""
    got_shape, expected_shape = tuple(got_shape), tuple(expected_shape)
    said = f"{ctx.label} has shape {got_shape}, expected {expected_shape}"
    if len(got_shape) == 2 and got_shape == expected_shape[::-1]:
        return Diagnosis(
            "transposed", f"{said}: it is transposed (check the order of the product)."
        )
    if ctx.batch and expected_shape == () and got_shape == (ctx.batch,):
        return Diagnosis(
            "shape", f"{said}: one loss per example. Average them over the batch into one number."
        )
    if ctx.batch and got_shape == (ctx.batch,) + expected_shape:
        return Diagnosis(
            "not_summed",
            f"{said}: one row per example. It is not summed over the batch: add up the "
            "examples' contributions.",
        )
    if ctx.batch and len(expected_shape) == 1 and got_shape == (ctx.batch,):
        return Diagnosis(
            "not_summed", f"{said}: it is summed over the features instead of over the batch."
        )
    if got_shape == (1,) + expected_shape:
        return Diagnosis("shape", f"{said}: drop the extra leading axis of length 1.")
    return Diagnosis("shape", f"{said}.")


def diagnose_dtype(dtype, ctx):
    """A Diagnosis if an array computed from float64 inputs is not float64, else None."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return None
    if dtype.kind == "b" and ctx.quantity.startswith("d"):  # a gradient, e.g. dX
        return Diagnosis(
            "dtype",
            f"{ctx.label} is an array of True/False (dtype bool), not of numbers: a mask is "
            "not a gradient by itself; multiply the upstream gradient by it.",
        )
    if dtype.kind != "f":
        return Diagnosis(
            "dtype", f"{ctx.label} has dtype {dtype}; it must be a float array (float64 here)."
        )
    return Diagnosis(
        "dtype",
        f"{ctx.label} has dtype {dtype} although every input was float64: something forces "
        "a lower precision (a hard-coded dtype?). Keep the dtype of the inputs.",
    )


def diagnose_nonfinite(values, ctx):
    """A Diagnosis naming where NaN or inf first appears in ``values``, else None."""
    values = np.asarray(values)
    bad = np.argwhere(~np.isfinite(values.reshape(values.shape or (1,))))
    if len(bad) == 0:
        return None
    index = tuple(int(i) for i in bad[0])[: values.ndim]
    kind = "NaN" if np.isnan(values[index]) else "inf"
    where = f" at index {list(index)}" if index else ""
    if ctx.x is not None and np.shape(ctx.x) == values.shape:
        where += f" (the input there is {ctx.x[index]:.6g})"
    return Diagnosis(
        "nonfinite",
        f"{kind} first appears in {ctx.label}{where}. Look for an overflowing exp, a log "
        "of 0 or a division by 0, and use a numerically stable formula.",
    )


# ------------------------------------------------------------------- values


def diagnose_values(expected, got, estimated, ctx):
    """The likely mistake when ``got`` differs from ``expected``, or None if unrecognised.

    expected: the finite-difference estimate (any values where not ``estimated``).
    got:      what the student's code produced, same shape as expected.
    estimated: bool mask of the entries to compare.
    """
    expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    e, g = expected[estimated], got[estimated]
    for pattern in (_zeros, _transposed, _scaled, _one_row, _elementwise, _location):
        found = pattern(e, g, got, estimated, ctx)
        if found is not None:
            return found
    return None


def _explains(candidate, got):
    """True when candidate equals got up to MATCH of their size (both 1-D, same length)."""
    scale = max(np.max(np.abs(candidate), initial=0.0), np.max(np.abs(got), initial=0.0))
    return scale > 0 and np.max(np.abs(candidate - got)) <= MATCH * scale


def _tells_apart(candidate, g, e):
    """candidate explains got but not the expected values: a mistake, not a near miss."""
    return _explains(candidate, g) and not _explains(candidate, e)


def _zeros(e, g, got, estimated, ctx):
    if np.all(g == 0) and np.any(e != 0):
        return Diagnosis("zeros", f"{ctx.label} is all zeros: is it computed, stored and returned?")
    return None


def _transposed(e, g, got, estimated, ctx):
    square = got.ndim == 2 and got.shape[0] == got.shape[1]
    if square and _explains(got.T[estimated], e) and not _explains(g, e):
        return Diagnosis(
            "transposed",
            f"{ctx.label} is the transpose of the right matrix (check the order of the product).",
        )
    return None


def _scaled(e, g, got, estimated, ctx):
    """got = c * expected for a constant c: the sign, the batch size or another factor."""
    norm = float(e @ e)
    if norm == 0:
        return None
    c = float(g @ e) / norm
    if not _explains(c * e, g):
        return None

    def near(value):
        return abs(c - value) <= MATCH * abs(value)

    batch = ctx.batch if ctx.batch and ctx.batch > 1 else None
    if batch and near(batch):
        return Diagnosis(
            "batch_size",
            f"{ctx.label} is B = {batch} times too large: the average over the batch is "
            "missing (divide by the batch size exactly once).",
        )
    if batch and near(1 / batch):
        return Diagnosis(
            "batch_size",
            f"{ctx.label} is B = {batch} times too small: the average over the batch is "
            "applied twice (for example in the loss and again in a layer).",
        )
    if near(-1):
        return Diagnosis("sign", f"{ctx.label} has the wrong sign: got = -expected.")
    if near(1):
        return None  # a close match that failed elsewhere: nothing constant to name
    hint = " (a factor 2 often comes from differentiating a square)" if near(2) or near(0.5) else ""
    return Diagnosis(
        "factor", f"{ctx.label} is off by a constant factor: got = {c:.4g} x expected{hint}."
    )


def _one_row(e, g, got, estimated, ctx):
    """A bias-like gradient equal to one row of the upstream gradient: the batch sum is missing."""
    upstream = ctx.grad_out
    if got.ndim != 1 or upstream is None or np.ndim(upstream) != 2:
        return None
    if upstream.shape[1] != got.shape[0] or upstream.shape[0] < 2:
        return None
    for row in range(upstream.shape[0]):
        if _tells_apart(upstream[row][estimated], g, e):
            return Diagnosis(
                "not_summed",
                f"{ctx.label} equals row {row} of the upstream gradient: it is not summed "
                "over the batch (every example contributes).",
            )
    return None


def _elementwise(e, g, got, estimated, ctx):
    """Activation mistakes: the derivative at the wrong point, the chain rule half done,
    a fixed slope, or the derivative of another activation."""
    if not _is_elementwise(got, ctx):
        return None
    upstream = np.broadcast_to(ctx.grad_out, got.shape)

    def candidate(function, at):
        return (upstream * _slope(function, at))[estimated]

    try:
        output = np.asarray(ctx.elementwise(ctx.x), dtype=np.float64)
    except Exception:  # the student's forward failed on new input: no diagnosis from it
        output = None
    if output is not None and _tells_apart(candidate(ctx.elementwise, output), g, e):
        return Diagnosis(
            "at_output",
            f"{ctx.label} uses the derivative evaluated at the output instead of the input: "
            "it equals f'(f(x)). The forward output is already the activation; do not apply "
            "it again before using the derivative formula.",
        )
    for name, (formula, symbol, form) in OUTPUT_FORMULAS.items():
        if _tells_apart((upstream * form(ctx.x))[estimated], g, e):
            return Diagnosis(
                "formula_at_input",
                f"{ctx.label} applies the derivative formula {formula} to the input x, but "
                f"{symbol} in it is the output {symbol} = {name}(x): use what forward computed.",
            )
    if _tells_apart(upstream[estimated], g, e):
        return Diagnosis(
            "no_derivative",
            f"{ctx.label} equals the upstream gradient unchanged: multiply it by the "
            "activation's derivative.",
        )
    if _tells_apart(_slope(ctx.elementwise, ctx.x)[estimated], g, e):
        return Diagnosis(
            "no_upstream",
            f"{ctx.label} is the local derivative alone: multiply it by the upstream "
            "gradient grad_out (the chain rule).",
        )
    if output is not None and _tells_apart((upstream * output)[estimated], g, e):
        return Diagnosis(
            "times_output",
            f"{ctx.label} multiplies the upstream gradient by the output {ctx.owner}(x) instead "
            f"of by the derivative {ctx.owner}'(x).",
        )
    if _tells_apart((upstream * ctx.x)[estimated], g, e):
        return Diagnosis(
            "times_input",
            f"{ctx.label} multiplies the upstream gradient by the input x itself instead of by "
            "the local derivative (for a product a b, the derivative with respect to a is b).",
        )
    found = _fixed_slope(e, g, upstream, estimated, ctx)
    if found is not None:
        return found
    for name, function in ACTIVATION_FUNCTIONS.items():
        other = candidate(function, ctx.x)
        if _tells_apart(other, g, e):
            return Diagnosis(
                "other_activation",
                f"{ctx.label} looks like the derivative of {name}, not of {ctx.owner}.",
            )
    return None


def _fixed_slope(e, g, upstream, estimated, ctx):
    """A piecewise-linear activation (leaky ReLU) whose backward uses another slope for x <= 0.

    Right where x > 0; for x <= 0, got = c * grad_out for one constant c while the
    layer's own forward has another constant slope there.
    """
    x, up = np.asarray(ctx.x)[estimated], upstream[estimated]
    own = _slope(ctx.elementwise, ctx.x)[estimated]
    left = (x <= 0) & (up != 0)
    if not left.any() or not _explains(g[~left], e[~left]) and (~left).any():
        return None
    slope, used = own[left], g[left] / up[left]
    if np.ptp(slope) > MATCH * max(1.0, abs(slope[0])) or np.ptp(used) > MATCH * max(
        1.0, abs(used[0])
    ):
        return None  # not one constant slope on each side
    if used[0] == 0 or abs(used[0] - slope[0]) <= MATCH * max(abs(slope[0]), 1e-12):
        return None  # slope 0 is ReLU's derivative: other_activation says so
    return Diagnosis(
        "wrong_slope",
        f"{ctx.label} uses slope {used[0]:.3g} for x <= 0, but this layer's slope is "
        f"{slope[0]:.3g}: use the layer's own slope rather than a fixed number.",
    )


def _location(e, g, got, estimated, ctx):
    """Elementwise mistakes confined to x == 0 (the kink), to x < 0 or to x > 0."""
    if not _is_elementwise(got, ctx):
        return None
    scale = max(np.max(np.abs(e), initial=0.0), np.max(np.abs(g), initial=0.0))
    wrong = np.abs(g - e) > MATCH * scale
    x = np.asarray(ctx.x)[estimated][wrong]
    if x.size == 0:
        return None
    count = f"{x.size} entr{'y' if x.size == 1 else 'ies'}"
    if np.all(x == 0):
        return Diagnosis(
            "kink",
            f"{ctx.label} is wrong exactly at the kink x = 0 ({count}). The course's "
            "convention there is the slope from the left: 0 for ReLU, the small slope "
            "for leaky ReLU.",
        )
    if np.all(x <= 0):
        return Diagnosis(
            "negative_inputs", f"{ctx.label} is wrong for negative inputs x < 0 ({count})."
        )
    if np.all(x >= 0):
        return Diagnosis(
            "positive_inputs", f"{ctx.label} is wrong for positive inputs x > 0 ({count})."
        )
    return None


def _is_elementwise(got, ctx):
    return (
        ctx.elementwise is not None
        and ctx.x is not None
        and ctx.grad_out is not None
        and np.shape(ctx.x) == got.shape
    )


def _slope(function, z, h=1e-6):
    """Elementwise slope of ``function`` at z, one-sided away from 0 so kinks at 0 are exact.

    Left of 0 (and at 0: the convention) the left slope, right of 0 the right
    slope. Accurate to ~h |f''|, plenty for matching patterns.
    """
    z = np.asarray(z, dtype=np.float64)
    with np.errstate(all="ignore"):  # e.g. exp overflowing to inf in a definition: fine here
        left = (function(z) - function(z - h)) / h
        right = (function(z + h) - function(z)) / h
    return np.where(z > 0, right, left)


# -------------------------------------------------------------- behaviour


def mutated_argument(argument, caller):
    """A function (e.g. "Linear.forward") wrote into one of its arguments."""
    return Diagnosis(
        "mutates_grad_out" if argument == "grad_out" else "mutates_input",
        f"{caller} changed its argument {argument} in place. Never modify arguments: "
        "the caller still uses them. Compute into a new array instead.",
    )


def mutated_cache(names, ctx):
    """backward changed values that forward stored (or the output forward returned)."""
    return Diagnosis(
        "mutates_cache",
        f"{ctx.owner}.backward changed {', '.join(names)} in place. Those arrays belong to the "
        "forward pass (other code may hold them); compute into a new array instead.",
    )


def mutated_params(names, ctx):
    """backward changed a parameter."""
    return Diagnosis(
        "mutates_params",
        f"{ctx.owner}.backward changed the parameter {', '.join(names)}. backward only "
        "computes gradients; updating parameters is the optimiser's job.",
    )


def missing_gradient(name, ctx, returned=False):
    """backward returned None, or did not store the parameter gradient ``name``."""
    if returned:
        return Diagnosis(
            "missing_gradient", f"{ctx.owner}.backward returned None instead of {name}."
        )
    return Diagnosis(
        "missing_gradient",
        f"{ctx.owner}.backward did not store {name}: set it as an attribute of the layer.",
    )


def forward_sums_batch(ctx):
    """A note (not a failure): a loss's forward returns the sum over the batch."""
    return (
        f"{ctx.owner} returns the sum of the examples' losses, not their mean: its "
        f"own test fails for that. backward was checked against that value divided by "
        f"B = {ctx.batch}, the mean."
    )


def forward_not_batch_mean(value, mean, ctx):
    """A loss's value is not the mean of its examples' losses, each computed alone."""
    return Diagnosis(
        "forward_not_mean",
        f"{ctx.owner} gives {value:.6g} for the batch, but the mean of the {ctx.batch} "
        f"examples' losses, each computed alone, is {mean:.6g}: examples of the batch mix. "
        "Fix forward first: this check compares backward with the slopes of your forward, "
        "so a wrong forward makes a right backward fail. Look for a sum, max or "
        "normalisation over the batch axis (axis 0) where each example should be on its own.",
    )


def not_an_array(value, ctx):
    """Something that should be an array is not."""
    return Diagnosis("dtype", f"{ctx.label} is a {type(value).__name__}, not a numpy array.")


def accumulates(names, ctx):
    """A second backward call doubled the stored gradients."""
    return Diagnosis(
        "accumulates",
        f"Calling {ctx.owner}.backward twice doubles {', '.join(names)}: the gradients "
        "accumulate across calls. Overwrite them instead of adding to the old values.",
    )


def not_repeatable(names, ctx):
    """A second backward call gave different results."""
    return Diagnosis(
        "not_repeatable",
        f"Calling {ctx.owner}.backward twice with the same input gives different "
        f"{', '.join(names)}: backward depends on state it changes.",
    )


def stale_cache(names, matches_earlier, ctx):
    """After forward(x1), forward(x2), backward used values from x1."""
    earlier = (
        " They match the earlier input instead: forward keeps what it stored the first time."
        if matches_earlier
        else ""
    )
    return Diagnosis(
        "stale_cache",
        f"After two forward calls, {ctx.owner}.backward gives different {', '.join(names)} "
        "than after the second call alone: forward does not replace its cache on every "
        f"call.{earlier}",
    )


def missing_cache(caller, error):
    """backward failed as if forward had not run: what it needs was never stored."""
    return Diagnosis(
        "missing_cache",
        f"{caller} failed with {type(error).__name__}: {error}. It behaves as if forward "
        "had never been called, although forward had just run: forward must store what "
        "backward needs (such as its input) on the object.",
    )


def crashed(caller, error, inputs="", shapes=None):
    """A function (e.g. "Linear.forward") raised; NumPy's shape errors get a course hint.

    shapes: {name: shape} of the arrays at hand (x, grad_out, W, b), for the hint.
    """
    if isinstance(error, NotImplementedError):
        return Diagnosis(
            "crash",
            f"{caller} is not written yet: it raised NotImplementedError{inputs}. Replace the "
            "line raise NotImplementedError() with your code.",
        )
    found = numpy_hint(error, caller, shapes or {})
    if found is None:
        said = f": {error}" if str(error) else ""
        typo = _typo_hint(error)
        return Diagnosis("crash", f"{caller} raised {type(error).__name__}{said}{inputs}.{typo}")
    key, what, hint = found
    return Diagnosis(
        key, f"{caller} raised {type(error).__name__}: {what}{inputs}.\nLikely mistake: {hint}"
    )


def _typo_hint(error):
    """For an AttributeError: the attribute the name looks like a misspelling of."""
    owner, name = getattr(error, "obj", None), getattr(error, "name", None)
    if not isinstance(error, AttributeError) or owner is None or name is None:
        return ""
    close = _misspelt(name, owner)
    return f"\nLikely mistake: a misspelt name: did you mean {close}?" if close else ""


_MATMUL = re.compile(r"mismatch in its core dimension.*\(size (\d+) is different from (\d+)\)")
_DOT = re.compile(r"not aligned: (\d+) \(dim \d+\) != (\d+) \(dim \d+\)")
_BROADCAST = re.compile(r"could not be broadcast together with shapes ((?:\([\d,]*\) ?)+)")
_AMBIGUOUS = "truth value of an array with more than one element is ambiguous"


def numpy_hint(error, caller, shapes):
    """(key, what happened, likely mistake) for NumPy's shape and truth-value errors, else None.

    caller: e.g. "Linear.forward"; shapes: {name: shape} of the arrays at hand
    (any of x, grad_out, W, b), to word the hint in the course's shapes.
    """
    text = str(error)
    stage = caller.rsplit(".", 1)[-1]
    named = {name: tuple(shape) for name, shape in shapes.items() if shape is not None}
    sizes = _MATMUL.search(text) or _DOT.search(text)
    if ("matmul" in text and sizes) or _DOT.search(text):
        what = "a matrix product whose shapes do not fit"
        if "W" in named and stage == "forward" and "x" in named:
            hint = (
                f"x is (B, d_in) = {named['x']} and W is (d_out, d_in) = {named['W']}: "
                "which one needs transposing?"
            )
        elif "layers" in named and stage == "backward":
            hint = (
                "a model's backward runs its layers last to first, each receiving what the "
                "layer after it returned: check the order and what each layer is given."
            )
        elif "W" in named and stage == "backward" and "grad_out" in named:
            hint = (
                f"grad_out is (B, d_out) = {named['grad_out']} and W is (d_out, d_in) = "
                f"{named['W']}; dX must be (B, d_in), dW (d_out, d_in): which one needs "
                "transposing?"
            )
        else:
            a, b = (sizes.group(2), sizes.group(1)) if _MATMUL.search(text) else sizes.groups()
            hint = (
                f"in a matrix product of A and B, the columns of A must match the rows of B "
                f"(here {a} and {b}): which one needs transposing?"
            )
        return "matmul_shapes", what, hint
    found = _BROADCAST.search(text)
    if found:
        operands = " and ".join(found.group(1).split())
        what = f"arrays of shapes {operands} combined entry by entry do not fit"
        hint = (
            "shapes must agree from the last axis backwards (or be 1 there): which axis holds "
            "the batch, which the features?"
        )
        if "b" in named and stage == "forward":
            hint = (
                f"b is (d_out,) = {named['b']} and is added to every row of the (B, d_out) "
                "product; " + hint
            )
        return "broadcast_shapes", what, hint
    if _AMBIGUOUS in text:
        what = "an if, and, or, max or min was given a whole array"
        hint = (
            "Python's if, and, or, max and min need one True or False, but comparing arrays "
            "gives one per entry: use NumPy's elementwise maximum or where, or multiply by "
            "a mask such as (a >= b)."
        )
        return "array_truth", what, hint
    return None


def looks_like_missing_cache(error, obj=None):
    """True for the errors backward raises when forward did not store its values: an
    attribute of the object itself missing (not of an array, and not a misspelling of one it
    has: see crashed), or None where a stored value should be."""
    if isinstance(error, AttributeError):
        owner, name = getattr(error, "obj", obj), getattr(error, "name", None)
        if obj is None or name is None:
            return True
        return owner is obj and not _misspelt(name, obj)
    return isinstance(error, TypeError) and "NoneType" in str(error)


def _misspelt(name, obj):
    """The attribute of obj that ``name`` looks like a misspelling of, or None."""
    try:
        names = [n for n in dir(obj) if not n.startswith("__")]
    except Exception:  # the student's object: dir may fail
        return None
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.8)
    close = close or [n for n in names if n.lower() == name.lower()]
    return close[0] if close else None
