"""The student-mistake corpus (tests/support/student_mistakes.py): every mistake is caught
where the course says, with the diagnosis it names; the summary prints the shares.

    .venv/bin/python -m pytest tests/test_student_mistakes.py -q -s
"""

import functools

import pytest

from tests.support import student_mistakes as corpus
from tests.support.assignment_course import assignments

ASSIGNMENTS = set(assignments())  # every assignment of the course has its mistakes here
SPECIFIC_TARGET = 0.9  # the share of mistakes whose failure names them


@functools.cache
def result(mistake):
    return corpus.run(mistake)


@pytest.mark.parametrize("mistake", corpus.MISTAKES, ids=lambda m: f"{m.assignment}: {m.mistake}")
def test_the_mistake_is_caught_where_expected_with_its_diagnosis(mistake):
    found = result(mistake)
    assert found.caught == mistake.caught, (
        f"{mistake.mistake}: caught {found.caught}\n{found.message}"
    )
    if mistake.key is not None:
        assert found.key == mistake.key, f"{mistake.mistake}: {found.key}\n{found.message}"
    if mistake.says is not None:
        assert mistake.says in found.message, f"{mistake.mistake}:\n{found.message}"


@pytest.mark.parametrize(
    "mistake",
    [m for m in corpus.MISTAKES if m.spares],
    ids=lambda m: f"{m.assignment}: {m.mistake}",
)
def test_one_bug_costs_one_part_in_the_students_own_notebook(mistake):
    """The tests of the parts that are right still pass (visible and hidden), with no grader."""
    assert corpus.spared(mistake) == {}


def test_the_corpus_covers_every_assignment_and_the_issues_mistakes():
    assert len(corpus.MISTAKES) >= 45
    assert {m.assignment for m in corpus.MISTAKES} == ASSIGNMENTS
    keys = {m.key for m in corpus.MISTAKES}
    assert {
        "formula_at_input",
        "no_upstream",
        "times_output",
        "wrong_slope",
        "matmul_shapes",
        "broadcast_shapes",
        "array_truth",
        "sign",
    } <= keys
    assert any("finite differences" in m.mistake for m in corpus.MISTAKES)
    assert len([m for m in corpus.MISTAKES if m.spares]) >= 2


def test_summary_most_failures_name_the_mistake(capsys):
    results = [(m, result(m)) for m in corpus.MISTAKES]
    named = [m for m, r in results if corpus.specific(m, r)]
    visible = [m for m, r in results if r.caught == "visible"]
    caught = [m for m, r in results if r.caught != "missed"]
    total = len(results)
    with capsys.disabled():
        print(
            f"\nstudent-mistake corpus: {total} mistakes in {len(ASSIGNMENTS)} assignments; "
            f"caught {len(caught)}/{total}; by the visible tests {len(visible)}/{total} "
            f"({len(visible) / total:.0%}); with a specific, correct diagnosis "
            f"{len(named)}/{total} ({len(named) / total:.0%})"
        )
        for m, r in results:
            if m not in named:
                print(
                    f"  no specific diagnosis: {m.assignment}: {m.mistake}: "
                    f"{r.message.splitlines()[0][:120]}"
                )
    assert len(caught) == total
    assert len(named) / total >= SPECIFIC_TARGET
