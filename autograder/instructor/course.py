"""The nbgrader course the pipeline works on: its folder, its configuration, its gradebook.

Every command takes the course folder (default: the current directory, or
``assignments/`` of this checkout when run from the project root) and an
optional database URL. SQLite in ``<course>/gradebook.db`` is the default; a
URL such as ``postgresql+psycopg://grader@dbhost/backprop`` lets several
graders share one gradebook.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"

# A BLAS library starts a thread per core in every process. Grading runs many processes at
# once (workers, kernels, students' sandboxes) on shared cores: each gets one thread.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread(environment):
    """Set each BLAS thread count in `environment` (a dict, or os.environ) to 1 where it is
    not set already; returns `environment`."""
    for variable in BLAS_THREAD_VARIABLES:
        environment.setdefault(variable, "1")
    return environment


class InstructorError(Exception):
    """A problem with the instructor's input: the message says what is wrong and what to do."""


@dataclass
class Course:
    """An nbgrader course folder (``source/<assignment>/<assignment>.ipynb`` and
    ``nbgrader_config.py``)."""

    root: Path
    db_url: str | None = None
    config: object = field(init=False, repr=False)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        if not (self.root / CONFIG_FILE).is_file():
            raise InstructorError(
                f"{self.root} is not an nbgrader course: it has no {CONFIG_FILE}. "
                "Run the command from the course folder (this project's assignments/) "
                "or pass --course DIR."
            )
        self.config = load_config(self.root)
        self.config.CourseDirectory.root = str(self.root)
        if self.db_url:
            self.config.CourseDirectory.db_url = self.db_url
        else:
            self.db_url = f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def course_id(self):
        return self.config.CourseDirectory.get("course_id", "default_course")

    def assignments(self):
        """Names of the assignments that have a source folder, sorted."""
        source = self.root / "source"
        return sorted(p.name for p in source.iterdir() if p.is_dir()) if source.is_dir() else []

    def require_assignment(self, name):
        """Raise InstructorError unless `name` is one of the course's assignments."""
        known = self.assignments()
        if name not in known:
            raise InstructorError(
                f"Unknown assignment {name!r}: the course in {self.root} has "
                f"{', '.join(known) or 'none'}. "
                "Check the spelling, or add source/<name>/<name>.ipynb first."
            )
        return name

    def source_notebooks(self, assignment):
        """The instructor's notebooks of an assignment (source/<assignment>/*.ipynb)."""
        return sorted((self.root / "source" / assignment).glob("*.ipynb"))

    def folder(self, kind, *parts):
        """<root>/<kind>/<parts...>, e.g. folder("submitted", student, assignment)."""
        return self.root.joinpath(kind, *parts)

    def coursedir(self, assignment="", student="*"):
        """nbgrader's CourseDirectory of this course, set to one assignment and student."""
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        coursedir.assignment_id = assignment
        coursedir.student_id = student
        return coursedir

    def gradebook(self):
        """nbgrader's Gradebook (use as a context manager)."""
        from nbgrader.api import Gradebook

        quiet_library_warnings()
        return Gradebook(self.db_url, course_id=self.course_id)

    def gradebook_exists(self):
        """False for an SQLite gradebook whose file is not there yet (opening it would create
        it)."""
        return (
            not self.db_url.startswith("sqlite:///")
            or Path(self.db_url[len("sqlite:///") :]).is_file()
        )


def quiet_library_warnings():
    """nbgrader 0.9's gradebook code triggers SQLAlchemy 2's autoflush warnings (harmless, and
    not the instructor's to fix): keep them out of the commands' output."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message="Object of type <Submitted", category=SAWarning)


def load_config(root):
    """The traitlets Config of <root>/nbgrader_config.py (the file also sets the kernels' BLAS
    threads)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()


def find_course(path=None):
    """The course folder: `path`, else the current directory if it is a course, else
    ./assignments."""
    if path is not None:
        return Path(path)
    here = Path(os.getcwd())
    if (here / CONFIG_FILE).is_file() or not (here / "assignments" / CONFIG_FILE).is_file():
        return here
    return here / "assignments"
