"""ps1_convolution mutation suite: known-wrong implementations must lose points.

Each mutant in tests/mutants/ps1/mutants.py replaces one function's solution cell in a
copy of the instructor notebook. Two levels:

* in-process (fast, no sandbox): the notebook's test cells run in one namespace; every
  wrong mutant must fail at least one test of its function, correct variants none;
* through the grading engine (``grade_notebook``, one sandbox per submission): the same
  outcome with the real proxies, the reference scores full marks, the blank released
  notebook scores 0 without disturbing the grader, and mutants that use a forbidden API
  get ``forbidden`` on that function's tests.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py, suite.py and ps1/harness.py
import suite  # noqa: E402
from ps1.harness import H  # noqa: E402

MUTANTS = H.load_mutants()
RELEASED = H.RELEASED


def _params():
    """One pytest param per mutant; a function's mutants share an xdist group (and a worker)."""
    return [pytest.param(name, id=name, marks=pytest.mark.xdist_group(f"ps1_mutants_{target}"))
            for name, (target, _) in MUTANTS.items()]


_run_in_process = suite.InProcess(H, MUTANTS, own_tests_only=False)   # cached: the engine test compares


@pytest.fixture(scope="module")
def source_nb():
    return H.load()


# ------------------------------------------------------------------------ the mutants
def test_every_graded_function_has_three_wrong_mutants():
    """Three wrong versions of every function, two wrong answers to every question."""
    wrong = suite.wrong_per_function(H, MUTANTS)
    missing = {f: n for f, n in wrong.items() if n < (2 if f in H.ANSWERS else 3)}
    assert not missing, f"functions with fewer than 3 (answers: 2) wrong mutants: {missing}"


# ------------------------------------------------------------------------- in-process
@pytest.mark.parametrize("name", _params())
def test_mutant_in_process(name, source_nb):
    # forbidden APIs compute correct values: only the engine catches them
    suite.check_mutant_in_process(H, name, MUTANTS[name][0], _run_in_process(name, source_nb))


@pytest.mark.parametrize("name, test_id, words", [
    ("pool2d__avg_is_sum", "test_pool2d_seed", "sum, not the mean"),
    ("conv2d_single__flip_inverted", "test_conv2d_single_seed", "flipped"),
    ("conv2d__same_symmetric", "test_conv2d_same", "symmetrically"),
    ("conv2d__bias_dropped", "test_conv2d_hidden_grid", "bias is missing"),
    ("conv2d__stride_pair_swapped", "test_conv2d_stride_padding", "strides along H and W are swapped"),
    ("conv2d__flips_w_in_place", "test_conv2d_unchanged_errors", "modified w in place"),
    ("conv_output_size__no_plus_one", "test_conv_output_size_seed", "+1 is missing"),
    ("same_padding__extra_before", "test_same_padding_hidden", "extra zero went before"),
    ("pool2d__stride_default_one", "test_pool2d_hidden_grid", "does not default to the window size"),
    ("conv_param_count__no_c_in", "test_conv_param_count_seed", "input channels are missing"),
    ("zero_pad__all_axes", "test_zero_pad_hidden_grid", "every axis was padded"),
])
def test_messages_name_the_mistake(name, test_id, words, source_nb):
    suite.check_message(name, test_id, words, _run_in_process(name, source_nb))


# ---------------------------------------------------------------- through the engine
@pytest.fixture(scope="module")
def engine():
    return suite.engine(H.NAME)


def _by_name(result):
    return {t.name: t for t in result.tests}


@pytest.mark.slow
@pytest.mark.xdist_group("ps1_engine_ref")
def test_engine_reference_scores_full_marks(engine):
    assignment, grade = engine
    res = grade(H.SOURCE, "reference")
    bad = {t.name: (t.status, t.message) for t in res.tests if t.status != "passed"}
    assert res.status == "graded" and not bad, bad
    assert res.score == res.max_score == assignment.max_score
    assert len(res.tests) == len(H.test_cells(H.load()))


@pytest.mark.slow
@pytest.mark.xdist_group("ps1_engine_ref")
def test_engine_blank_release_scores_zero(engine):
    if not RELEASED.exists():
        pytest.fail("exercises/ps1_convolution is missing: the release is committed; run `cnn-course release ps1_convolution` and commit it")
    assignment, grade = engine
    res = grade(RELEASED, "blank")
    assert res.status == "graded", res.message
    assert res.score == 0, {t.name: t.status for t in res.tests if t.points}
    statuses = {t.status for t in res.tests}
    assert statuses <= {"failed", "error"}, f"the blank notebook should fail cleanly, got {statuses}"
    assert res.durations.get("sandbox_starts", 1) == 1, "the blank notebook crashed the sandbox"
    for t in res.tests:                    # the student is told what is missing, not the hidden code
        if H.function_of(t.name) in H.ANSWERS:
            assert "still None" in t.message, (t.name, t.message)
            continue
        assert "NotImplementedError" in t.message or "not implemented" in t.message.lower(), (t.name, t.message)
        assert "ref." not in t.message and "solutions" not in t.message, (t.name, t.message)


@pytest.mark.slow
@pytest.mark.parametrize("name", _params())
def test_engine_mutant(name, engine, source_nb, tmp_path):
    assignment, grade = engine
    target, src = MUTANTS[name]
    res = grade(suite.write(H.replace_solution(source_nb, {target: src}), tmp_path, name), name)
    assert res.status == "graded", res.message
    tests = _by_name(res)
    own = {g: t for g, t in tests.items() if H.function_of(g) == target}
    kind = H.mutant_kind(name)
    if kind == "ok":
        bad = {g: (t.status, t.message) for g, t in tests.items() if t.status != "passed"}
        assert not bad and res.score == res.max_score, bad
    elif kind == "forbidden":
        assert {t.status for t in own.values()} == {"forbidden"}, {g: t.status for g, t in own.items()}
        assert res.score == res.max_score - sum(t.max_points for t in own.values())
    else:
        lost = {g for g, t in own.items() if t.status != "passed"}
        assert lost, f"{name}: graded full marks on {target}'s tests"
        assert res.score < res.max_score
        assert {t.status for t in tests.values()} <= {"passed", "failed", "error"}, \
            {g: t.status for g, t in tests.items()}
        # the engine and the in-process run agree on which tests catch the mutant; a function
        # that changes its inputs in place spoils the in-process run's later checks too, while
        # the engine gives it private copies and catches it only where modification is checked
        run = _run_in_process(name, source_nb)
        if "in_place" in name:
            assert lost and lost <= set(run.failed_for(target)), (lost, run.failed_for(target))
        else:
            assert lost == set(run.failed_for(target)), (lost, run.failed_for(target))
