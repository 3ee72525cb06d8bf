"""ps1_convolution: the instructor notebook is well formed and its solutions pass every test.

Runs in-process (no grading engine): the notebook's code cells run in one namespace in
order, as in Jupyter, and each test cell (public and hidden) must pass with the
reference solutions. The notebook's solution functions must also agree with the
reference library on a random grid of shapes, strides and paddings.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py and ps1/harness.py
from ps1.harness import H  # noqa: E402

RELEASED = H.ROOT / "exercises" / "ps1_convolution" / "ps1_convolution.ipynb"
pytestmark = pytest.mark.xdist_group("ps1_notebook")


@pytest.fixture(scope="module")
def nb():
    return H.load()


@pytest.fixture(scope="module")
def run(nb):
    return H.run_notebook(nb, skip_demos=False)


# ------------------------------------------------------------------------- structure
def test_cells_have_stable_unique_ids_and_no_outputs(nb):
    ids = [c.get("id") for c in nb.cells]
    assert all(ids), "every cell needs an id"
    assert len(ids) == len(set(ids)), f"duplicate cell ids: {sorted(i for i in ids if ids.count(i) > 1)}"
    for cell in nb.cells:
        meta = H.nbgrader(cell)
        if meta.get("grade_id"):
            assert cell.id == meta["grade_id"], f"cell id {cell.id!r} should equal its grade_id {meta['grade_id']!r}"
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {cell.id} has outputs"


def test_test_cells_are_either_public_or_hidden(nb):
    tests = H.test_cells(nb)
    assert len(tests) >= 25
    for cell in tests:
        meta = H.nbgrader(cell)
        gid = meta["grade_id"]
        assert meta.get("locked") and meta.get("points", 0) > 0, f"{gid}: test cells are locked and worth points"
        H.function_of(gid)                                 # belongs to a graded function
        src = cell.source.strip()
        if H.is_hidden(src):
            assert src.startswith("### BEGIN HIDDEN TESTS") and src.endswith("### END HIDDEN TESTS"), (
                f"{gid}: a hidden test cell must be hidden as a whole")
            assert src.count("### BEGIN HIDDEN TESTS") == 1
            imports = re.findall(r"^\s*(?:import|from)\s+solutions\b.*$", src, flags=re.M)
            assert all(re.fullmatch(r"\s*import solutions as ref", line) for line in imports), (
                f"{gid}: import the reference library only as `import solutions as ref`: {imports}")
        else:
            assert "solutions" not in src, f"{gid}: a public test must not use the reference library"


def test_every_graded_function_has_public_and_hidden_tests(nb):
    tests = H.test_cells(nb)
    points: dict[str, float] = {}
    kinds: dict[str, set] = {}
    for cell in tests:
        fn = H.function_of(H.nbgrader(cell)["grade_id"])
        points[fn] = points.get(fn, 0) + H.nbgrader(cell)["points"]
        kinds.setdefault(fn, set()).add("hidden" if H.is_hidden(cell.source) else "public")
    assert set(points) == set(H.FUNCTIONS)
    for fn in H.FUNCTIONS:
        want = {"hidden"} if fn in H.ANSWERS else {"public", "hidden"}
        assert kinds[fn] == want, f"{fn}: needs {sorted(want)} tests, has {kinds[fn]}"
    # weighted by difficulty: conv2d most, then conv2d_single
    assert max(points, key=points.get) == "conv2d"
    assert points["conv2d_single"] > points["conv_output_size"]
    solutions = {H.nbgrader(c)["grade_id"] for c in nb.cells if H.nbgrader(c).get("solution")}
    assert solutions == set(H.FUNCTIONS)


def test_solution_cells_keep_signature_outside_the_solution_region(nb):
    for cell in nb.cells:
        meta = H.nbgrader(cell)
        if not meta.get("solution"):
            continue
        src = cell.source
        assert src.count("### BEGIN SOLUTION") == 1 and src.count("### END SOLUTION") == 1, meta["grade_id"]
        before = src.split("### BEGIN SOLUTION")[0]
        if meta["grade_id"] in H.ANSWERS:      # the release keeps `answer_x = None` above the stub
            assert f"\n{meta['grade_id']} = None\n" in f"\n{before}", f"{meta['grade_id']}: the None stub must stay visible"
            continue
        assert f"def {meta['grade_id']}(" in before, f"{meta['grade_id']}: the def line must stay visible"
        assert '"""' in before, f"{meta['grade_id']}: the docstring must stay visible"


def test_point_shares_reasoning_and_hygiene(nb):
    """At least 20% of the points on predict-before-run answers, at most 10% on error
    messages and input hygiene (tests named *_errors, *_unchanged*)."""
    points = {H.nbgrader(c)["grade_id"]: H.nbgrader(c)["points"] for c in H.test_cells(nb)}
    total = sum(points.values())
    reasoning = sum(p for g, p in points.items() if H.function_of(g) in H.ANSWERS)
    hygiene = sum(p for g, p in points.items() if g.endswith("_errors") or "_unchanged" in g)
    assert reasoning >= 0.2 * total, f"reasoning {reasoning} of {total} points"
    assert hygiene <= 0.1 * total, f"error/hygiene {hygiene} of {total} points"


def test_released_notebook_does_not_print_the_practice_answer(nb):
    """The flipped-kernel practice asks for a row by hand: no visible cell may hold it."""
    for cell in nb.cells:
        if cell.cell_type != "code" or H.is_hidden(cell.source) or H.nbgrader(cell).get("solution"):
            continue
        assert "-9, 3, 21" not in cell.source and "flip=True)]" not in cell.source, (
            f"{cell.id}: shows the practice problem's answer to students")


def test_setup_cell_imports_only_student_tools(nb):
    setup = next(c for c in nb.cells if H.nbgrader(c).get("grade_id") == "setup")
    tree = ast.parse(setup.source)
    for node in tree.body:
        assert isinstance(node, (ast.Import, ast.ImportFrom)), "the setup cell only imports"
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        for mod in mods:
            assert mod.split(".")[0] in {"numpy", "matplotlib", "autograder"}, mod
            assert not mod.startswith("autograder") or mod.startswith("autograder.tools"), mod
    # no code cell a student sees imports the reference library or a forbidden module
    for cell in nb.cells:
        if cell.cell_type == "code" and not H.is_test(cell):
            assert not re.search(r"^\s*(import|from)\s+(solutions|scipy|torch|tensorflow|keras)\b",
                                 cell.source, flags=re.M), cell.id


def test_grading_toml_forbids_the_shortcuts():
    import tomllib

    conf = tomllib.loads((H.ROOT / "solutions" / "ps1_convolution" / "grading.toml").read_text())
    assert set(conf["forbidden"]["modules"]) >= {"torch", "tensorflow", "keras", "scipy"}
    assert set(conf["forbidden"]["names"]) >= {"numpy.convolve", "numpy.correlate"}
    assert conf["limits"]["cpu_per_test"] > 0


# ---------------------------------------------------------------------- execution
def test_reference_solutions_pass_every_test_cell(run):
    bad = {g: r.error for g, r in run.results.items() if not r.passed}
    assert not bad, f"test cells failing with the reference solutions: {bad}"
    assert not run.demo_errors, f"demo cells failing with the reference solutions: {run.demo_errors}"
    assert run.score == sum(r.points for r in run.results.values())


def test_solutions_agree_with_the_reference_library(run):
    import solutions as ref

    ns = run.namespace
    rng = np.random.default_rng(2024)
    for _ in range(60):
        N, C, F = rng.integers(1, 3), rng.integers(1, 4), rng.integers(1, 4)
        H_, W_ = rng.integers(1, 12, size=2)
        KH, KW = rng.integers(1, 6, size=2)
        s = int(rng.integers(1, 4)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 4, size=2))
        p = rng.choice(["int", "pair", "same", "valid"])
        p = {"int": int(rng.integers(0, 4)), "pair": tuple(int(v) for v in rng.integers(0, 4, size=2)),
             "same": "same", "valid": "valid"}[p]
        x = rng.standard_normal((N, C, H_, W_))
        w = rng.standard_normal((F, C, KH, KW))
        b = rng.standard_normal(F) if rng.random() < 0.7 else None
        try:
            want = ref.conv2d(x, w, b, stride=s, padding=p)
        except ValueError:
            with pytest.raises(ValueError):
                ns["conv2d"](x, w, b, stride=s, padding=p)
            continue
        np.testing.assert_allclose(ns["conv2d"](x, w, b, stride=s, padding=p), want, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ns["conv2d_single"](x[0, 0], w[0, 0], stride=s, padding=p, flip=True),
                                   ref.conv2d_single(x[0, 0], w[0, 0], stride=s, padding=p, flip=True),
                                   rtol=1e-10, atol=1e-10)
        for mode in ("max", "avg", "sum"):
            k = (int(min(KH, H_)), int(min(KW, W_)))
            np.testing.assert_allclose(ns["pool2d"](x, k, s, mode), ref.pool2d(x, k, s, mode), rtol=1e-12)
        np.testing.assert_array_equal(ns["zero_pad"](x, p if not isinstance(p, str) else 1),
                                      ref.zero_pad(x, p if not isinstance(p, str) else 1))
    for n in range(1, 20):
        for k in range(1, 7):
            for p in (0, 1, 2, "same", "valid"):
                for s in (1, 2, 3):
                    try:
                        want = ref.conv_output_size(n, k, p, s)
                    except ValueError:
                        with pytest.raises(ValueError):
                            ns["conv_output_size"](n, k, p, s)
                        continue
                    assert ns["conv_output_size"](n, k, p, s) == want
    assert ns["conv_param_count"]((3, 5), 4, 7, bias=False) == ref.conv_param_count((3, 5), 4, 7, bias=False)


# ---------------------------------------------------------------------- the release
@pytest.fixture(scope="module")
def released():
    if not RELEASED.exists():
        pytest.fail("exercises/ps1_convolution is missing: the release is committed; run `cnn-course release ps1_convolution` and commit it")
    return H.load(RELEASED)


def test_release_hides_solutions_and_hidden_tests(nb, released):
    from autograder.release import check_release

    assert check_release(nb, released, name="ps1_convolution") == []
    text = RELEASED.read_text()
    for secret in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "import solutions", "ref.conv2d",
                   "_conv_mistakes", "Y = np.tensordot(windows"):
        assert secret not in text, f"the released notebook contains {secret!r}"
    src = {H.nbgrader(c).get("grade_id"): c for c in nb.cells if H.nbgrader(c).get("grade_id")}
    for cell in H.test_cells(released):
        gid = H.nbgrader(cell)["grade_id"]
        if H.is_hidden(src[gid].source):
            assert not cell.source.strip(), f"hidden test {gid} is not empty in the release"
        else:
            assert cell.source == src[gid].source, f"public test {gid} differs from the source"
        assert H.nbgrader(cell)["points"] == H.nbgrader(src[gid])["points"]


def test_student_who_writes_the_solutions_passes_every_public_test(nb, released):
    """The released notebook, with each stub filled in, runs top to bottom (demos included)."""
    filled = H.filled_release(nb, released)
    run = H.run_notebook(filled, skip_demos=False)
    public = {g: r for g, r in run.results.items() if not r.hidden}
    assert public and all(r.passed for r in public.values()), {g: r.error for g, r in public.items() if not r.passed}


def test_blank_release_fails_every_public_test_with_not_implemented(released):
    run = H.run_notebook(released)
    public = {H.nbgrader(c)["grade_id"] for c in H.test_cells(released) if c.source.strip()}
    assert len(public) == 8
    for name in H.ANSWERS:                  # the answer cells keep the None of the stub
        assert run.namespace[name] is None, name
    for gid in public:
        r = run.results[gid]
        assert not r.passed and "NotImplementedError" in r.error, (gid, r.error)
