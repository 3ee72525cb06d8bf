"""A student can earn every point from the release, and a failing check shows them their own line.

``test_filled_release_earns_full_marks``: for each exercise, take the *released* notebook and
fill it as a student who knows the material would, using only what the release shows: each
``# YOUR CODE HERE`` / ``raise NotImplementedError()`` stub gets the reference code of that
place (the instructor's solution region), except that a statement assigning or defining a name
the tests read is written only when the release names it somewhere a student reads (the
instructions, a stub line such as ``answer_x = None``, a signature: ``release.shown_text``). A
student cannot guess a name the release never writes. The grading engine (sandbox, public and
hidden tests) must then give full marks. ps5 before dd5b74e lost its 13 prediction points here.

``test_failing_public_test_shows_the_students_line_and_the_message``: a released cell run in
Jupyter (nbclient, the installed IPython) with a wrong answer: the traceback ends at the test's
own line and the message, with no frame of autograder/tools/checks.py above it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from autograder import cells
from autograder import release as rel

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = rel.find_assignments(ROOT / "solutions")
STUB = [line.strip() for line in cells.CODE_STUB.split("\n")]


def _nbg(cell) -> dict:
    return cells.nbgrader_of(cell)


def _student_region(region: list[str], unknown: set[str]) -> list[str]:
    """The lines of a solution region a student writes: without the top-level statements that bind
    a name the tests read but the release never shows (``unknown``): the student cannot know it."""
    if not unknown or not region or region[0][:1].isspace():
        return region
    try:
        tree = ast.parse("\n".join(region))
    except SyntaxError:
        return region
    drop: set[int] = set()
    for node in tree.body:
        bound = {node.name} if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else {
            n.id for t in getattr(node, "targets", [getattr(node, "target", None)]) if t is not None
            for n in ast.walk(t) if isinstance(n, ast.Name)}
        if bound & unknown:
            drop.update(range(node.lineno - 1, node.end_lineno))
    return [line for i, line in enumerate(region) if i not in drop]


def student_fill(source_nb, released_nb, probes: dict) -> tuple[nbformat.NotebookNode, set[str]]:
    """(the release with every stub filled from the source's solution regions, the names left
    out because the release never shows them)."""
    shown = rel.shown_text(released_nb)
    read = rel.graded_names_read(source_nb, probes)
    unknown = {n for n in read if not re.search(rel._WORD.format(re.escape(n)), shown)}
    by_id = {_nbg(c).get("grade_id"): c for c in source_nb.cells if _nbg(c).get("grade_id")}
    filled = nbformat.from_dict(released_nb)                       # deep copy
    for cell in filled.cells:
        meta = _nbg(cell)
        if cell.cell_type != "code" or not cells.is_solution(meta):
            continue
        regions, region, inside = [], [], False
        for line in by_id[meta["grade_id"]].source.split("\n"):
            if cells.BEGIN_SOLUTION in line:
                inside, region = True, []
            elif cells.END_SOLUTION in line:
                inside = False
                regions.append(region)
            elif inside:
                region.append(line)
        lines, out, k, i = cell.source.split("\n"), [], 0, 0
        while i < len(lines):
            if [s.strip() for s in lines[i:i + 2]] == STUB:
                out += _student_region(regions[k], unknown)
                k, i = k + 1, i + 2
            else:
                out.append(lines[i])
                i += 1
        assert k == len(regions), f"{meta['grade_id']}: {k} stubs in the release, {len(regions)} solution regions"
        cell.source = "\n".join(out)
    return filled, unknown


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_filled_release_earns_full_marks(name, tmp_path):
    from autograder.assignment import load_assignment
    from autograder.engine import grade_notebook, isolation_available

    released_path = ROOT / "exercises" / name / f"{name}.ipynb"
    if not released_path.is_file():
        pytest.fail(f"{released_path} is missing: run `cnn-course release {name}`.")
    source = nbformat.read(str(ROOT / "solutions" / name / f"{name}.ipynb"), as_version=4)
    released = nbformat.read(str(released_path), as_version=4)
    filled, unknown = student_fill(source, released, rel._probes(ROOT / "solutions" / name))
    assert not [c for c in filled.cells if cells.is_solution(_nbg(c)) and STUB[1] in map(str.strip, c.source.split("\n"))]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(filled, str(path))
    assignment = load_assignment(name, source_dir=ROOT / "solutions")
    result = grade_notebook(assignment, path, "student-from-release", insecure=isolation_available() is None)
    lost = {t.name: t.message for t in result.tests if t.points < t.max_points}
    assert result.status == "graded", result.message
    assert not lost, (f"{name}: points out of reach from the release (names it never shows: {sorted(unknown)}): "
                      f"{lost}")
    assert result.score == pytest.approx(assignment.auto_max) and assignment.auto_max > 0
    assert {t.visibility for t in result.tests} == {"public", "hidden"}


# ---------------------------------------------------------------- what a failing check looks like in Jupyter


def test_failing_public_test_shows_the_students_line_and_the_message():
    import nbclient

    folder = ROOT / "exercises" / "ps2_shapes"
    released = nbformat.read(str(folder / "ps2_shapes.ipynb"), as_version=4)
    by_id = {_nbg(c).get("grade_id"): c for c in released.cells}
    wrong = by_id["conv_output_size"].source.replace(
        cells.CODE_STUB.split("\n")[1], "return (n + 2 * p - k) // s   # the +1 is missing")
    test = by_id["test_conv_output_size_seeds"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(by_id["setup"].source),
                                         nbformat.v4.new_code_cell(wrong),
                                         nbformat.v4.new_code_cell(test.source)],
                                  metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nbclient.NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    assert [o.output_type for c in nb.cells[:2] for o in c.outputs if o.output_type == "error"] == []
    (error,) = [o for o in nb.cells[2].outputs if o.output_type == "error"]
    text = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
    assert "checks.py" not in text and "_with_hint" not in text, text
    first_call = next(line for line in test.source.split("\n") if line.startswith("assert_equal("))
    assert first_call in text, text                                   # the student's own line, marked
    assert re.search(r"-+> *\d+ " + re.escape(first_call), text), text
    assert text.rstrip().splitlines()[-1].startswith(
        "AssertionError: conv_output_size(7, 3) is 4, expected 5. It looks like the +1 is missing."), text
