"""ps5_backprop mutation suite: known-wrong implementations and predictions must lose points.

Each mutant in tests/mutants/ps5/mutants.py replaces one solution cell in a copy of the
instructor notebook (answer mutants override one prediction). Two levels:

* in-process (no sandbox): the notebook runs in one namespace with only the tests of the
  mutant's own function; every wrong mutant fails at least one of them, with a message
  that names the mistake where the test knows it; correct variants fail none;
* through the grading engine (``grade_notebook``): the reference scores full marks, the
  blank release 0, mutants lose points on their function's tests (graded in groups, each
  submission running only the tests that concern it), a forbidden-API mutant is caught,
  and a training function that reports a perfect accuracy next to untrained weights earns
  nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py, suite.py and ps5/harness.py
import suite  # noqa: E402
from ps5.harness import ANSWERS, H  # noqa: E402
from ps5 import mutants as _mutants_module  # noqa: E402

RELEASED = H.RELEASED
MUTANTS = H.load_mutants()
_run_in_process = suite.InProcess(H, MUTANTS, own_tests_only=True)


@pytest.fixture(scope="module")
def source_nb():
    return H.load()


# ------------------------------------------------------------------------ the mutants
def test_every_graded_function_has_three_wrong_mutants():
    missing = {f: n for f, n in suite.wrong_per_function(H, MUTANTS).items() if n < 3}
    assert not missing, f"functions with fewer than 3 wrong mutants: {missing}"


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xdist_group(f"ps5_mut_{t}"))
                                  for n, (t, _) in MUTANTS.items()])
def test_mutant_in_process(name, source_nb):
    suite.check_mutant_in_process(H, name, MUTANTS[name][0], _run_in_process(name, source_nb))


@pytest.mark.slow
@pytest.mark.parametrize("name, test_id, words", [
    ("conv2d_backward__no_flip", "test_conv2d_backward_hidden_grid", "kernel not flipped"),
    ("conv2d_backward__dx_stride_ignored", "test_conv2d_backward_stride_padding", "stride was ignored in dx"),
    ("conv2d_backward__padding_not_cropped", "test_conv2d_backward_stride_padding", "padded dx was not cropped"),
    ("conv2d_backward__db_wrong_axes", "test_conv2d_backward_hidden_grid", "db was summed over the wrong axes"),
    ("conv2d_backward__symmetric_same", "test_conv2d_backward_stride_padding", "cropped from the wrong sides"),
    ("pool2d_backward__all_ties", "test_pool2d_backward_ties", "every tied maximum received the gradient"),
    ("pool2d_backward__last_tie", "test_pool2d_backward_ties", "last tied maximum"),
    ("pool2d_backward__avg_not_divided", "test_pool2d_backward_public", "not divided by the window size"),
    ("pool2d_backward__avg_not_divided", "test_pool2d_backward_hidden_avg", "not divided by the window size"),
    ("numerical_gradient__one_sided", "test_numerical_gradient_hidden", "one-sided difference"),
    ("numerical_gradient__divided_by_h", "test_numerical_gradient_hidden", "divided by h instead of 2h"),
    ("numerical_gradient__fixed_step", "test_numerical_gradient_hidden", "step h passed in was not used"),
    ("numerical_gradient__nudges_x_in_place", "test_numerical_gradient_hidden", "modified x in place"),
    ("softmax_cross_entropy__not_divided", "test_softmax_cross_entropy_public", "not divided by N"),
    ("predict_conv__db_without_batch", "test_predict_conv_db", "batch was not counted"),
    ("predict_pool__all_ties", "test_predict_pool_max", "every tied maximum"),
    ("predict_pool__avg_not_divided", "test_predict_pool_avg", "not divided by the window size"),
    ("sgd_epoch__wrong_shapes", "test_sgd_epoch_capstone", "expected (400, 10)"),
    ("sgd_epoch__nan_weights", "test_sgd_epoch_capstone", "NaN or infinite"),
    ("sgd_epoch__solve_readout", "test_sgd_epoch_capstone", "epoch 1 of 10 did not do what correct gradients do"),
    ("sgd_epoch__frozen_conv", "test_sgd_epoch_capstone", "epoch 1 of 10"),
    ("cnn_loss__zero_conv_grads", "test_cnn_loss_hidden", "grads['w1']"),
])
def test_messages_name_the_mistake(name, test_id, words, source_nb):
    suite.check_message(name, test_id, words, _run_in_process(name, source_nb))


def test_answer_mutants_change_one_answer_each():
    """Each answer mutant overrides an answer variable its cell defines (no typo in the name)."""
    import ast

    for name, (target, line) in _mutants_module.ANSWER_MUTANTS.items():
        assert target in ANSWERS, name
        cell = next(c for c in H.load().cells if H.nbgrader(c).get("grade_id") == target)
        defined = {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                   for t in node.targets if isinstance(t, ast.Name)}
        assigned = ast.parse(line).body[0].targets[0].id
        assert assigned in defined, f"{name} assigns {assigned}, which {target} does not define"


# ---------------------------------------------------------------- through the engine
@pytest.fixture(scope="module")
def engine():
    return suite.engine(H.NAME)


@pytest.mark.slow
@pytest.mark.xdist_group("ps5_engine_ref")
def test_engine_reference_scores_full_marks(engine):
    res = suite.check_reference_full_marks(H, engine, automatic=56, manual=4)   # two written answers, by hand
    assert len(res.tests) == len(H.test_cells(H.load()))


@pytest.mark.slow
@pytest.mark.xdist_group("ps5_engine_ref")
def test_engine_blank_release_scores_zero(engine):
    if not RELEASED.exists():
        pytest.fail("exercises/ps5_backprop is missing: the release is committed; run `cnn-course release ps5_backprop` and commit it")
    res = suite.check_blank_release_zero(H, engine)
    assert {t.status for t in res.tests} <= {"failed", "error"}


# One submission per group: each mutant replaces a different cell, and the submission runs
# only the tests of the group's functions (the others pass with the reference anyway).
# sgd_epoch trains through cnn_loss and conv2d_backward: a mutant of sgd_epoch that must
# pass its public test shares a group only with conv2d_backward mutants whose dw and db
# are right (padding_not_cropped).
ENGINE_GROUPS = [
    ["conv2d_backward__no_flip", "pool2d_backward__all_ties", "numerical_gradient__one_sided",
     "rel_error__mean", "softmax_cross_entropy__not_divided", "predict_conv__db_without_batch"],
    ["conv2d_backward__dx_stride_ignored", "pool2d_backward__avg_not_divided", "numerical_gradient__fixed_step",
     "predict_pool__all_ties", "predict_gradcheck__relu_one", "cnn_loss__no_relu_backward"],
    ["conv2d_backward__padding_not_cropped", "pool2d_backward__last_tie", "numerical_gradient__nudges_x_in_place",
     "rel_error__no_floor", "sgd_epoch__solve_when_large"],
    ["conv2d_backward__db_wrong_axes", "numerical_gradient__divided_by_h", "sgd_epoch__untrained"],
]


@pytest.mark.slow
@pytest.mark.parametrize("group", [pytest.param(g, id=f"group{i}", marks=pytest.mark.xdist_group(f"ps5_engine_{i}"))
                                   for i, g in enumerate(ENGINE_GROUPS)])
def test_engine_mutants_lose_points(group, engine, source_nb, tmp_path):
    suite.check_engine_group(H, engine, MUTANTS, group, source_nb, tmp_path, _run_in_process)


@pytest.mark.slow
@pytest.mark.xdist_group("ps5_engine_forbidden")
def test_engine_forbidden_torch(engine, source_nb, tmp_path):
    """A conv2d_backward through torch loses its own points and, as cnn_loss and sgd_epoch
    call it, the capstone's too (the capstone trains with the student's gradients)."""
    assignment, grade = engine
    nb = H.replace_solution(source_nb, {"conv2d_backward": MUTANTS["conv2d_backward__forbidden_torch"][1]})
    path = suite.write(nb, tmp_path, H.NAME)
    tests = {t.grade_id for t in assignment.tests if H.function_of(t.grade_id) in ("conv2d_backward", "sgd_epoch")}
    res = grade(path, "forbidden", tests=tests)
    by = {t.name: t for t in res.tests}
    assert {t.status for t in by.values()} == {"forbidden"}, {g: t.status for g, t in by.items()}
    assert res.score == 0


@pytest.mark.slow
@pytest.mark.xdist_group("ps5_engine_forbidden")
def test_engine_forbidden_jax(engine, source_nb, tmp_path):
    """jax is forbidden like torch (jax.vjp of jax.lax.conv would do the backward pass): a
    conv2d_backward through it earns none of its points."""
    assignment, grade = engine
    assert {"jax", "jaxlib"} <= set(assignment.forbidden["modules"])
    nb = H.replace_solution(source_nb, {"conv2d_backward": MUTANTS["conv2d_backward__forbidden_jax"][1]})
    path = suite.write(nb, tmp_path, H.NAME)
    tests = {t.grade_id for t in assignment.tests if H.function_of(t.grade_id) == "conv2d_backward"}
    res = grade(path, "forbidden", tests=tests)
    assert res.tests and {t.status for t in res.tests} == {"forbidden"}, {t.name: t.status for t in res.tests}
    assert res.score == 0


@pytest.mark.slow
def test_solve_when_large_passes_public_but_not_the_capstone(source_nb):
    """An sgd_epoch that takes real steps on small inputs (its public test passes) but fits the
    read-out in closed form on the real training set earns nothing from the capstone."""
    run = _run_in_process("sgd_epoch__solve_when_large", source_nb)
    assert run.results["test_sgd_epoch_public"].passed, run.results["test_sgd_epoch_public"].error
    assert not run.results["test_sgd_epoch_capstone"].passed
    assert "epoch 1 of 10" in run.results["test_sgd_epoch_capstone"].error
