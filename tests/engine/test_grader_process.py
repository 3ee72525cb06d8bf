"""grader_process.py: what the grading threads of one process share (issue 22, item 1), and the
instructor's setup cell, whose failures are the instructor's, loudly (item 4)."""
import ast
import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import engine, grader_process
from autograder.assignment import load_assignment
from autograder.grader_process import SetupError, run_setup_cell
from autograder.results import ERROR, GRADED

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_the_shared_state_lives_in_grader_process_only():
    """engine.py grades; nothing imports the moved code from it (no alias kept for old callers)."""
    moved = {"prepare_grader", "set_grader_memory_limit", "GRADER_MEMORY", "run_setup_cell", "SetupError",
             "setup_namespace", "versions", "test_cell_globals", "_versions", "_setup_namespace"}
    assert all(hasattr(grader_process, n) for n in moved if not n.startswith("_"))
    assert not moved & set(engine.__all__)
    root = Path(__file__).resolve().parents[2]
    taken = set()
    for f in [*(root / "autograder").rglob("*.py"), *(root / "tests").rglob("*.py")]:
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.ImportFrom) and node.module in ("autograder.engine", "engine") and (
                    node.module == "autograder.engine" or node.level == 1):
                taken |= {(str(f.relative_to(root)), a.name) for a in node.names}
    # the moved names come from grader_process only; code imports engine's public names only
    # (a unit test may reach one of its private helpers, never a moved name)
    assert taken and not {t for t in taken if t[1] in moved}, sorted(t for t in taken if t[1] in moved)
    outside = {t for t in taken if t[1] not in engine.__all__
               and not (t[0].startswith("tests/") and t[1].startswith("_"))}
    assert not outside, sorted(outside)
    assert len(Path(engine.__file__).read_text().splitlines()) < 500


@pytest.mark.parametrize("source, words", [
    ("import numpy as np\nX = 1 / 0\n", ["'toy'", "setup cell", "ZeroDivisionError"]),
    ("import numpy as np\ndef helper(x):\n    return x\n", ["'toy'", "setup cell", "'helper'", "does not run"]),
    ("try:\n    import scipy\nexcept ImportError:\n    scipy = None\n", ["'scipy'", "does not run"]),
    ("from autograder.tools import (\n", ["'toy'", "setup cell", "SyntaxError"]),
])
def test_a_setup_cell_the_grader_cannot_run_is_a_setup_error_naming_the_assignment(source, words):
    with pytest.raises(SetupError) as info:
        run_setup_cell(source, "toy")
    assert all(w in str(info.value) for w in words), str(info.value)


def test_statements_that_bind_nothing_are_left_out_quietly():
    ns = run_setup_cell("import numpy as np\nprint('hello')\n[i for i in range(3)]\nSCALE = 2\n", "toy")
    assert set(ns) == {"np", "SCALE"}


def test_a_helper_defined_in_the_setup_cell_is_the_instructors_error_not_the_students(tmp_path):
    """Before: the ``def`` was dropped without a word and the test using it told every student
    'your notebook does not define 'helper''; the submission was graded."""
    shutil.copytree(FIXTURES / "toy", tmp_path / "toy")
    path = tmp_path / "toy" / "toy.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "setup":
            cell.source += "\ndef helper(x):\n    return x\n"
        elif gid == "test_relu_basic":
            cell.source = cell.source.replace("relu(x),", "helper(relu(x)),")
    nbformat.write(nb, path)
    a = load_assignment("toy", source_dir=tmp_path)
    r = engine.grade_notebook(a, path, "alice", insecure=True)
    assert r.status == ERROR != GRADED and r.score == 0, (r.status, r.message)
    assert "'toy'" in r.message and "setup cell" in r.message and "'helper'" in r.message, r.message
    assert "tell your instructor" in r.message
    assert not any("does not define" in t.message for t in r.tests), [t.message for t in r.tests]
