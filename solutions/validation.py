"""Input checks shared by layers and losses: fail loudly instead of broadcasting."""

import numpy as np


def check_array(value, name, owner, *, ndim=None, last_dim=None, shape=None):
    """Raise a clear error unless ``value`` is a float ndarray of the expected shape.

    ``owner`` names the layer or loss in the message.
    """
    # Called on every forward and backward: the owner's name is only worked out for a message.
    if not isinstance(value, np.ndarray):
        raise TypeError(
            f"{_name(owner)}: {name} must be a numpy array, got {type(value).__name__}; "
            "convert it with np.asarray(...)"
        )
    if value.dtype.kind != "f":
        raise TypeError(
            f"{_name(owner)}: {name} has dtype {value.dtype}; use a float array "
            f"(e.g. {name}.astype(np.float32))"
        )
    if ndim is not None and value.ndim != ndim:
        raise ValueError(
            f"{_name(owner)}: {name} must have {ndim} dimensions (batch, features), "
            f"got shape {value.shape}"
        )
    if last_dim is not None and value.shape[-1] != last_dim:
        raise ValueError(
            f"{_name(owner)}: {name} has {value.shape[-1]} features per example "
            f"(shape {value.shape}) but the layer expects {last_dim}"
        )
    if shape is not None and value.shape != tuple(shape):
        raise ValueError(f"{_name(owner)}: {name} has shape {value.shape}, expected {tuple(shape)}")


def cached(owner, name):
    """``owner.<name>`` as stored by forward; a clear error if forward has not run yet."""
    value = getattr(owner, name, None)
    if value is None:
        raise RuntimeError(
            f"{type(owner).__name__}.backward was called before forward: "
            "run forward first so it can cache what backward needs."
        )
    return value


def _name(owner):
    return owner if isinstance(owner, str) else type(owner).__name__
