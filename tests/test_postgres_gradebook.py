"""nbgrader with its gradebook on a real PostgreSQL server (`CourseDirectory.db_url`).

The server is the test session's own (tests/support/postgres.py: Debian's postgresql, a unix
socket in a temporary directory, no network); each test gets an empty database. The
instructor pipeline (generate_assignment, autograde) runs on a copy of the course with
--CourseDirectory.db_url pointing at the server, and must leave no SQLite gradebook behind.
"""

from pathlib import Path

import nbgrader
import nbgrader.api
from nbgrader.api import Gradebook
from sqlalchemy import create_engine, inspect, text

from tests.support.assignment_course import (
    copy_course,
    points,
    read,
    source_notebook,
    submit,
)
from tests.support.assignment_course import (
    nbgrader as run_nbgrader,
)

COURSE_ID = "backprop"  # as in assignments/nbgrader_config.py


def alembic_head():
    """The newest revision of nbgrader's gradebook schema, which a new gradebook records."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


def server_tables(url):
    """(table names, recorded alembic revisions) of the database at url."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.dialect.name == "postgresql"
            tables = set(inspect(connection).get_table_names())
            revisions = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            )
            return tables, revisions
    finally:
        engine.dispose()


def test_the_gradebook_creates_its_schema_on_the_server(fresh_postgres_url, monkeypatch):
    # A new Gradebook asks `alembic heads` (a subprocess that imports nbgrader: seconds) for
    # the revision to record; the same answer in process. The CLI test below runs the real one.
    head = alembic_head()
    monkeypatch.setattr(nbgrader.api, "get_alembic_version", lambda: head)
    with Gradebook(fresh_postgres_url, course_id=COURSE_ID) as gradebook:
        assert gradebook.engine.dialect.name == "postgresql"
        gradebook.add_assignment("softmax")
        gradebook.add_student("ada", first_name="Ada", last_name="Lovelace")

    tables, revisions = server_tables(fresh_postgres_url)
    assert {"course", "assignment", "student", "submitted_assignment", "grade"} <= tables
    assert revisions == [head]

    with Gradebook(fresh_postgres_url, course_id=COURSE_ID) as gradebook:  # a new connection
        assert [a.name for a in gradebook.assignments] == ["softmax"]
        assert gradebook.find_assignment("softmax").course_id == COURSE_ID
        assert gradebook.find_student("ada").last_name == "Lovelace"


def test_generate_and_autograde_with_the_gradebook_on_postgres(fresh_postgres_url, tmp_path):
    course = copy_course(tmp_path)
    database = f"--CourseDirectory.db_url={fresh_postgres_url}"
    run_nbgrader(course, "generate_assignment", "softmax", "--force", database)
    submit(course, "instructor_solution", "softmax", read(source_notebook("softmax", course)))
    run_nbgrader(course, "autograde", "softmax", "--force", database)

    tables, revisions = server_tables(fresh_postgres_url)
    assert "grade" in tables and revisions == [alembic_head()]
    expected = points(read(source_notebook("softmax")))
    with Gradebook(fresh_postgres_url, course_id=COURSE_ID) as gradebook:
        notebook = gradebook.find_submission_notebook("softmax", "softmax", "instructor_solution")
        assert {grade.name: grade.score for grade in notebook.grades} == expected
        submission = gradebook.find_submission("softmax", "instructor_solution")
        assert submission.score == submission.max_score == sum(expected.values())
        assert [student.id for student in gradebook.students] == ["instructor_solution"]
    assert (course / "autograded" / "instructor_solution" / "softmax" / "softmax.ipynb").is_file()
    assert not list(course.rglob("*.db")), "nbgrader wrote a SQLite gradebook into the course"
