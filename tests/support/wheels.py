"""Build a distribution's wheel from a checkout, offline, for the packaging tests."""

import subprocess
import sys
from pathlib import Path


def build_wheel(project, out):
    """The wheel of the project at ``project`` (a folder with a pyproject.toml), built into
    ``out`` without dependencies, an index or build isolation; returns its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(project),
        ],
        check=True,
    )
    (wheel,) = Path(out).glob("*.whl")
    return wheel
