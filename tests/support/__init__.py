"""What the tests share, importable as ``tests.support.<module>`` from the repository root
(pytest puts the root on ``sys.path``; the benchmarks run as ``python -m benchmarks.NAME``).

    assignment_course   the nbgrader course in assignments/: read it, copy it, run nbgrader
    assignment_cases    submissions of the assignments with known scores (edits of the source)
    class_submissions   a class of 50 submissions of `backward` with known scores
    integrity_corpus    adversarial submissions: what a student's code might try on the grader
    lms_corpus          Canvas and Moodle exports of `forward`, as a real class sends them
    student_mistakes    the mistakes students make, each with the diagnosis it must get
    zoo                 deliberately wrong layers and losses, each with its diagnosis key
    postgres            a throwaway PostgreSQL server (`postgres_url`, `fresh_postgres_url`)
    book_browser        the built book in headless Chromium (math, links, axe-core, keyboard)
    resources           what a marked test needs (chromium, PostgreSQL, the sandbox), or why not
"""
