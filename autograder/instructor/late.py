"""The course's late-penalty rule, as an nbgrader late-submission plugin.

nbgrader compares each submission's timestamp (collect writes the LMS's
submission time there) with the assignment's due date (``grade --due``, or
``nbgrader db assignment add NAME --duedate=...``) and asks this plugin for the
penalty of each late notebook. assignments/nbgrader_config.py chooses it:

    c.AssignLatePenalties.plugin_class = "autograder.instructor.late.PerDayPenalty"
    c.PerDayPenalty.per_day = 0.1
"""

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PerDayPenalty(LateSubmissionPlugin):
    """A share of the notebook's score per started day late (`per_day`, 10 % by default),
    never more than the score itself."""

    per_day = Float(0.1, help="share of the score taken off per started day late").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        days = math.ceil(total_seconds_late / 86400)
        return round(min(score, score * self.per_day * days), 2)
