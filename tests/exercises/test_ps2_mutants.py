"""ps2_shapes mutation suite: known-wrong implementations must lose points.

Each mutant in tests/mutants/ps2/mutants.py replaces one function's solution cell in a
copy of the instructor notebook. Two levels:

* in-process (no sandbox): the notebook's cells run in one namespace; every wrong mutant,
  alone, fails at least one test of its own function; correct variants fail none;
* through the grading engine (``grade_notebook``, one sandbox per submission): the
  reference scores full marks, the blank release scores 0 without disturbing the grader,
  the forbidden mutant gets ``forbidden`` on its function's tests, and the wrong mutants,
  packed into a few notebooks so that in each one every mutant is still caught by a test
  that no other mutant of that notebook can affect, lose exactly the tests they lose
  in-process.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py, suite.py and ps2/harness.py
import suite  # noqa: E402
from ps2.harness import H, calls, pack  # noqa: E402

MUTANTS = H.load_mutants()
WRONG = {n: m for n, m in MUTANTS.items() if H.mutant_kind(n) == "wrong"}
OK = {n: m for n, m in MUTANTS.items() if H.mutant_kind(n) == "ok"}
FORBIDDEN = {n: m for n, m in MUTANTS.items() if H.mutant_kind(n) == "forbidden"}

pytestmark = pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel:UserWarning")


@pytest.fixture(scope="module")
def source_nb():
    return H.load()


@pytest.fixture(scope="module")
def single_runs(source_nb):
    """{mutant: the in-process Run of the notebook with that mutant alone} (wrong and ok ones)."""
    return {name: H.run_notebook(H.replace_solution(source_nb, {target: src}))
            for name, (target, src) in {**WRONG, **OK}.items()}


# ------------------------------------------------------------------------ the mutants
def test_every_graded_function_has_three_wrong_mutants(source_nb):
    per = suite.wrong_per_function(H, MUTANTS)
    assert all(n >= 3 for n in per.values()), per
    solution_ids = {H.nbgrader(c)["grade_id"] for c in source_nb.cells if H.nbgrader(c).get("solution")}
    assert solution_ids == set(H.FUNCTIONS)
    assert {H.function_of(H.nbgrader(c)["grade_id"]) for c in H.test_cells(source_nb)} == set(H.FUNCTIONS)


# ------------------------------------------------------------------------- in-process
@pytest.mark.xdist_group("ps2_inproc")
def test_reference_passes_in_process(source_nb):
    run = H.run_notebook(source_nb)
    assert not run.failed, {g: run.results[g].error for g in run.failed}
    assert not run.demo_errors, run.demo_errors
    assert run.score == run.max_score == 50


@pytest.mark.xdist_group("ps2_inproc")
def test_wrong_mutants_fail_their_own_tests(single_runs):
    missed = [name for name in WRONG if not single_runs[name].failed_for(WRONG[name][0])]
    assert not missed, f"mutants no test of their function catches: {missed}"


@pytest.mark.xdist_group("ps2_inproc")
def test_correct_variants_keep_full_marks(single_runs):
    for name in OK:
        run = single_runs[name]
        assert not run.failed, (name, {g: run.results[g].error for g in run.failed})


@pytest.mark.xdist_group("ps2_inproc")
@pytest.mark.parametrize("name, test_id, words", [
    ("conv_output_size__no_plus_one", "test_conv_output_size_seeds", "+1 is missing"),
    ("conv_output_size__same_floor", "test_conv_output_size_padding_exact", "floored"),
    ("conv_output_size__exact_ignored", "test_conv_output_size_padding_exact", "does not fit"),
    ("layer_output_shape__pool_stride_one", "test_layer_output_shape_each_type", "default to its pool_size"),
    ("layer_output_shape__dense_flattens", "test_layer_output_shape_each_type", "last axis"),
    ("layer_output_shape__no_errors", "test_layer_output_shape_errors", "should raise ValueError"),
    ("layer_param_count__conv_bias_always", "test_layer_param_count_seeds", "use_bias=False is ignored"),
    ("layer_param_count__bn_all_trainable", "test_layer_param_count_seeds", "counted as trainable"),
    ("layer_param_count__bn_two_c", "test_layer_param_count_seeds", "only gamma and beta"),
    ("summarize__names_not_numbered", "test_summarize_mnist", "row 1"),
    ("summarize__error_without_index", "test_summarize_errors", "'layer 2'"),
    ("summarize__bn_all_trainable", "test_summarize_batchnorm", "non-trainable params"),
    ("vgg16_layers__last_dense_4096", "test_vgg16_layers", "VGG16 total params"),
])
def test_messages_name_the_mistake(name, test_id, words, single_runs):
    result = single_runs[name].results[test_id]
    assert not result.passed and words in result.error, (name, result.error)


# ---------------------------------------------------------------- through the engine
@pytest.fixture(scope="module")
def engine():
    assignment, grade_all = suite.engine(H.NAME)     # the project's own engine: an ImportError fails

    def grade(path, sid="student"):
        res = grade_all(path, sid)
        assert res.status == "graded", res.message
        return res, {t.name: t for t in res.tests}

    return assignment, grade


_write = suite.write


@pytest.mark.slow
@pytest.mark.xdist_group("ps2_engine")
def test_engine_reference_scores_full_marks(engine, source_nb):
    assignment, grade = engine
    res, tests = grade(H.SOURCE, "reference")
    bad = {g: (t.status, t.message) for g, t in tests.items() if t.status != "passed"}
    assert not bad and res.score == res.max_score == assignment.max_score == 50, bad
    assert len(tests) == len(H.test_cells(source_nb))


@pytest.mark.slow
@pytest.mark.xdist_group("ps2_engine")
def test_engine_blank_release_scores_zero(engine):
    if not H.RELEASED.exists():
        pytest.fail("exercises/ps2_shapes is missing: the release is committed; run `cnn-course release ps2_shapes` and commit it")
    _, grade = engine
    res, tests = grade(H.RELEASED, "blank")
    assert res.score == 0, {g: t.status for g, t in tests.items() if t.points}
    assert {t.status for t in tests.values()} <= {"failed", "error"}
    assert res.durations.get("sandbox_starts", 1) == 1, "the blank notebook crashed the sandbox"
    for g, t in tests.items():   # the student learns what is missing, never the hidden code
        if H.function_of(g) in H.ANSWERS:
            assert "still None" in t.message, (g, t.message)
        else:
            assert "NotImplementedError" in t.message, (g, t.message)
        assert "ref." not in t.message and "solutions" not in t.message, (g, t.message)


@pytest.mark.slow
@pytest.mark.xdist_group("ps2_engine")
def test_engine_correct_variants_and_forbidden(engine, source_nb, tmp_path):
    assert FORBIDDEN, "the suite should include a forbidden-API mutant"
    _, grade = engine
    nb = H.replace_solution(source_nb, {target: src for target, src in OK.values()})
    res, tests = grade(_write(nb, tmp_path, "ok_variants"), "ok_variants")
    assert res.score == res.max_score, {g: (t.status, t.message) for g, t in tests.items() if t.status != "passed"}
    for name, (target, src) in FORBIDDEN.items():
        res, tests = grade(_write(H.replace_solution(source_nb, {target: src}), tmp_path, name), name)
        own = {g: t.status for g, t in tests.items() if H.function_of(g) == target}
        assert set(own.values()) == {"forbidden"}, own
        # tests that reach the function through the student's own code (summarize) lose too;
        # the others keep their points
        for g, t in tests.items():
            reaches = target in calls(g, t.visibility == "hidden")
            assert t.status == ("forbidden" if reaches else "passed"), (g, t.status, t.message)


@pytest.mark.slow
@pytest.mark.xdist_group("ps2_engine")
def test_engine_wrong_mutants_lose_points(engine, source_nb, single_runs, tmp_path):
    _, grade = engine
    hidden = {g: r.hidden for g, r in H.run_notebook(source_nb).results.items()}
    caught_by = {name: single_runs[name].failed_for(target) for name, (target, _) in WRONG.items()}
    groups = pack(WRONG, caught_by, hidden)
    assert sorted(m for g in groups for m in g) == sorted(WRONG)
    for k, group in enumerate(groups):
        nb = H.replace_solution(source_nb, {WRONG[m][0]: WRONG[m][1] for m in group})
        res, tests = grade(_write(nb, tmp_path, f"group{k}"), f"group{k}")
        engine_failed = {g for g, t in tests.items() if t.status != "passed"}
        assert {t.status for t in tests.values()} <= {"passed", "failed", "error"}
        # the engine fails exactly the tests the in-process run fails
        assert engine_failed == set(H.run_notebook(nb).failed), group
        targets = {WRONG[m][0] for m in group}
        for m in group:   # every mutant loses points on a test no other mutant here touches
            clean = {t for t in caught_by[m] if calls(t, hidden[t]) & targets == {WRONG[m][0]}}
            assert clean & engine_failed, (m, group)
            assert sum(tests[t].points for t in caught_by[m]) < sum(tests[t].max_points for t in caught_by[m])
    # the packing keeps the suite fast: a handful of gradings instead of one per mutant
    assert len(groups) < len(WRONG) / 2, [len(g) for g in groups]
