"""The course toolkit that students install.

Student half (``autograder.student``): gradient checks that name the mistake,
the XOR and MNIST data loaders and plotting helpers. Instructor half
(``autograder.instructor``): the nbgrader pipeline and its command line; the
student half never imports it, and nothing here imports ``solutions``.

The student API is importable from the top level::

    from autograder import check_layer, numeric_gradient, load_mnist
"""

from .student.checks import (
    CheckReport,
    GradientCheckError,
    check_function,
    check_layer,
    check_loss,
    twin_of,
)
from .student.display import install_in_ipython
from .student.gradients import numeric_gradient, numeric_jacobian, relative_error
from .student.mnist import MNISTNotFound, load_mnist
from .student.xor import xor_dataset

install_in_ipython()  # in Jupyter: NumPy's shape errors get the course's hint (display.py)

__all__ = [
    "numeric_gradient",
    "numeric_jacobian",
    "relative_error",
    "check_layer",
    "check_loss",
    "check_function",
    "GradientCheckError",
    "CheckReport",
    "twin_of",
    "load_mnist",
    "MNISTNotFound",
    "xor_dataset",
]
