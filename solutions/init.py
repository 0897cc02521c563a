"""Weight initialisation with an explicit random generator.

He (Kaiming) keeps the variance of ReLU activations constant across layers:
std = sqrt(2 / d_in). Xavier (Glorot) does the same for tanh/sigmoid:
std = sqrt(2 / (d_in + d_out)).
"""

import numpy as np

SCHEMES = ("he", "xavier")


def init_weights(d_out, d_in, *, scheme="he", rng=None, dtype=np.float32):
    """Return W: (d_out, d_in) drawn from a zero-mean normal for ``scheme``."""
    rng = np.random.default_rng(rng)
    if scheme == "he":
        std = np.sqrt(2.0 / d_in)
    elif scheme == "xavier":
        std = np.sqrt(2.0 / (d_in + d_out))
    else:
        raise ValueError(f"unknown init scheme {scheme!r}: choose one of {', '.join(SCHEMES)}")
    return (rng.standard_normal((d_out, d_in)) * std).astype(dtype)


def scheme_for(activation):
    """The scheme that suits an activation name: He for ReLU-like, Xavier otherwise."""
    return "he" if "relu" in activation else "xavier"
