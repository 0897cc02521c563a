"""Gradient checks that name the mistake: check_layer, check_loss, check_function.

Each check runs the student's code, compares every gradient with central
differences of the code's *own* forward pass, and checks the
forward/backward contract (ARCHITECTURE.md, "The check contract"): no argument is modified,
backward can
be called twice, forward replaces its cache. A failure raises
:class:`GradientCheckError`, an ``AssertionError``, so a check works as is in
an nbgrader test cell and under pytest. Its message says which quantity is
wrong, by how much, the worst entry, and the likely mistake when it is
recognised (see diagnosis.py). Success returns a :class:`CheckReport`.

Everything is computed in float64 on a deep copy of the layer or loss, whose
parameters are cast to float64: the object passed in is never modified, and
float32 code is checked without float32 rounding raising false alarms.

How entries are compared: the relative error |a - b| / max(|a| + |b|, tiny)
of book/notation.md, where tiny is NOISE_FLOOR times the rounding noise of the
finite-difference estimate (gradients.py). Entries far above the noise are
compared relatively; an entry near 0, whose estimate is mostly rounding, is
compared against tiny instead, so that correct code never trips on it.
"""

import contextlib
import copy
import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from threadpoolctl import ThreadpoolController

from . import diagnosis as dx
from . import display
from .gradients import EPS, STEP, numeric_gradient, relative_errors

RTOL = 1e-7  # the largest relative error a gradient may have (book/notation.md)
# tiny = NOISE_FLOOR x the rounding noise of the estimate: an entry passes when
# it agrees to RTOL relatively or to RTOL x NOISE_FLOOR = 100 noise levels
# absolutely. Correct code stays within half a noise level (benchmarks/), so
# its relative errors stay below 1e-9.
NOISE_FLOOR = 1e9
LAYER_COORDS = 64  # entries estimated per array by check_layer / check_loss (sampled beyond)
SAME = 1e-9  # two runs of deterministic code agree to this fraction of their size


class GradientCheckError(AssertionError):
    """A failed check. ``diagnosis`` is the recognised mistake (a Diagnosis) or None;
    ``quantity`` what failed ("dW", "dX", "the output", ...) when one quantity did."""

    def __init__(self, message, diagnosis=None, quantity=None):
        super().__init__(message)
        self.diagnosis = diagnosis
        self.quantity = quantity

    def _render_traceback_(self):
        """How IPython shows this error: the student's frames only (display.py)."""
        return display.render_traceback(self)


@dataclass(frozen=True, repr=False)
class CheckReport:
    """What a passed check measured.

    name:      the layer, loss or function checked.
    errors:    {quantity: largest relative error}, e.g. {"dX": 2e-11, "dW": 1e-11}.
    checked:   {quantity: (entries estimated, entries in total)}.
    tolerance: the largest relative error allowed.

    notes:     what the student should still look at although the check passed.
    """

    name: str
    errors: dict
    checked: dict
    tolerance: float
    notes: tuple = ()

    def __repr__(self):
        errors = ", ".join(f"{quantity} {error:.1e}" for quantity, error in self.errors.items())
        passed = f"{self.name}: all checks passed ({errors}; tolerance {self.tolerance:.0e})"
        return "\n".join([passed, *(f"Note: {note}" for note in self.notes)])

    __str__ = __repr__


# -------------------------------------------------------------- public checks


def check_layer(
    layer,
    x,
    *,
    params=None,
    reference=None,
    expected=None,
    seed=0,
    max_coords=LAYER_COORDS,
    rtol=RTOL,
    time_limit=None,
    judged=None,
):
    """Check a layer's forward/backward pair; raise GradientCheckError on a mistake.

    layer:     has ``forward(x) -> out`` and ``backward(grad_out) -> dX`` and
               stores the parameter gradients as attributes ``d<name>``.
    x:         an input batch, e.g. (B, d_in); float32 or float64.
    params:    names of the parameter attributes, e.g. ("W", "b"). By default
               ``layer.params`` if the layer has it, else whichever of W and b
               exist.
    reference: optional function; forward(x) must equal reference(x).
    expected:  optional array; forward(x) must equal it.
    seed:      seeds the upstream gradient and the sampled entries.
    max_coords: entries of x and of each parameter estimated numerically
               (a random sample beyond that; exact zeros of x always included).
    judged:    the gradients this check judges, e.g. ("dW",): the others are
               computed but not compared, so that one mistake (a wrong dX)
               costs the test of that gradient alone. Default: all of them.
    time_limit: seconds the whole check may take (None: no limit). At a large size
               it tells a backward computed from its formula from one estimated
               numerically, entry by entry, which is far slower.

    Checks, in order: forward runs, leaves x alone and returns a finite
    float64 array (and matches reference/expected); backward with a random
    upstream gradient returns dX and stores every d<param> with the right
    shape, dtype and finite values, changing neither grad_out, nor what
    forward stored, nor the parameters; every gradient matches central
    differences of forward; a second backward call gives the same result;
    after two forward calls backward uses the second input.

    Returns a CheckReport.
    """
    owner = type(layer).__name__
    twin = _twin(layer)
    names = _param_names(layer if twin is None else twin, params)
    x = _float64_input(x, "x", owner)
    block = _Block(
        owner,
        _float64_copy(layer, names),
        names,
        {"x": x},
        "dX",
        twin=None if twin is None else _float64_copy(twin, names),
        judge_forward=reference is not None or expected is not None,
        judged=_judged(judged, "dX", names),
    )
    rng = _check_rng(seed)
    with _checking(layer, "dX"), _within(time_limit, owner, x.shape):
        work = block.fresh()
        out = block.forward(work)
        _check_output(out, None, dx.Context("the output", f"{owner}.forward", x=x))
        _check_forward_value(out, x, reference, expected, owner)
        block.upstream = rng.standard_normal(np.shape(out))
        if not names and np.shape(out) == x.shape:  # an activation: diagnose elementwise
            probe = block.fresh_differentiable()
            block.elementwise = lambda z: np.asarray(probe.forward(z), dtype=np.float64)
        return _check_gradients(block, work, out, rng, max_coords, rtol)


def check_loss(
    loss,
    logits,
    targets,
    *,
    reference=None,
    expected=None,
    seed=0,
    max_coords=LAYER_COORDS,
    rtol=RTOL,
):
    """Check a loss: ``forward(logits, targets) -> float`` and ``backward() -> dL/dlogits``.

    logits:    e.g. (B, C); float32 or float64.
    targets:   whatever the loss takes (labels (B,), one-hot (B, C), values).
    reference: optional function; forward(logits, targets) must equal
               reference(logits, targets).
    expected:  optional number; forward(logits, targets) must equal it.
    seed, max_coords, rtol: as for check_layer.

    Checks that forward leaves its arguments alone and returns one finite
    float64 number (the batch average), that backward returns a finite float64
    array shaped like the logits that matches central differences of forward,
    and the same contract as check_layer (repeatable backward, fresh cache).
    Returns a CheckReport.
    """
    owner = type(loss).__name__
    twin = _twin(loss)
    logits = _float64_input(logits, "logits", owner)
    targets = np.array(targets, dtype=np.float64 if _is_float(targets) else None)
    block = _Block(
        owner,
        copy.deepcopy(loss),
        (),
        {"logits": logits, "targets": targets},
        "dL/dlogits",
        twin=twin,
        judge_forward=reference is not None or expected is not None,
    )
    # A loss computes with probabilities and shifted logits, whose rounding
    # shows in its value even where the value is tiny: estimate the noise as
    # if the value were as large as 1 + |logits| (see gradients._slopes).
    block.rounding = 2 * EPS * (1 + float(np.max(np.abs(logits), initial=0.0))) / STEP
    rng = _check_rng(seed)
    with _checking(loss, "dL/dlogits"):
        work = block.fresh()
        value = block.forward(work)
        _check_loss_value(value, dx.Context("the value", f"{owner}.forward", batch=len(logits)))
        _check_forward_value(value, (logits, targets), reference, expected, owner)
        notes = () if twin is not None else _judge_against_the_mean(block, value)
        report = _check_gradients(block, work, value, rng, max_coords, rtol)
    return dataclasses.replace(report, notes=notes)


def _judge_against_the_mean(block, value):
    """Make the gradient check judge backward alone when forward is not a batch mean.

    The gradient is estimated from the student's own forward, so a forward that sums
    over the batch would fail a correct backward. A batch mean equals the mean of the
    examples' losses, each computed alone; a sum is B times that. For a sum, backward is
    judged against forward / B (returned: a note saying so); for anything else the
    forward is named, not the backward. In grading the forward is the grader's own (see
    refereed_by), and this is not needed.
    """
    batch = len(block.inputs)
    if batch < 2 or any(np.ndim(a) == 0 or len(a) != batch for a in block.arguments.values()):
        return ()  # a single example, or not one row per example: nothing to compare
    alone = []
    for i in range(batch):
        one = [array[i : i + 1] for array in block.arguments.values()]
        try:
            alone.append(float(_call(block.fresh(), "forward", block.owner, *one)))
        except (TypeError, ValueError):  # the contract checks on the batch name this
            return ()
    mean = float(np.mean(alone))
    if not np.isfinite(mean) or _close(value, mean):
        return ()
    ctx = dx.Context("the value", f"{block.owner}.forward", batch=batch)
    if _close(value, batch * mean):
        block.forward_scale = 1 / batch
        return (dx.forward_sums_batch(ctx),)
    raise _failure(dx.forward_not_batch_mean(value, mean, ctx))


def _close(a, b):
    """Two loss values equal up to the rounding of a sum over a batch."""
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)


def check_function(f, df, x=None, *, name=None, rtol=RTOL):
    """Check the derivative ``df`` of an elementwise function ``f``.

    f, df:  functions of an array returning an array of the same shape;
            df(x) must be f'(x), evaluated at the same x.
    x:      where to check; by default a grid of points that includes exact
            zeros (where ReLU's kink sits: the convention is the slope from
            the left, relu'(0) = 0) and values up to +-10.
    name:   how messages call f; by default its __name__.

    Every entry is estimated. Returns a CheckReport.
    """
    name = name or getattr(f, "__name__", "f")
    x = _default_points() if x is None else _float64_input(x, "x", name)
    ctx = dx.Context("the derivative", name, x=x, grad_out=np.ones_like(x), elementwise=f)
    with _checking(df):
        _check_output(_call_unchanged(f, x, name), x.shape, dx.Context("the value", name, x=x))
        derivative = _call_unchanged(df, x, f"the derivative of {name}")
        _check_output(derivative, x.shape, ctx)
        numeric = numeric_gradient(f, x, grad_out=np.ones_like(x), max_coords=None)
        error = _compare(derivative, numeric, ctx, rtol, f"finite differences of {name}")
    return CheckReport(name, {"derivative": error}, {"derivative": (x.size, x.size)}, rtol)


# ------------------------------------------------------------ the block under test


@dataclass
class _Block:
    """A layer or a loss under test, behind one interface.

    pristine: a float64 deep copy that is never run; every run starts from a
              fresh copy of it. arguments: forward's arguments by name, the
              first one being differentiated (x or logits).
    """

    owner: str
    pristine: object
    params: tuple
    arguments: dict
    input_quantity: str
    upstream: np.ndarray | None = None  # grad_out for layers; losses take none
    elementwise: Callable | None = None
    rounding: float = 0.0  # the least rounding noise to assume in an estimate (see check_loss)
    twin: object = None  # in grading: the grader's trusted twin (see refereed_by), else None
    judge_forward: bool = False  # the test asked for forward values: compare every call's
    judged: tuple | None = None  # the gradients compared (None: all)
    forward_scale: float = 1.0  # 1/B when a loss's forward sums: see _judge_against_the_mean

    @property
    def inputs(self):
        return next(iter(self.arguments.values()))

    def fresh(self):
        return copy.deepcopy(self.pristine)

    def fresh_differentiable(self):
        """A fresh copy of what the gradients are estimated from: the twin when grading (a
        forward that is wrong, or right only when first called, cannot set the standard),
        else the object under test."""
        return copy.deepcopy(self.pristine if self.twin is None else self.twin)

    def forward(self, obj, inputs=None):
        """Run forward (on other inputs if given) and fail if it modified its arguments;
        when grading a forward the test asked about, every call is compared with the twin."""
        given = dict(self.arguments)
        if inputs is not None:
            given[next(iter(given))] = inputs
        copies = {name: value.copy() for name, value in given.items()}
        out = _call(obj, "forward", self.owner, *copies.values())
        for name, value in given.items():
            if not _equal(copies[name], value):
                raise _failure(dx.mutated_argument(name, f"{self.owner}.forward"))
        if self.twin is not None and self.judge_forward:
            expected = self.fresh_differentiable().forward(
                *(value.copy() for value in given.values())
            )
            got, expected = _same_non_finite_as_zero(out, expected)
            _check_forward_value(got, tuple(given.values()), None, expected, self.owner)
        return out

    def backward(self, obj):
        """Run backward; return {quantity: copy of the gradient or None}."""
        given = () if self.upstream is None else (self.upstream.copy(),)
        result = _call(obj, "backward", self.owner, *given)
        if given and not _equal(given[0], self.upstream):
            raise _failure(dx.mutated_argument("grad_out", f"{self.owner}.backward"))
        gradients = {self.input_quantity: _copy(result)}
        for name in self.params:
            gradients["d" + name] = _copy(getattr(obj, "d" + name, None))
        return gradients

    def differentiable(self, obj):
        """[(quantity, function of one array, point)]: what to estimate numerically.

        The functions run obj.forward (the twin's when grading); the parameter
        ones set the parameter on obj first (obj is a throwaway copy).
        """
        if self.twin is not None:
            obj = self.fresh_differentiable()
        inputs, *rest = (value.copy() for value in self.arguments.values())
        items = [
            (self.input_quantity, lambda z: self.forward_scale * obj.forward(z, *rest), inputs)
        ]
        for name in self.params:
            items.append(("d" + name, _with_param(obj, name, inputs), getattr(obj, name)))
        return items

    def context(self, quantity=""):
        elementwise = quantity == self.input_quantity and self.elementwise is not None
        return dx.Context(
            quantity,
            self.owner,
            batch=len(self.inputs) if self.inputs.ndim else None,
            x=self.inputs if elementwise else None,
            grad_out=self.upstream,
            elementwise=self.elementwise if elementwise else None,
        )


def _with_param(obj, name, inputs):
    """forward(inputs) as a function of the parameter ``name`` (set on obj)."""

    def forward(value):
        setattr(obj, name, value)
        return obj.forward(inputs)

    return forward


def _check_gradients(block, work, out, rng, max_coords, rtol):
    """Everything after forward: backward, the contract, and the numeric comparison."""
    held = _held_arrays(work, out, exclude={*block.params, *("d" + p for p in block.params)})

    def judged(found):
        return {q: g for q, g in found.items() if block.judged is None or q in block.judged}

    gradients = judged(block.backward(work))
    _check_nothing_changed(block, work, held)
    again = judged(block.backward(work))

    for quantity, gradient in gradients.items():
        _check_structure(block, work, quantity, gradient)

    errors, checked = {}, {}
    for quantity, function, point in block.differentiable(work):
        if quantity not in gradients:
            continue
        numeric = numeric_gradient(function, point, block.upstream, max_coords=max_coords, rng=rng)
        errors[quantity] = _compare(
            gradients[quantity],
            numeric,
            block.context(quantity),
            rtol,
            f"finite differences of {block.owner}.forward",
            block.rounding,
        )
        checked[quantity] = (int(numeric.estimated.sum()), numeric.estimated.size)

    _check_repeatable(block, gradients, again)
    _check_fresh_cache(block, gradients, rng)
    return CheckReport(block.owner, errors, checked, rtol)


# ------------------------------------------------------------------ the contract


def _check_nothing_changed(block, work, held):
    """backward must leave forward's arrays and the parameters as they were."""
    changed = [name for name, (array, before) in held.items() if not _equal(array, before)]
    if changed:
        raise _failure(dx.mutated_cache(changed, block.context()))
    moved = [n for n in block.params if not _equal(getattr(work, n), getattr(block.pristine, n))]
    if moved:
        raise _failure(dx.mutated_params(moved, block.context()))


def _check_structure(block, work, quantity, gradient):
    """A gradient exists and has the shape and dtype of what it differentiates, all finite."""
    ctx = block.context(quantity)
    if gradient is None:
        raise _failure(
            dx.missing_gradient(quantity, ctx, returned=quantity == block.input_quantity), quantity
        )
    target = block.inputs if quantity == block.input_quantity else getattr(work, quantity[1:])
    if gradient.shape != np.shape(target):
        raise _failure(dx.diagnose_shape(gradient.shape, np.shape(target), ctx), quantity)
    for found in (dx.diagnose_dtype(gradient.dtype, ctx), dx.diagnose_nonfinite(gradient, ctx)):
        if found is not None:
            raise _failure(found, quantity)


def _check_repeatable(block, first, second):
    """Two backward calls after one forward must agree (no accumulation, no hidden state)."""
    differ = [q for q in first if not _same(first[q], second[q])]
    if not differ:
        return
    doubled = all(_same(2 * first[q], second[q]) for q in differ)
    found = dx.accumulates if doubled else dx.not_repeatable
    raise _failure(found(differ, block.context()))


def _check_fresh_cache(block, gradients, rng):
    """forward(other), forward(x), backward() must equal forward(x), backward()."""
    scale = max(float(np.std(block.inputs)), 1.0)
    other = block.inputs + scale * rng.standard_normal(block.inputs.shape)
    work = block.fresh()
    block.forward(work, other)
    block.forward(work)
    after_two = block.backward(work)
    differ = [q for q in gradients if not _same(gradients[q], after_two[q])]
    if differ:
        earlier = block.fresh()
        block.forward(earlier, other)
        of_other = block.backward(earlier)
        matches = all(_same(after_two[q], of_other[q]) for q in differ)
        raise _failure(dx.stale_cache(differ, matches, block.context()))


# ------------------------------------------------------------ forward values


def _check_output(out, shape, ctx):
    """A computed array: a float64 numpy array (of ``shape`` unless None) without NaN or inf."""
    if not isinstance(out, np.ndarray):
        raise _failure(dx.not_an_array(out, ctx), ctx.quantity)
    if shape is not None and out.shape != shape:
        raise _failure(dx.diagnose_shape(out.shape, shape, ctx), ctx.quantity)
    for found in (dx.diagnose_dtype(out.dtype, ctx), dx.diagnose_nonfinite(out, ctx)):
        if found is not None:
            raise _failure(found, ctx.quantity)


def _check_loss_value(value, ctx):
    """A loss returns one finite float64 number."""
    if np.ndim(value) != 0:
        raise _failure(dx.diagnose_shape(np.shape(value), (), ctx), ctx.quantity)
    for found in (
        dx.diagnose_dtype(np.asarray(value).dtype, ctx),
        dx.diagnose_nonfinite(value, ctx),
    ):
        if found is not None:
            raise _failure(found, ctx.quantity)


def _check_forward_value(out, arguments, reference, expected, owner):
    """Compare forward's result with reference(*arguments) and/or expected values."""
    arguments = arguments if isinstance(arguments, tuple) else (arguments,)
    wanted = []
    if reference is not None:
        wanted.append(("the reference", reference(*(a.copy() for a in arguments))))
    if expected is not None:
        wanted.append(("the expected values", expected))
    ctx = dx.Context("the output", f"{owner}.forward", batch=len(arguments[0]))
    for source, want in wanted:
        want = np.asarray(want)
        if np.shape(out) != want.shape:
            raise _failure(dx.diagnose_shape(np.shape(out), want.shape, ctx))
        # Forward values are compared to the precision the reference carries:
        # half its digits (1.5e-8 for float64, 3.5e-4 for float32).
        rtol = float(np.sqrt(np.finfo(want.dtype if want.dtype.kind == "f" else np.float64).eps))
        scale = float(np.max(np.abs(want), initial=0.0))
        _compare_arrays(np.asarray(out), want, np.ones(want.shape, bool), scale, ctx, rtol, source)


# ----------------------------------------------------------------- comparison


def _compare(got, numeric, ctx, rtol, source, rounding=0.0):
    """The largest relative error of got against a NumericGradient; raise if above rtol."""
    tiny = max(NOISE_FLOOR * max(numeric.noise, rounding), np.finfo(np.float64).tiny)
    return _compare_arrays(got, numeric.grad, numeric.estimated, tiny, ctx, rtol, source)


def _compare_arrays(got, expected, estimated, tiny, ctx, rtol, source):
    errors = np.where(
        estimated, relative_errors(got, np.where(estimated, expected, 0.0), tiny), 0.0
    )
    worst = np.unravel_index(np.argmax(errors), errors.shape) if errors.size else ()
    error = float(errors[worst]) if errors.size else 0.0
    if error <= rtol:
        return error
    where = f" at {list(map(int, worst))}" if worst else ""
    sampled = "" if estimated.all() else f" (checked {estimated.sum()} of {estimated.size} entries)"
    lines = [
        f"{ctx.label} does not match {source}: relative error {error:.2g} (tolerance {rtol:.0e}).",
        # + 0.0 shows -0.0 as 0
        f"Worst entry{where}: expected {float(expected[worst]) + 0.0:.6g}, "
        f"got {float(got[worst]) + 0.0:.6g}{sampled}.",
    ]
    found = dx.diagnose_values(expected, got, estimated, ctx)
    if found is not None:
        lines.append("Likely mistake: " + found.message)
    raise GradientCheckError("\n".join(lines), found, ctx.quantity)


def _judged(judged, input_quantity, names):
    """The gradients a check judges, validated: None for all of them."""
    if judged is None:
        return None
    known = (input_quantity, *("d" + name for name in names))
    unknown = [q for q in judged if q not in known]
    if unknown:
        raise TypeError(f"judged={tuple(judged)!r}: this check computes {known}, not {unknown}")
    return tuple(judged)


def _same_non_finite_as_zero(got, expected):
    """(got, expected) with 0 where both hold the same NaN or infinity (log of a negative
    input, say): agreeing there is right, and the relative error of NaN would be NaN."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        return got, expected
    agree = ~np.isfinite(expected) & ((got == expected) | (np.isnan(got) & np.isnan(expected)))
    return np.where(agree, 0.0, got), np.where(agree, 0.0, expected)


def _same(a, b):
    """Two results of deterministic code agree (None only with None)."""
    if a is None or b is None:
        return a is b
    if np.shape(a) != np.shape(b):
        return False
    scale = float(np.max(np.abs(a), initial=0.0))
    return bool(np.all(np.abs(a - b) <= SAME * scale))


def _equal(a, b):
    return np.shape(a) == np.shape(b) and np.array_equal(a, b, equal_nan=True)


# ------------------------------------------------------------ grading: the referee

_referee = None  # set by the grader while it runs a notebook's tests (refereed_by)


@contextlib.contextmanager
def refereed_by(referee):
    """The checks run under a referee: ``referee(obj)`` returns a trusted twin of ``obj``.

    In grading, the student's objects live in another process and may say anything
    about themselves. The grader's referee builds, from the instructor's code, a
    twin of each object as the test built it, with the student's parameter values;
    the checks then take the finite differences every gradient is compared with,
    and the expected forward values, from the twin: a mistake can no longer agree
    with itself. Outside grading there is no referee and the checks use the object's
    own forward, as a student running the notebook expects.
    """
    global _referee
    previous, _referee = _referee, referee
    try:
        yield
    finally:
        _referee = previous


def twin_of(obj):
    """What a test should evaluate in place of ``obj``: the grader's trusted twin when
    grading (the instructor's code with ``obj``'s parameters; see refereed_by), else
    ``obj`` itself. A hidden test measures a trained model with ``twin_of(model)``."""
    twin = _twin(obj)
    return obj if twin is None else twin


def _twin(obj):
    if _referee is None:
        return None
    try:
        return _referee(obj)
    except Exception as error:  # noqa: BLE001 (whatever the object does, the check fails)
        raise GradientCheckError(
            f"{type(obj).__name__}: the grader could not build the object it compares yours "
            f"with ({type(error).__name__}: {error})"
        ) from None


# -------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _checking(subject=None, input_quantity=None):
    """The conditions a check runs in, and a failure's pointer to the code of ``subject``.

    numpy's warnings are off: overflow shows up as inf or NaN, which the
    checks report themselves. BLAS runs on one thread (threadpoolctl): a check
    makes hundreds of small matrix products, which one
    thread does fastest, while several threads stall on a busy machine (a
    784 x 256 Linear: 0.8 s on one thread, 7 s on two with the other core busy).
    """
    limit = _blas_controller().limit(limits=1, user_api="blas")
    try:
        with np.errstate(all="ignore"), limit:
            yield
    except GradientCheckError as error:
        display.point_at_code(error, subject, error.quantity, input_quantity)
        raise


@contextlib.contextmanager
def _within(time_limit, owner, shape):
    """Fail the check if it took more than time_limit seconds (measured where it runs:
    in grading, by the grader)."""
    started = time.perf_counter()
    yield
    took = time.perf_counter() - started
    if time_limit is not None and took > time_limit:
        raise GradientCheckError(
            f"{owner}: the check at an input of shape {shape} took {took:.0f} s, more than its "
            f"{time_limit:g} s. Compute the gradients with their formula: estimating them "
            "numerically, or looping over the entries in Python, is far too slow at this size."
        )


@functools.cache
def _blas_controller():
    return ThreadpoolController()


def _failure(diagnosis, quantity=None):
    return GradientCheckError(diagnosis.message, diagnosis, quantity)


def _call(obj, stage, owner, *arguments):
    """obj.<stage>(*arguments), turning an exception into a clear check failure."""
    caller = f"{owner}.{stage}"
    try:
        return getattr(obj, stage)(*arguments)
    except Exception as error:
        if stage == "backward" and dx.looks_like_missing_cache(error, obj):
            found = dx.missing_cache(caller, error)
        else:
            shapes = ", ".join(f"{a.dtype} array of shape {a.shape}" for a in arguments)
            found = dx.crashed(
                caller,
                error,
                f" (called with {shapes})" if shapes else "",
                _shapes(obj, stage, arguments),
            )
        raise _failure(found) from error


def _shapes(obj, stage, arguments):
    """{name: shape} of the arrays a crash hint talks about: x or grad_out, W and b."""
    first = "x" if stage == "forward" else "grad_out"
    shapes = {first: np.shape(arguments[0])} if arguments else {}
    try:  # the object just failed: anything it holds may fail too, and the hint is optional
        for name in ("W", "b"):
            value = getattr(obj, name, None)
            if isinstance(value, np.ndarray):
                shapes[name] = value.shape
        if isinstance(getattr(obj, "layers", None), (list, tuple)):  # a model: the order matters
            shapes["layers"] = (len(obj.layers),)
    except Exception:
        pass
    return shapes


def _call_unchanged(function, x, label):
    """function(x), failing if it modified x."""
    given = x.copy()
    try:
        values = function(given)
    except Exception as error:
        raise _failure(dx.crashed(label, error)) from error
    if not _equal(given, x):
        raise _failure(dx.mutated_argument("x", label))
    return values


def _held_arrays(obj, out, exclude):
    """{description: (array, copy)} for every array stored on obj and forward's output."""
    held = {}
    for name, value in vars(obj).items() if hasattr(obj, "__dict__") else ():
        if isinstance(value, np.ndarray) and name not in exclude:
            held[name + (" (the array forward returned)" if value is out else "")] = value
    if isinstance(out, np.ndarray) and not any(value is out for value in held.values()):
        held["the array forward returned"] = out
    return {name: (array, array.copy()) for name, array in held.items()}


def _param_names(layer, params):
    """The parameter attribute names: given, else layer.params, else those of W, b present."""
    if params is None:
        declared = getattr(layer, "params", None)
        if isinstance(declared, (tuple, list)) and all(isinstance(n, str) for n in declared):
            params = declared
        else:
            params = [n for n in ("W", "b") if isinstance(getattr(layer, n, None), np.ndarray)]
    for name in params:
        if not isinstance(getattr(layer, name, None), np.ndarray):
            raise TypeError(
                f"{type(layer).__name__}.{name} is not a numpy array (params={params!r})"
            )
    return tuple(params)


def _float64_copy(layer, names):
    """A deep copy of layer with its parameters as float64 arrays."""
    clone = copy.deepcopy(layer)
    for name in names:
        value = getattr(layer, name, None)
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
            raise GradientCheckError(
                f"{type(layer).__name__}.{name} is not a numeric numpy array (got "
                f"{type(value).__name__}): the layer must keep its parameter {name} as an array"
            )
        setattr(clone, name, np.array(value, dtype=np.float64))
    return clone


def _float64_input(x, name, owner):
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise TypeError(f"{owner}: {name} must be a numeric array, got dtype {x.dtype}")
    return x.astype(np.float64)


def _is_float(values):
    return np.asarray(values).dtype.kind == "f"


def _copy(value):
    return None if value is None else np.array(value, copy=True)


def _check_rng(seed):
    """The generator of a check's upstream gradient and samples.

    The seed is mixed with a constant so that the upstream gradient never
    equals a test's own ``default_rng(seed)`` input: a transposed dW of a
    square layer would pass unnoticed if grad_out and x were the same matrix.
    """
    return np.random.default_rng([seed, 0x6A09E667])


def _default_points():
    """Where check_function looks by default: exact zeros, small and large values."""
    fixed = [
        0.0,
        0.0,
        0.1,
        -0.1,
        0.5,
        -0.5,
        1.0,
        -1.0,
        2.0,
        -2.0,
        3.0,
        -3.0,
        5.0,
        -5.0,
        10.0,
        -10.0,
    ]
    spread = np.random.default_rng(0).standard_normal(24) * 2
    return np.concatenate([fixed, spread]).reshape(5, 8)
