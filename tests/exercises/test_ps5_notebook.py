"""ps5_backprop: the instructor notebook is well formed, built from its generator, and its
solutions pass every test in-process; the release hides what it must (model answers of the
hand-graded questions included); points are shared as the course requires (>= 20% graded
reasoning, <= 10% input hygiene).
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py and ps5/harness.py
import suite  # noqa: E402
from ps5.harness import ANSWERS, H  # noqa: E402

pytestmark = pytest.mark.xdist_group("ps5_notebook")
GRADING = tomllib.loads((H.ROOT / "solutions" / "ps5_backprop" / "grading.toml").read_text())
REASONING = {"test_predict_conv_dout_shape", "test_predict_conv_db", "test_predict_conv_dx", "test_predict_conv_dx_stride2",
             "test_predict_conv_dx_padded",
             "test_predict_pool_max", "test_predict_pool_avg", "test_predict_pool_overlap",
             "test_predict_gradcheck_centred", "test_predict_gradcheck_one_sided", "test_predict_gradcheck_relu"}
HYGIENE = {"test_conv2d_backward_errors", "test_pool2d_backward_errors"}
# written answers graded by hand: {grade_id: points}
HAND_GRADED = {"answer_explain_flip": 2.0, "answer_explain_kinks": 2.0}


@pytest.fixture(scope="module")
def nb():
    return H.load()


# ------------------------------------------------------------------------- structure
def test_cells_have_stable_ids_and_no_outputs(nb):
    suite.check_stable_ids_and_no_outputs(H, nb)


def test_tests_public_or_hidden_and_each_function_has_both(nb):
    kinds: dict[str, set] = {}
    for cell in H.test_cells(nb):
        meta = H.nbgrader(cell)
        gid = meta["grade_id"]
        assert meta.get("locked") and meta["points"] > 0, gid
        src = cell.source.strip()
        hidden = H.is_hidden(src)
        kinds.setdefault(H.function_of(gid), set()).add("hidden" if hidden else "public")
        if hidden:
            assert src.startswith("### BEGIN HIDDEN TESTS") and src.endswith("### END HIDDEN TESTS"), gid
            assert "run_student" not in src, f"{gid}: hidden tests may only use run_probe"
            imports = re.findall(r"^\s*(?:import|from)\s+solutions\b.*$", src, flags=re.M)
            assert all(re.fullmatch(r"\s*import solutions as ref", line) for line in imports), (gid, imports)
            for probe in re.findall(r'run_probe\("(\w+)"', src):
                assert probe in GRADING["probes"], f"{gid} calls an undeclared probe {probe!r}"
        else:
            assert "solutions" not in src and "run_probe" not in src, gid
    for fn in H.FUNCTIONS:
        want = {"hidden"} if fn in ANSWERS else {"public", "hidden"}
        assert kinds.get(fn) == want, (fn, kinds.get(fn))
    solutions = {H.nbgrader(c)["grade_id"] for c in nb.cells
                 if H.nbgrader(c).get("solution") and c.cell_type == "code"}
    assert solutions == set(H.FUNCTIONS)


def _hand_graded(nb) -> dict[str, float]:
    return {H.nbgrader(c)["grade_id"]: float(H.nbgrader(c)["points"]) for c in nb.cells
            if c.cell_type == "markdown" and H.nbgrader(c).get("grade") and H.nbgrader(c).get("solution")}


def test_point_shares(nb):
    points = suite.points(H, nb)
    auto = sum(points.values())
    assert auto == 56
    assert _hand_graded(nb) == HAND_GRADED
    total = auto + sum(HAND_GRADED.values())                 # 60
    assert set(REASONING) <= set(points) and set(HYGIENE) <= set(points)
    # autograded reasoning alone makes the 20%; the written answers come on top
    assert sum(points[g] for g in REASONING) / total >= 0.20
    assert sum(points[g] for g in HYGIENE) / total <= 0.10
    # the hardest function weighs most
    by_fn: dict[str, float] = {}
    for gid, p in points.items():
        by_fn[H.function_of(gid)] = by_fn.get(H.function_of(gid), 0) + p
    assert max(by_fn, key=by_fn.get) == "conv2d_backward"


def test_answer_cells_define_values_only(nb):
    """Predictions are plain values (no code that computes them), named answer_*."""
    for cell in nb.cells:
        gid = H.nbgrader(cell).get("grade_id")
        if gid not in ANSWERS:
            continue
        body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for node in ast.parse(body).body:
            assert isinstance(node, ast.Assign), (gid, ast.dump(node)[:80])
            assert all(isinstance(t, ast.Name) and t.id.startswith("answer_") for t in node.targets), gid
            ast.literal_eval(node.value)                      # a literal, not a computation


def test_prompts_do_not_state_the_answers(nb):
    """The released text (markdown and the answer cells' comments) never holds an answer."""
    released = H.load(H.RELEASED) if H.RELEASED.exists() else None
    if released is None:
        pytest.fail("exercises/ps5_backprop is missing: the release is committed; run `cnn-course release ps5_backprop` and commit it")
    text = re.sub(r"\s+", "", "\n".join(c.source for c in released.cells)).replace(".0", "")
    for cell in nb.cells:
        if H.nbgrader(cell).get("grade_id") not in ANSWERS:
            continue
        body = cell.source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for node in ast.parse(body).body:
            value = ast.literal_eval(node.value)
            if isinstance(value, (list, tuple)) and len(np.ravel(value)) > 2:
                shown = re.sub(r"\s+", "", repr(value)).replace(".0", "")
                assert shown not in text, f"{node.targets[0].id} = {shown} appears in the released notebook"


def test_setup_and_given_cells(nb):
    setup = next(c for c in nb.cells if c.id == "setup")
    for node in ast.parse(setup.source).body:
        assert isinstance(node, (ast.Import, ast.ImportFrom))
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        assert all(m.split(".")[0] in {"numpy", "matplotlib", "autograder"} for m in mods), mods
    for cell in nb.cells:
        if cell.cell_type == "code" and not H.is_test(cell):
            assert not re.search(r"^\s*(import|from)\s+(solutions|scipy|torch|tensorflow|keras|sklearn)\b",
                                 cell.source, flags=re.M), cell.id
    assert H.nbgrader(next(c for c in nb.cells if c.id == "given_forward")).get("locked")


def test_grading_toml():
    # jax.grad would do the backward passes, jax.lax.conv the convolutions
    assert set(GRADING["forbidden"]["modules"]) >= {"torch", "tensorflow", "keras", "scipy", "jax", "jaxlib"}
    assert set(GRADING["probes"]) == {"numerical_gradient", "digits_training"}
    for name, code in GRADING["probes"].items():
        assert "result" in code and "ref." not in code and "solutions" not in code, name
    assert GRADING["limits"]["cpu_per_test"] >= 60     # the capstone trains in the sandbox


def test_measured_time_is_stated(nb):
    assert re.search(r"Measured run time of the whole notebook[^*]*\d+ seconds", nb.cells[0].source)


# ---------------------------------------------------------------------- execution
@pytest.mark.slow
def test_reference_passes_every_test_cell_with_demos(nb):
    run = H.run_notebook(nb, skip_demos=False)
    bad = {g: r.error for g, r in run.results.items() if not r.passed}
    assert not bad, bad
    assert run.score == 56
    # the given forward functions agree with the reference library
    import solutions as ref

    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)
    for s, p in [(1, 0), (2, 1), ((2, 3), "same"), (3, "valid"), (1, (2, 0))]:
        np.testing.assert_allclose(run.namespace["conv2d"](x, w, b, s, p), ref.conv2d(x, w, b, s, p), rtol=1e-12)
        d = rng.standard_normal(ref.conv2d(x, w, b, s, p).shape)
        for got, want in zip(run.namespace["conv2d_backward"](d, x, w, b, s, p), ref.conv2d_backward(d, x, w, b, s, p)):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for mode in ("max", "avg"):
        np.testing.assert_allclose(run.namespace["pool2d"](x, 2, 1, mode), ref.pool2d(x, 2, 1, mode), rtol=1e-12)


# ---------------------------------------------------------------------- the release
@pytest.fixture(scope="module")
def released():
    if not H.RELEASED.exists():
        pytest.fail("exercises/ps5_backprop is missing: the release is committed; run `cnn-course release ps5_backprop` and commit it")
    return H.load(H.RELEASED)


def test_hand_graded_questions_hide_their_model_answers(nb, released):
    """Each written answer has a question the release shows and an answer cell that is
    "YOUR ANSWER HERE" there; its model answer and rubric are in the source only."""
    from autograder.assignment import load_assignment

    cells = {c.id: c for c in released.cells}
    source_cells = {c.id: c for c in nb.cells}
    release_text = "\n".join((H.RELEASED.parent / f).read_text() for f in ("ps5_backprop.ipynb", "grading.toml"))
    for gid in HAND_GRADED:
        assert cells[gid].source.strip() == "YOUR ANSWER HERE", gid
        src = source_cells[gid].source
        assert "**Model answer.**" in src and "**Rubric (2 points).**" in src, gid
        body = src.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
        for line in body.splitlines():      # no line of the model answer or rubric is released
            if len(line.strip()) > 30:
                assert line.strip() not in release_text, (gid, line)
        before = released.cells[[c.id for c in released.cells].index(gid) - 1]
        assert before.cell_type == "markdown" and "graded by hand, 2 points" in before.source, gid
    source = load_assignment("ps5_backprop", source_dir=HERE.parent / "solutions")
    release = load_assignment("ps5_backprop", source_dir=HERE.parent / "exercises", released=True)
    for a in (source, release):
        assert [(m.grade_id, m.points) for m in a.manual] == list(HAND_GRADED.items())
    assert source.max_score == 60          # 56 autograded + 4 by hand
    assert [m.prompt for m in source.manual] == [m.prompt for m in release.manual]


def test_release_hides_solutions_and_hidden_tests(nb, released):
    from autograder.release import check_release

    assert check_release(nb, released, name="ps5_backprop") == []
    text = H.RELEASED.read_text()
    for secret in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "import solutions", "ref.", "load_digits_split",
                   "dxp[:, :, rows, cols] += np.tensordot"):
        assert secret not in text, secret
    assert (H.RELEASED.parent / "grading.toml").read_text() == \
        (H.ROOT / "solutions" / "ps5_backprop" / "grading.toml").read_text()


@pytest.mark.slow
def test_filled_in_release_passes_public_tests_and_blank_fails_them(nb, released):
    filled = H.filled_release(nb, released)
    run = H.run_notebook(filled, skip_demos=False)
    shown = {H.nbgrader(c)["grade_id"] for c in H.test_cells(released) if c.source.strip()}
    public = {g: r for g, r in run.results.items() if g in shown}
    assert len(public) == 7 and all(r.passed for r in public.values()), \
        {g: r.error for g, r in public.items() if not r.passed}
    blank = H.run_notebook(H.replace_solution(released, {a: "" for a in ANSWERS}))
    for gid, r in blank.results.items():
        if gid in shown:
            assert not r.passed and "NotImplementedError" in r.error, (gid, r.error)
