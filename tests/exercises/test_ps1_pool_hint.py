"""ps1's public pool2d test names the "average instead of max" mistake, as its hidden test does.

A pool2d whose default mode is "avg" fails ``test_pool2d_seed`` with a message that says so;
before, the public test only showed the values and only the hidden test (run when the
notebook is submitted) named the mistake. The reference solution cell is edited in a copy
(tests/mutants/harness.py's ``edit_source``), never in the notebook.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))
import suite  # noqa: E402
from harness import edit_source, nbgrader  # noqa: E402
from ps1.harness import H  # noqa: E402

DEFAULT_AVG = [('def pool2d(x, k, stride=None, mode="max"):', 'def pool2d(x, k, stride=None, mode="avg"):')]


def run_with_pool2d_edited(edits, path: Path | None = None):
    nb = H.load(path)
    cell = next(c for c in nb.cells if nbgrader(c).get("grade_id") == "pool2d" and nbgrader(c).get("solution"))
    src = "\n".join(line for line in cell.source.splitlines()
                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return H.run_notebook(suite.only_tests_of(H, H.replace_solution(nb, {"pool2d": edit_source(src, edits)}),
                                              {"pool2d"}))


def test_average_instead_of_max_is_named_by_the_public_test():
    result = run_with_pool2d_edited(DEFAULT_AVG).results["test_pool2d_seed"]
    assert not result.passed
    assert "averages instead of taking the max (mode='max' is the default)" in result.error, result.error
