"""Every deliberate mistake in tests/support/zoo.py fails its check with the right diagnosis."""

import re
from pathlib import Path

import numpy as np
import pytest

import solutions as S
from autograder.student import diagnosis as dx
from autograder.student.checks import GradientCheckError, check_layer
from tests.support import zoo

README = Path(__file__).resolve().parents[1] / "autograder" / "README.md"

# What code in a message would look like: calls into numpy, attributes of
# self, definitions, matrix products, indexing with a colon.
CODE = re.compile(r"np\.|numpy\.|self\.|\bdef\b|\breturn\b|\s@\s|\[:|\.T\b|\.sum\(|\.mean\(")


def failure(mistake):
    with pytest.raises(GradientCheckError) as info:
        mistake.run()
    return info.value


@pytest.mark.parametrize("mistake", zoo.MISTAKES, ids=lambda m: m.name)
def test_the_check_fails_with_the_expected_diagnosis(mistake):
    error = failure(mistake)
    assert error.diagnosis is not None, f"no diagnosis for {mistake.name}:\n{error}"
    assert error.diagnosis.key == mistake.key, f"{mistake.name}:\n{error}"
    assert error.diagnosis.message in str(error)


@pytest.mark.parametrize("mistake", zoo.MISTAKES, ids=lambda m: m.name)
def test_messages_are_short_and_show_no_code(mistake):
    message = str(failure(mistake))
    assert len(message.splitlines()) <= 3
    assert len(message) < 600
    assert not CODE.search(message), message


def test_every_diagnosis_but_a_crash_has_a_mistake_in_the_zoo():
    assert {m.key for m in zoo.MISTAKES} == set(dx.KEYS) - {"crash"}


def test_every_diagnosis_is_documented_in_the_readme():
    text = README.read_text()
    assert [key for key in dx.KEYS if f"`{key}`" not in text] == []


def test_mistakes_in_float32_layers_get_the_same_diagnosis():
    layer = zoo.TransposedDW(4, 4, rng=0, dtype=np.float32)
    with pytest.raises(GradientCheckError) as info:
        check_layer(layer, zoo.batch(4).astype(np.float32))
    assert info.value.diagnosis.key == "transposed"


def test_a_crash_is_reported_with_the_input_it_got():
    class Broken(S.Linear):
        def forward(self, x):
            raise ValueError("shapes do not fit")

    with pytest.raises(GradientCheckError) as info:
        check_layer(Broken(5, 3), zoo.batch())
    assert info.value.diagnosis.key == "crash"
    assert "Broken.forward raised ValueError: shapes do not fit" in str(info.value)
    assert "shape (6, 5)" in str(info.value)


def test_a_failure_notes_the_line_of_the_students_code_that_sets_the_wrong_gradient():
    error = failure(zoo.MISTAKES[0])  # dW transposed
    (note,) = error.__notes__
    assert re.match(
        r"Your code: (tests/support/)?zoo\.py, line \d+, in TransposedDW\.backward\n", note
    )
    assert note.endswith("self.dW = self.dW.T.copy()")


def test_a_crash_is_not_noted_its_traceback_shows_the_line():
    error = failure(next(m for m in zoo.MISTAKES if m.key == "matmul_shapes"))
    assert not getattr(error, "__notes__", None)
    assert "gufunc" not in str(error) and isinstance(error.__cause__, ValueError)
