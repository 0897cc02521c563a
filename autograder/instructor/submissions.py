"""The collected submissions, ``<course>/submitted/<student>/<assignment>/``, and their
fingerprints.

A fingerprint is the SHA-256 of every file in a submission folder (names and
bytes, the LMS's submission time in ``timestamp.txt`` included). collect
compares fingerprints to say whether a submission is new, changed or
unchanged; grade stores the fingerprint of what it graded and regrades a
submission whose fingerprint has changed since.
"""

import hashlib


def submitted_students(course, assignment):
    """Ids of the students with a folder in submitted/<student>/<assignment>/, sorted."""
    submitted = course.folder("submitted")
    if not submitted.is_dir():
        return []
    return sorted(p.name for p in submitted.iterdir() if (p / assignment).is_dir())


def fingerprint(folder):
    """The SHA-256 (hex) of the files in `folder` (not recursive), or None if it does not exist."""
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def submission_fingerprint(course, student, assignment):
    return fingerprint(course.folder("submitted", student, assignment))
