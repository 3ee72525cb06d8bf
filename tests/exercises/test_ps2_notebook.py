"""ps2_shapes notebooks: structure of the instructor source and of the student release."""
from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py and ps2/harness.py
from ps2.harness import H  # noqa: E402

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


@pytest.fixture(scope="module")
def source():
    return H.load()


@pytest.fixture(scope="module")
def released():
    if not H.RELEASED.exists():
        pytest.fail("exercises/ps2_shapes is missing: the release is committed; run `cnn-course release ps2_shapes` and commit it")
    return H.load(H.RELEASED)


def _by_id(nb):
    return {H.nbgrader(c)["grade_id"]: c for c in nb.cells if H.nbgrader(c).get("grade_id")}


def test_committed_without_outputs(source, released):
    for nb in (source, released):
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


def test_setup_imports_only_numpy_and_tools(source):
    setup = _by_id(source)["setup"]
    assert H.nbgrader(setup)["locked"]
    modules = set()
    for node in ast.walk(ast.parse(setup.source)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module)
    assert modules == {"numpy", "autograder.tools"}


def test_every_function_has_public_and_hidden_tests_and_points(source):
    tests = H.test_cells(source)
    ids = [H.nbgrader(c)["grade_id"] for c in tests]
    assert len(ids) == len(set(ids)) and all(g.startswith("test_") for g in ids)
    public, hidden, points = {}, {}, {}
    for c in tests:
        meta, f = H.nbgrader(c), H.function_of(H.nbgrader(c)["grade_id"])
        is_hidden = c.source.startswith("### BEGIN HIDDEN TESTS") and c.source.rstrip().endswith("### END HIDDEN TESTS")
        assert is_hidden or "HIDDEN" not in c.source, "a test cell is either public or hidden, never both"
        (hidden if is_hidden else public)[f] = (hidden if is_hidden else public).get(f, 0) + 1
        points[f] = points.get(f, 0) + meta["points"]
        assert meta["points"] > 0 and meta["locked"] and not meta.get("solution")
    functions = [f for f in H.FUNCTIONS if f not in H.ANSWERS]
    assert set(public) == set(functions) and set(hidden) == set(H.FUNCTIONS), (public, hidden)
    # weighted by difficulty: summarize > layer_output_shape > layer_param_count > conv_output_size > a network
    assert points["summarize"] > points["layer_output_shape"] > points["layer_param_count"] > \
        points["conv_output_size"] > max(points[f] for f in functions[4:])
    assert sum(points.values()) == 50
    # the shares: >= 20% on predict-before-run answers, <= 10% on error messages
    reasoning = sum(points[f] for f in H.ANSWERS)
    hygiene = sum(H.nbgrader(c)["points"] for c in tests if "_errors" in H.nbgrader(c)["grade_id"])
    assert reasoning >= 0.2 * 50 and hygiene <= 0.1 * 50, (reasoning, hygiene)


def test_hidden_tests_use_the_reference_under_an_alias(source):
    for c in H.test_cells(source):
        tree = ast.parse(c.source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("solutions"):
                assert all(a.asname and a.asname.startswith("ref_") for a in node.names), c.source[:200]
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("solutions"):
                        assert a.asname == "ref", c.source[:200]
        if "solutions" in c.source:
            assert c.source.startswith("### BEGIN HIDDEN TESTS"), "public tests must run without the reference library"


def test_release_hides_solutions_and_hidden_tests(source, released):
    src, rel = _by_id(source), _by_id(released)
    assert set(src) == set(rel)
    for gid, cell in src.items():
        meta, out = H.nbgrader(cell), rel[gid]
        assert {k: v for k, v in H.nbgrader(out).items() if k not in ("checksum", "cell_type")} == meta
        if meta.get("solution"):
            head = cell.source.split("### BEGIN SOLUTION")[0]
            indent = head[len(head.rstrip(" ")):]
            assert out.source == head + STUB.replace("\n", "\n" + indent), gid
        elif cell.source.startswith("### BEGIN HIDDEN TESTS"):
            assert out.source.strip() == "", gid
        else:
            assert out.source == cell.source, gid
    code = "\n".join(c.source for c in released.cells if c.cell_type == "code")
    for secret in ("BEGIN SOLUTION", "HIDDEN TESTS", "import solutions", "ref_", "= 102_764_544", '"units": 4096'):
        assert secret not in code, secret
    assert [c.source for c in released.cells if c.cell_type == "markdown"] == \
           [c.source for c in source.cells if c.cell_type == "markdown"]


def test_grading_toml():
    config = tomllib.loads((H.ROOT / "solutions" / H.NAME / "grading.toml").read_text())
    assert set(config["forbidden"]["modules"]) == {"keras", "tensorflow", "torch"}
    assert config["limits"]["cpu_per_test"] >= 5
    released = H.RELEASED.with_name("grading.toml")
    if released.exists():
        assert released.read_text() == (H.ROOT / "solutions" / H.NAME / "grading.toml").read_text()


class _NoReference:
    """Meta-path finder that makes `solutions` unimportable, as on a student's machine."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] == "solutions":
            raise ModuleNotFoundError(f"No module named {fullname!r} (students do not have it)")
        return None


def test_student_workflow_without_the_reference(source, released, monkeypatch):
    """Blank release: public tests fail with NotImplementedError; once the functions are
    written (here: the instructor's solutions pasted in), every visible test passes, with
    no `solutions` package around."""
    saved = {k: v for k, v in sys.modules.items() if k.split(".")[0] == "solutions"}
    for k in saved:
        monkeypatch.delitem(sys.modules, k)
    monkeypatch.setattr(sys, "meta_path", [_NoReference(), *sys.meta_path])
    blank = H.run_notebook(released)
    public = [gid for gid, c in _by_id(released).items() if H.is_test(c) and c.source.strip()]
    assert len(public) == 15
    assert set(blank.failed) == set(public)
    assert all(blank.namespace[name] is None for name in H.ANSWERS)
    assert all("NotImplementedError" in blank.results[g].error for g in public)
    solutions = {gid: c.source for gid, c in _by_id(source).items() if H.nbgrader(c).get("solution")}
    done = H.run_notebook(H.replace_solution(released, solutions))
    assert not done.failed, {g: done.results[g].error for g in done.failed}




def _tf_same_pads(n, k, s):
    """(output rows, zero rows on top, zero rows at the bottom) of TensorFlow's 'SAME', measured:
    a one-hot kernel at the window's first row reads the (padded) input's row i * s."""
    import numpy as np
    tf = pytest.importorskip("tensorflow")
    x = np.arange(1, n + 1, dtype="float32").reshape(1, n, 1, 1)
    w = np.zeros((k, 1, 1, 1), "float32")
    w[0] = 1
    y = tf.nn.conv2d(x, w, strides=(s, 1), padding="SAME").numpy().ravel()
    top = next(t for t in range(k) if np.array_equal(
        np.concatenate([np.zeros(t), x.ravel(), np.zeros(k)])[np.arange(len(y)) * s], y))
    return len(y), top, (len(y) - 1) * s + k - n - top


def test_padding_claims_hold_under_tensorflows_rule(source):
    """Part 2 says a symmetric pad of 2 on AlexNet's C1 (224, k 11, s 4) has no Keras padding word;
    the questions' reference answers follow TensorFlow's 'same'. (The old text claimed the same of
    the practice network's pad 2 at 13x13, k 5, s 2, where 'same' pads exactly (2, 2).)"""
    import solutions as ref
    assert _tf_same_pads(13, 5, 2) == (7, 2, 2)            # why the practice network was the wrong example
    rows, top, bottom = _tf_same_pads(224, 11, 4)
    assert (top, bottom) != (2, 2) and rows != ref.conv_output_size(224, 11, 2, 4) == 55
    assert ref.conv_output_size(224, 11, "valid", 4) == 54
    text = "\n".join(c.source for c in source.cells)
    assert "which no Keras padding word expresses" not in text
    assert "3 zero rows on top and 4 at the bottom" in text and (top, bottom) == (3, 4)
    answers = {H.nbgrader(c)["grade_id"]: c.source for c in source.cells if H.nbgrader(c).get("solution")}
    want = _tf_same_pads(227, 11, 4)
    assert f"answer_c1_same_pads = {want[1:]}" in answers["answer_c1_same_pads"]
    p = min(p for p in range(10) if ref.conv_output_size(224, 11, p, 4) == rows)
    assert f"answer_c1_padding_224 = {p}" in answers["answer_c1_padding_224"]


def test_alexnet_names_follow_lecture_06(source):
    """Lecture 06 names AlexNet's last pooling S8 and its dense layers F9, F10: no F8 beside S8."""
    text = "\n".join(c.source for c in source.cells)
    assert "S8" in text and "F9, F10" in text
    assert "F8" not in text
