"""`python -m autograder check`, and what a failing check shows in a real Jupyter kernel."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.preprocessors import ClearHiddenTests

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def student_notebook(folder, assignment, cell=None, old=None, new=None):
    """The instructor's notebook without its hidden tests, the code as the student wrote it,
    with one mistake (``old`` -> ``new`` in the cell ``cell``)."""
    notebook = nbformat.read(
        str(ROOT / "assignments" / "source" / assignment / f"{assignment}.ipynb"), 4
    )
    notebook, _ = ClearHiddenTests().preprocess(notebook, {})
    for c in notebook.cells:
        if cell and c.metadata.get("nbgrader", {}).get("grade_id") == cell:
            assert old in c.source
            c.source = c.source.replace(old, new)
    path = folder / f"{assignment}.ipynb"
    nbformat.write(notebook, str(path))
    return path


def check(path, *args):
    return subprocess.run(
        [sys.executable, "-m", "autograder", "check", str(path), *args],
        capture_output=True,
        text=True,
        cwd=path.parent,
        timeout=300,
    )


TRANSPOSED_DW = ("linear", "self.dW = grad_out.T @ self.x", "self.dW = self.x.T @ grad_out")


def test_a_failing_test_is_shown_with_its_points_its_diagnosis_and_the_students_line(tmp_path):
    result = check(student_notebook(tmp_path, "backward", *TRANSPOSED_DW))
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"test_linear_dW\s+0/2\s+failed", out)
    assert re.search(r"test_linear_db\s+1/1\s+passed", out)
    assert "it is transposed (check the order of the product)" in out
    assert re.search(r"Your code: Cell In\[10\], line \d+, in Linear.backward", out)
    assert "self.dW = self.x.T @ grad_out" in out
    assert "visible tests: 12/14 points (7 of 8 passed); hidden tests run at grading." in out


def test_a_correct_notebook_passes_and_exits_0(tmp_path):
    result = check(student_notebook(tmp_path, "graph"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "visible tests: 14/14 points (9 of 9 passed)" in result.stdout
    assert "running the notebook" not in result.stderr  # no progress bar into a pipe or a log


def test_input_is_refused_as_at_grading_and_an_endless_cell_is_stopped(tmp_path):
    path = student_notebook(
        tmp_path, "forward", "relu", "class ReLU:", 'name = input("name? ")\nclass ReLU:'
    )
    notebook = nbformat.read(str(path), 4)
    loop = next(
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "tanh"
    )
    loop.source = "while True:\n    pass\n" + loop.source
    nbformat.write(notebook, str(path))
    result = check(path, "--timeout", "3")
    assert result.returncode == 1
    assert re.search(r"test_relu_forward\s+0/1\s+failed", result.stdout)
    assert re.search(r"test_tanh_forward\s+0/1\s+failed", result.stdout)
    assert re.search(r"test_sigmoid_forward\s+2/2\s+passed", result.stdout)
    assert "StdinNotImplementedError" in result.stdout and "KeyboardInterrupt" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "content, said",
    [(None, "no such file"), ("{not json", "not a readable notebook"), ("plain", "no test cells")],
)
def test_what_cannot_be_run_is_said_with_exit_status_2(tmp_path, content, said):
    path = tmp_path / "mine.ipynb"
    if content == "plain":
        nbformat.write(
            nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), str(path)
        )
    elif content is not None:
        path.write_text(content)
    result = check(path)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr


def error_output(notebook, grade_id):
    (cell,) = [
        c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    ]
    (error,) = [o for o in cell.outputs if o.output_type == "error"]
    return ANSI.sub("", "\n".join(error.traceback))


def test_in_jupyter_the_diagnosis_sits_under_the_test_line_with_the_students_frames_only(tmp_path):
    path = student_notebook(tmp_path, "backward", *TRANSPOSED_DW)
    notebook = student_notebook(
        tmp_path, "graph", "max", "return np.where(self.a_wins, a, b)", "return max(a, b)"
    )
    notebook = nbformat.read(str(notebook), 4)
    backward = nbformat.read(str(path), 4)
    for nb in (backward, notebook):
        NotebookClient(
            nb, allow_errors=True, timeout=60, resources={"metadata": {"path": str(tmp_path)}}
        ).execute()

    shown = error_output(backward, "test_linear_dW")
    assert (
        "autograder" not in shown
        and "site-packages" not in shown
        and "skipping hidden" not in shown
    )
    lines = shown.splitlines()
    test_line = next(
        i for i, line in enumerate(lines) if line.startswith("----> 4 print(check_layer(")
    )
    assert lines[test_line + 3].startswith("GradientCheckError: dW of Linear has shape (4, 3)")
    assert re.search(r"Your code: Cell In\[10\], line \d+, in Linear.backward", shown)

    crash = error_output(notebook, "test_max_gate")  # a crash shows the student's line that raised
    assert "autograder" not in crash and "The above exception" not in crash
    assert re.search(r"Cell In\[\d+\], line \d+, in Max.forward", crash)
    assert re.search(r"----> \d+ +return max\(a, b\)", crash)
    assert "Likely mistake: Python's if, and, or, max and min need one True or False" in crash


def test_in_jupyter_numpy_shape_errors_outside_a_check_get_the_course_hint(tmp_path):
    path = student_notebook(
        tmp_path, "forward", "linear", "return x @ self.W.T + self.b", "return x @ self.W + self.b"
    )
    notebook = nbformat.read(str(path), 4)
    NotebookClient(
        notebook, allow_errors=True, timeout=60, resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    shown = error_output(notebook, "test_linear_forward")
    assert (
        "Likely mistake: x is (B, d_in) = (3, 3) and W is (d_out, d_in) = (2, 3): which one needs "
        "transposing?" in shown
    )


def test_an_error_without_a_message_says_where_it_was_raised():
    """raise NotImplementedError() in a plain function: the summary names the function."""
    from autograder.student.handin import _error

    traceback = [
        "\x1b[0;31mNotImplementedError\x1b[0m  Traceback (most recent call last)",
        "Cell \x1b[0;32mIn[12], line 3\x1b[0m\n----> 3 J = tanh_layer_jacobian(W, b, x)",
        "Cell \x1b[0;32mIn[7], line 4\x1b[0m, in \x1b[0;36mtanh_layer_jacobian\x1b[0m(W, b, x)\n"
        "----> 4     raise NotImplementedError()",
        "\x1b[0;31mNotImplementedError\x1b[0m: ",
    ]
    cell = nbformat.v4.new_code_cell(execution_count=12)
    cell.outputs = [
        nbformat.v4.new_output("error", ename="NotImplementedError", evalue="", traceback=traceback)
    ]
    assert _error(cell) == (
        "NotImplementedError in tanh_layer_jacobian (Cell In[7], line 4): not written yet; "
        "replace raise NotImplementedError() with your code"
    )
