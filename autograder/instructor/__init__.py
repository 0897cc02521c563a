"""What instructors use: the grading pipeline over nbgrader and its command line.

    course.py          the nbgrader course folder, its config and gradebook (SQLite or PostgreSQL)
    cli.py             `python -m autograder release|collect|grade|feedback|report`
    bundle.py          release: the student bundle (zip), checked for leaks before it is written
    collect.py         collect: LMS, nbgrader or flat layouts -> submitted/, a table of submitters
    submissions.py     submitted/<student>/<assignment>/, its fingerprint (changed since graded?)
    grade.py           grade: prepare and record in one process, execute in worker processes
      limits.py          the limits of a notebook (time per cell and notebook, memory), from the CLI
      rebuild.py         the graded notebook: the instructor's, with only the student's code in it
      trusted.py         runs it: student cells in the sandbox, test cells here
      sandbox.py         the student's process: namespaces, unprivileged user, limits
      student_process.py the program in that process (copied into the sandbox with protocol.py)
      remote.py          the grader's proxies of the student's objects
      protocol.py        the wire format: plain data, never pickled
      execute.py         --kernel: a Jupyter kernel per notebook, as stock nbgrader does
      cluster.py         --cluster: each submission one task on a Dask cluster
    late.py            the course's late penalty (an nbgrader late-submission plugin)
    feedback.py        feedback: nbgrader's HTML feedback per student, offline math, flag notices
    report.py          report: grade CSV (every submitter) and plots
    lms.py             Canvas and Moodle: class lists, grade import files, feedback upload zips
    status.py          Status, Flag, grading/<assignment>.json (each submission's status and flags)
    nbgrader_run.py    runs nbgrader's converters in-process and says why they failed
    nbgrader_internals.py  the one user of nbgrader's private internals (why each, which versions)
    table.py           plain-text tables

See README.md in this folder.
"""
