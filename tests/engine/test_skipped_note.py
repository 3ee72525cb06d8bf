"""The feedback note about top-level statements grading does not run names only the student's.

A release has top-level lines of its own that grading skips: demo cells (``show_*(...)``) and the
``raise NotImplementedError()`` stub of every unanswered cell. Before, every submission's
feedback counted them ("13 top-level statement(s) ... were not run" for a blank ps1); now the
note counts and names only statements the student added or changed (engine.py, from
``Assignment.template``, the release's statements as the grader rebuilds them from the source).
"""
from __future__ import annotations

import copy

import nbformat

from autograder.assignment import load_assignment
from autograder.cells import nbgrader_of
from autograder.engine import grade_notebook
from autograder.release import write_notebook
from autograder.samples import TOY_GRADING_TOML, correct_notebook, toy_source_notebook

NAME = "toy_demo"
DEMO = "print(add(np.ones(2), np.ones(2)))"          # a demo cell of the release (no nbgrader metadata)
ANSWER = "answer_sum = None\n### BEGIN SOLUTION\nanswer_sum = 5\n### END SOLUTION"
# As nbgrader releases the two solution cells (its stub in place of each solution region).
RELEASED = {"add": None, "answer_sum": "answer_sum = None\n# YOUR CODE HERE\nraise NotImplementedError()"}


def _source(folder):
    nb = toy_source_notebook()
    at = next(i for i, c in enumerate(nb.cells) if nbgrader_of(c).get("grade_id") == "test_add_public") + 1
    answer = nbformat.v4.new_code_cell(ANSWER)
    answer.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "answer_sum",
                                   "schema_version": 3}
    nb.cells[at:at] = [nbformat.v4.new_code_cell(DEMO), answer]
    (folder / NAME).mkdir(parents=True)
    write_notebook(nb, folder / NAME / f"{NAME}.ipynb")
    (folder / NAME / "grading.toml").write_text(TOY_GRADING_TOML)
    return nb


def _blank(source_nb):
    """The release as a student receives it (hidden tests emptied, solutions stubbed)."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        nbg = nbgrader_of(cell)
        if "BEGIN HIDDEN TESTS" in cell.source:
            cell.source = ""
        elif nbg.get("grade_id") == "answer_sum":
            cell.source = RELEASED["answer_sum"]
        elif nbg.get("solution"):
            head = cell.source.split("    ### BEGIN SOLUTION")[0]
            cell.source = head + "    # YOUR CODE HERE\n    raise NotImplementedError()"
    return nb


def test_only_what_the_student_added_is_named(tmp_path):
    source_nb = _source(tmp_path / "src")
    assignment = load_assignment(NAME, source_dir=tmp_path / "src")
    perfect = correct_notebook(source_nb)
    added = copy.deepcopy(perfect)
    added.cells.append(nbformat.v4.new_code_cell("x = add(1, 2)\nprint(x)\n" + DEMO))
    subs = {"blank": _blank(source_nb), "perfect": perfect, "added": added}
    messages = {}
    for kind, nb in subs.items():
        path = tmp_path / kind / f"{NAME}.ipynb"
        path.parent.mkdir()
        write_notebook(nb, path)
        result = grade_notebook(assignment, path, kind, insecure=True, public_only=True)
        assert result.status == "graded", result.message
        messages[kind] = result.message
    # the release's demo line and its `raise NotImplementedError()` stub are not the student's
    assert "were not run" not in messages["blank"], messages["blank"]
    assert "were not run" not in messages["perfect"], messages["perfect"]
    # what the student added is counted and named, with where to find it; a copy of the demo line is not
    note = messages["added"]
    assert "2 top-level statement(s) you added or changed" in note, note
    assert "`x = add(1, 2)` (the cell starting `x = add(1, 2)`, line 1)" in note, note
    assert "`print(x)` (the cell starting `x = add(1, 2)`, line 2)" in note, note


def test_at_most_five_are_named():
    from autograder.engine import _skipped_note

    added = [{"cell": 3, "lineno": i + 1, "src": f"plot({i})", "where": ""} for i in range(7)]
    note = _skipped_note(added)
    assert note.startswith("7 top-level statement(s)") and "`plot(4)` (code cell 4, line 5)" in note
    assert "plot(5)" not in note and "and 2 more" in note
