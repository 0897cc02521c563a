"""nbgrader configuration of the course (run nbgrader from this directory).

    cd assignments
    nbgrader generate_assignment forward          # source/ -> release/
    nbgrader autograde forward                    # submitted/ -> autograded/ + gradebook.db
    nbgrader generate_feedback forward            # autograded/ -> feedback/ (HTML)

Everything nbgrader writes here (release/, submitted/, autograded/, feedback/,
gradebook.db) is generated and git-ignored.
"""

import os
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

from autograder.instructor.course import one_blas_thread

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# The six assignments, in the order of the book's chapters; each lives in
# source/<name>/<name>.ipynb. nbgrader registers an assignment in the gradebook
# when it is generated; tests/test_assignments.py checks this list against source/.
ASSIGNMENTS = ("forward", "backward", "graph", "softmax", "sgd_xor", "mnist")

c.CourseDirectory.course_id = "backprop"
c.CourseDirectory.root = str(Path(__file__).resolve().parent)

# Autograding runs every cell even after errors, and stops a cell after
# Execute.timeout seconds (an infinite loop is interrupted and earns nothing;
# the rest of the notebook and the other students' notebooks go on). The
# slowest cell of the course, training on MNIST, takes a few seconds.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# A student who deleted a test cell gets it back from the gradebook (with a
# note), so its points are still decided by running it.
c.OverwriteCells.add_missing_cells = True

# Late work: nbgrader compares the submission time (collect writes the LMS's) with the
# assignment's due date (`python -m autograder grade NAME --due DATE`) and takes 10 % of
# the score off per started day late (autograder/instructor/late.py).
c.AssignLatePenalties.plugin_class = "autograder.instructor.late.PerDayPenalty"
c.PerDayPenalty.per_day = 0.1

# The feedback students receive shows their code, the outputs and the scores,
# but not the source of the hidden tests.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, ClearHiddenTests]

# One BLAS thread per notebook kernel: kernels inherit this environment, and on a
# shared machine several threads per kernel only fight over the cores.
one_blas_thread(os.environ)
