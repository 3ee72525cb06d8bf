"""ps6_modern_cnn: the instructor notebook is well formed and its solutions pass every test
in-process (demos included); the release hides what it must (model answers of the hand-graded
questions included) and keeps every prediction at None; points are shared as the course
requires (>= 20% graded reasoning, <= 10% input hygiene, a hand-graded explanation)."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))
import suite  # noqa: E402
from ps6.harness import ANSWERS, FUNCTIONS, H  # noqa: E402

REASONING = {"test_predict_bn_stats", "test_predict_bn_running", "test_predict_dropout", "test_predict_im2col",
             "test_predict_conv_transpose", "test_predict_bottleneck_params", "test_predict_bottleneck_macs"}
HYGIENE = {"test_batchnorm2d_forward_unchanged", "test_conv_transpose2d_unchanged"}
HAND_GRADED = {"answer_explain_bias": 3.0, "answer_explain_depth": 3.0}


@pytest.fixture(scope="module")
def nb():
    return H.load()


def test_cells_have_stable_ids_and_no_outputs(nb):
    suite.check_stable_ids_and_no_outputs(H, nb)


def test_every_graded_function_has_tests_and_every_test_an_owner(nb):
    owners = {H.function_of(g) for g in suite.points(H, nb)}
    assert owners == set(FUNCTIONS), set(FUNCTIONS) ^ owners
    for f in FUNCTIONS:
        if f not in ANSWERS and f != "DigitsResNet":     # hidden: through train_epoch's capstone tests
            kinds = {H.is_hidden(c.source) for c in H.test_cells(nb) if H.function_of(H.nbgrader(c)["grade_id"]) == f}
            assert kinds == {True, False}, f"{f}: needs a public and a hidden test, has {kinds}"


def test_points_by_kind(nb):
    pts = suite.points(H, nb)
    manual = suite.manual_points(H, nb)
    assert manual == HAND_GRADED
    assert REASONING <= set(pts) and HYGIENE <= set(pts)
    assert {g for g in pts if g.startswith("test_predict")} == REASONING
    total = sum(pts.values()) + sum(manual.values())
    reasoning, hygiene = sum(pts[g] for g in REASONING), sum(pts[g] for g in HYGIENE)
    mechanics = sum(pts.values()) - reasoning - hygiene
    assert (reasoning, mechanics, hygiene, sum(manual.values()), total) == (16, 53, 2, 6, 77)
    assert reasoning / total >= 0.20 and hygiene / total <= 0.10


@pytest.mark.slow
def test_reference_passes_every_test_with_demos(nb):
    run = H.run_notebook(nb, skip_demos=False)
    bad = {g: r.error for g, r in run.results.items() if not r.passed}
    assert not bad and not run.demo_errors, (bad, run.demo_errors)
    assert run.score == run.max_score == 71


@pytest.fixture(scope="module")
def released():
    return H.load(H.RELEASED)


def test_release_keeps_predictions_at_none_and_hides_model_answers(nb, released):
    cells = {c.id: c for c in released.cells}
    for gid in ANSWERS:
        tree = ast.parse(cells[gid].source)
        values = [node.value for node in tree.body if isinstance(node, ast.Assign)]
        assert values and all(isinstance(v, ast.Constant) and v.value is None for v in values), gid
    text = "\n".join(c.source for c in released.cells)
    for gid in HAND_GRADED:
        assert cells[gid].source.strip() == "YOUR ANSWER HERE", gid
    for secret in ("Model answer", "Rubric", "### BEGIN", "modern_capstone", "8064", "458640"):
        assert secret not in text, secret
    assert len(H.test_cells(released)) == len(H.test_cells(nb))
