"""The limits of grading one notebook, built once from grade's command line and passed down.

The same limits hold in both modes: the sandbox (trusted.py, the student's process gets
``memory``) and ``--kernel`` (execute.py, the Jupyter kernel gets it).

    GradingLimits.from_options(course.config, timeout=30, memory_gb=2)
"""

from dataclasses import dataclass

from .sandbox import GiB, Limits


@dataclass(frozen=True)
class GradingLimits:
    cell_timeout: int = 120  # seconds a cell may run
    notebook_timeout: int | None = 900  # seconds the whole notebook may run (None: no limit)
    memory: int = Limits.memory  # bytes of address space of the student's code

    @classmethod
    def from_options(cls, config, timeout=None, notebook_timeout=None, memory_gb=None):
        """The limits for grade's options (None: not given). timeout: seconds per cell
        (default: the course's ``Execute.timeout``, nbgrader's own setting, else 120);
        notebook_timeout: seconds per notebook (0: no limit); memory_gb: GB of memory."""
        course_timeout = config.get("Execute", {}).get("timeout")
        return cls(
            cell_timeout=int(timeout or course_timeout or cls.cell_timeout),
            notebook_timeout=(
                cls.notebook_timeout if notebook_timeout is None else notebook_timeout or None
            ),
            memory=cls.memory if memory_gb is None else int(memory_gb * GiB),
        )
