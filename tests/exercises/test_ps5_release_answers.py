"""ps5_backprop: the predict-before-you-run points can be earned from the release alone.

The hidden tests of the three "predict" cells read variables (``answer_dout_shape``, ...,
``answer_relu_at_zero``; 13 of the 56 autograded points). A student sees only the released notebook,
so every one of those names must be written there, outside the solution block (the
``answer_x = None`` lines). The test fills the release as a student would: it replaces
each ``None`` the release shows by the right value (taken from the instructor's solution
block by name) and deletes the ``raise NotImplementedError()`` line; nothing else. Those
answers must earn all 13 points, and the untouched release must fail them without a
NameError (the names exist, they are just still None, and the message says so).
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))
from ps5.harness import ANSWERS, H  # noqa: E402

pytestmark = pytest.mark.xdist_group("ps5_notebook")
NONE_LINE = re.compile(r"^(answer_\w+)\s*=\s*None\b")


def _cell(nb, gid):
    return next(c for c in nb.cells if H.nbgrader(c).get("grade_id") == gid)


def _solution_values(source: str) -> dict[str, str]:
    """{name: value source} of the assignments inside the solution block."""
    body = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    return {node.targets[0].id: ast.get_source_segment(body, node.value) for node in ast.parse(body).body}


def names_read_by_hidden_tests(nb) -> set[str]:
    return {name for c in H.test_cells(nb) if H.function_of(H.nbgrader(c)["grade_id"]) in ANSWERS
            for name in re.findall(r"\banswer_\w+", c.source)}


def names_shown(released) -> dict[str, set[str]]:
    """{answer cell: the answer_* names its released text asks for (``answer_x = None``)}."""
    return {gid: {m.group(1) for line in _cell(released, gid).source.splitlines()
                  if (m := NONE_LINE.match(line.strip()))} for gid in ANSWERS}


def student_fill(release_source: str, values: dict[str, str]) -> str:
    """What a student writes: each shown ``answer_x = None`` gets a value; the raise goes."""
    out = []
    for line in release_source.splitlines():
        m = NONE_LINE.match(line.strip())
        if m:
            out.append(f"{m.group(1)} = {values[m.group(1)]}")
        elif line.strip() != "raise NotImplementedError()":
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def released():
    if not H.RELEASED.exists():
        pytest.fail("exercises/ps5_backprop is missing: the release is committed; run `cnn-course release ps5_backprop` and commit it")
    return H.load(H.RELEASED)


def test_release_names_every_answer_the_hidden_tests_read(released):
    wanted = names_read_by_hidden_tests(H.load())
    shown = set().union(*names_shown(released).values())
    assert len(wanted) == 11, sorted(wanted)
    assert wanted <= shown, f"the release never names {sorted(wanted - shown)}"
    for gid in ANSWERS:          # and in the instructor source, outside the solution block
        head = _cell(H.load(), gid).source.split("### BEGIN SOLUTION")[0]
        assert names_shown(released)[gid] <= set(re.findall(r"^(answer_\w+)\s*=\s*None", head, flags=re.M)), gid


@pytest.mark.slow
def test_filling_the_release_earns_the_prediction_points(released):
    source = H.load()
    fills = {}
    for gid in ANSWERS:
        values = _solution_values(_cell(source, gid).source)
        fills[gid] = student_fill(_cell(released, gid).source, values)
    nb = H.replace_solution(source, fills)
    nb.cells = [c for c in nb.cells if not H.is_test(c) or H.function_of(H.nbgrader(c)["grade_id"]) in ANSWERS]
    run = H.run_notebook(nb)
    graded = {g: r for g, r in run.results.items() if H.function_of(g) in ANSWERS}
    assert len(graded) == 11 and all(r.passed for r in graded.values()), \
        {g: r.error for g, r in graded.items() if not r.passed}
    assert run.score == 13

    # the release as it is (only the raise deleted): every answer is None, so every
    # prediction test fails, and none because a name is missing
    blank = H.replace_solution(source, {gid: student_fill(_cell(released, gid).source,
                                                          dict.fromkeys(names_shown(released)[gid], "None"))
                                        for gid in ANSWERS})
    blank.cells = [c for c in blank.cells if not H.is_test(c) or H.function_of(H.nbgrader(c)["grade_id"]) in ANSWERS]
    run = H.run_notebook(blank)
    for gid, r in run.results.items():
        if H.function_of(gid) in ANSWERS:
            assert not r.passed and "is still None: replace None by your prediction" in r.error, (gid, r.error)
