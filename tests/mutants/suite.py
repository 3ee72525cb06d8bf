"""Checks shared by the per-assignment notebook, mutant and grading tests
(tests/exercises/test_ps*_notebook.py, test_ps*_mutants.py, test_ps6_grading.py).

Each function takes the assignment's ``Assignment`` (``H``, tests/mutants/harness.py) and
asserts; the test files keep their own parametrisation, numbers and specific checks.
Imported as ``suite`` with tests/mutants on ``sys.path``.
"""
from __future__ import annotations

import dataclasses
import re

import nbformat
from harness import ROOT

EXPECTED_VALUE = re.compile(r"expected[ :]+[-\d(\[]")   # a reference value in a message


# ------------------------------------------------------------------------ the notebook
def points(H, nb) -> dict[str, float]:
    """{grade_id: points} of the notebook's automatic tests."""
    return {H.nbgrader(c)["grade_id"]: float(H.nbgrader(c)["points"]) for c in H.test_cells(nb)}


def manual_points(H, nb) -> dict[str, float]:
    """{grade_id: points} of the hand-graded (markdown) answers."""
    return {H.nbgrader(c)["grade_id"]: float(H.nbgrader(c)["points"]) for c in nb.cells
            if c.cell_type == "markdown" and H.nbgrader(c).get("grade")}


def check_stable_ids_and_no_outputs(H, nb):
    ids = [c.get("id") for c in nb.cells]
    assert all(ids) and len(ids) == len(set(ids))
    for cell in nb.cells:
        gid = H.nbgrader(cell).get("grade_id")
        if gid:
            assert cell.id == gid, (cell.id, gid)
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.id


def hidden_tests(H) -> set[str]:
    return {H.nbgrader(c)["grade_id"] for c in H.test_cells(H.load()) if H.is_hidden(c.source)}


# ------------------------------------------------------------------------ mutants in-process
def only_tests_of(H, nb, functions):
    """A copy of ``nb`` without the test cells of other functions (demos stay)."""
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if not H.is_test(c) or H.function_of(H.nbgrader(c)["grade_id"]) in functions]
    return nb


def wrong_per_function(H, mutants) -> dict[str, int]:
    """{graded function: how many wrong mutants it has} (every function listed)."""
    wrong = {f: 0 for f in H.FUNCTIONS}
    for name, (target, _) in mutants.items():
        if H.mutant_kind(name) == "wrong":
            wrong[target] += 1
    return wrong


class InProcess:
    """The in-process runs of single mutants, cached (the engine tests compare with them).

    ``own_tests_only``: the notebook keeps only the test cells of the mutant's function.
    """

    def __init__(self, H, mutants, *, own_tests_only: bool):
        self.H, self.mutants, self.own_tests_only = H, mutants, own_tests_only
        self.runs: dict = {}

    def __call__(self, name, source_nb):
        if name not in self.runs:
            target, src = self.mutants[name]
            nb = self.H.replace_solution(source_nb, {target: src})
            self.runs[name] = self.H.run_notebook(only_tests_of(self.H, nb, {target}) if self.own_tests_only else nb)
        return self.runs[name]


def check_mutant_in_process(H, name, target, run):
    """A wrong mutant fails a test of its own function; a correct (or forbidden: right values)
    variant fails none."""
    if H.mutant_kind(name) == "wrong":
        assert run.failed_for(target), f"{name}: no test of {target} catches this mutant"
    else:
        assert not run.failed, f"{name}: a correct variant fails {run.failed}: " + \
            "; ".join(run.results[g].error for g in run.failed)


def check_message(name, test_id, words, run):
    """Mutant ``name`` fails ``test_id`` with a message containing ``words``."""
    assert not run.results[test_id].passed, f"{name} passes {test_id}"
    assert words in run.results[test_id].error, run.results[test_id].error


# ------------------------------------------------------------------------ through the engine
def engine(name: str):
    """(assignment, grade): ``grade(path, sid, tests=None)`` grades a notebook with the
    project's own engine, on the tests ``tests`` (grade_ids) or all of them. An ImportError of
    the engine fails the test: it is never skipped."""
    from autograder.assignment import load_assignment
    from autograder.engine import grade_notebook, isolation_available

    assignment = load_assignment(name, source_dir=ROOT / "solutions")
    insecure = isolation_available() is None

    def grade(path, sid="student", tests=None):
        sub = assignment if tests is None else dataclasses.replace(
            assignment, tests=[t for t in assignment.tests if t.grade_id in tests])
        return grade_notebook(sub, path, sid, insecure=insecure)

    return assignment, grade


def write(nb, tmp_path, name: str):
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(path))
    return path


def check_reference_full_marks(H, engine, automatic: float, manual: float):
    """The source notebook earns every automatic point (``automatic``; ``manual`` by hand)."""
    assignment, grade = engine
    res = grade(H.SOURCE, "reference")
    bad = {t.name: (t.status, t.message) for t in res.tests if t.status != "passed"}
    assert res.status == "graded" and not bad, bad
    assert res.score == res.max_score == assignment.max_score - assignment.manual_max == automatic
    assert assignment.manual_max == manual
    return res


def check_blank_release_zero(H, engine):
    """The released notebook, unanswered, earns nothing and is told nothing hidden."""
    _, grade = engine
    res = grade(H.RELEASED, "blank")
    assert res.status == "graded", res.message
    assert res.score == 0, {t.name: t.status for t in res.tests if t.points}
    for t in res.tests:                    # the student is told what is missing, not the hidden code
        assert "ref." not in t.message and "solutions" not in t.message, (t.name, t.message)
    return res


def check_engine_group(H, engine, mutants, group, source_nb, tmp_path, in_process):
    """One submission with every mutant of ``group`` (one per function) graded on their
    functions' tests: each loses points, on the tests that catch it in-process, and a hidden
    test names the mistake, never a reference value."""
    assignment, grade = engine
    targets = [mutants[name][0] for name in group]
    assert len(set(targets)) == len(targets), "one mutant per function in a group"
    nb = H.replace_solution(source_nb, {mutants[name][0]: mutants[name][1] for name in group})
    tests = {t.grade_id for t in assignment.tests if H.function_of(t.grade_id) in targets}
    res = grade(write(nb, tmp_path, H.NAME), "mutants", tests=tests)
    assert res.status == "graded", res.message
    by = {t.name: t for t in res.tests}
    hidden = hidden_tests(H)
    for name, target in zip(group, targets):
        own = {g: t for g, t in by.items() if H.function_of(g) == target}
        lost = {g for g, t in own.items() if t.status != "passed"}
        assert lost, f"{name}: graded full marks on {target}'s tests"
        assert {own[g].status for g in lost} <= {"failed", "error"}, {g: own[g].status for g in lost}
        # the engine and the in-process run agree on which tests catch it
        assert lost == set(in_process(name, source_nb).failed_for(target)), (name, lost)
        for g in lost & hidden:              # a hidden test names the mistake, never the answer
            assert not EXPECTED_VALUE.search(own[g].message), (name, g, own[g].message)
