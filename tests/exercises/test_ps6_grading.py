"""ps6_modern_cnn through the grading engine: the reference earns every automatic point, the
blank release none; mutant groups lose points on their functions' tests with hidden messages
that name the mistake, never a reference value; torch in a part-1 (numpy) function is a
forbidden API while part 2's PyTorch classes run ([[forbidden.scoped]], autograder/engine.py).
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))
sys.path.insert(0, str(HERE / "exercises"))
import suite  # noqa: E402
from ps6.harness import H, NUMPY_FUNCTIONS  # noqa: E402
from test_ps6_mutants import MUTANTS, _run  # noqa: E402


@pytest.fixture(scope="module")
def source_nb():
    return H.load()


def test_grading_toml_scopes_torch_to_the_numpy_functions():
    from autograder.assignment import load_assignment

    forb = load_assignment("ps6_modern_cnn", source_dir=HERE.parent / "solutions").forbidden
    assert "torch" not in forb["modules"]                      # part 2 needs it at run time
    assert {"scipy", "jax", "tensorflow", "keras"} <= set(forb["modules"])
    (scope,) = forb["scoped"]
    assert scope["modules"] == ["torch"] and sorted(scope["functions"]) == sorted(NUMPY_FUNCTIONS)


@pytest.mark.parametrize("scoped", [
    '[[forbidden.scoped]]\nmodules = ["torch"]\n',                           # no functions
    '[[forbidden.scoped]]\nfunctions = "f"\nmodules = ["torch"]\n',           # not a list
    '[[forbidden.scoped]]\nfunctions = ["f"]\nmodule = ["torch"]\n',          # unknown key
])
def test_bad_scoped_tables_are_refused(scoped, tmp_path):
    from autograder.assignment import ConfigError, load_config

    path = tmp_path / "grading.toml"
    path.write_text('[forbidden]\nmodules = []\nnames = []\n\n' + scoped)
    with pytest.raises(ConfigError, match="forbidden.scoped"):
        load_config(path)


def test_scoped_analysis_flags_only_the_listed_functions():
    """What the engine does with a scope: analyze() with its modules, kept for its functions.
    Torch reached through a helper, a default argument, a table, an alias or a part-2 class is
    caught; a numpy function next to PyTorch classes is not flagged."""
    import ast

    from autograder.forbidden import analyze

    src = ("import torch\nimport numpy as np\nTOOLS = {'t': torch}\nF = torch.nn.functional\n"
           "def helper(x):\n    return torch.tensor(x)\n"
           "def im2col(x):\n    return helper(x)\n"
           "def col2im(c, _t=torch):\n    return _t.ones(1)\n"
           "def conv2d_im2col(x, w):\n    return TOOLS['t'].ones(1)\n"
           "def dropout_backward(d, m, p):\n    return F.dropout(d)\n"
           "class Block(torch.nn.Module):\n    def f(self, x):\n        return x\n"
           "def conv_transpose2d(x, w):\n    return Block().f(x)\n"
           "def dropout_forward(x, p, seed):\n    return np.asarray(x)\n")
    hits = analyze(ast.parse(src).body, ["torch"], [])
    kept = {k: v for k, v in hits.items() if k in NUMPY_FUNCTIONS}
    assert set(kept) == {"im2col", "col2im", "conv2d_im2col", "dropout_backward", "conv_transpose2d"}, kept
    assert "via helper" in kept["im2col"][0] and "via Block" in kept["conv_transpose2d"][0]


# ---------------------------------------------------------------- through the engine
@pytest.fixture(scope="module")
def engine():
    return suite.engine(H.NAME)


@pytest.mark.slow
def test_engine_reference_scores_full_marks(engine):
    suite.check_reference_full_marks(H, engine, automatic=71, manual=6)   # two written answers, by hand


@pytest.mark.slow
def test_engine_blank_release_scores_zero(engine):
    suite.check_blank_release_zero(H, engine)


# one mutant per function; no function of a group calls another function of the group
ENGINE_GROUPS = [
    ["batchnorm2d_forward__biased_running_var", "dropout_forward__inverted_mask", "col2im__assign",
     "predict_bn__biased_running", "BottleneckBlock__conv_bias", "train_epoch__frozen_conv"],
    ["batchnorm2d_backward__n_not_m", "dropout_backward__no_scale", "conv_transpose2d__no_output_padding",
     "predict_bottleneck__no_projection_bn", "BasicBlock__no_shortcut", "im2col__channels_last"],
    ["BottleneckBlock__no_projection_bn", "dropout_forward__no_scale", "batchnorm2d_forward__n_not_m",
     "train_epoch__reports_only", "predict_conv_transpose__no_output_padding"],
]


@pytest.mark.slow
@pytest.mark.parametrize("group", [pytest.param(g, id=f"group{i}") for i, g in enumerate(ENGINE_GROUPS)])
def test_engine_mutants_lose_points(group, engine, source_nb, tmp_path):
    suite.check_engine_group(H, engine, MUTANTS, group, source_nb, tmp_path, _run)


@pytest.mark.slow
def test_engine_torch_forbidden_in_part1_only(engine, source_nb, tmp_path):
    """batch norm and the transposed convolution through torch earn none of their points;
    BottleneckBlock and DigitsResNet, which need torch, still pass in the same submission."""
    assignment, grade = engine
    nb = H.replace_solution(source_nb, {
        "batchnorm2d_forward": MUTANTS["batchnorm2d_forward__forbidden_torch"][1],
        "conv_transpose2d": MUTANTS["conv_transpose2d__forbidden_torch"][1]})
    path = suite.write(nb, tmp_path, H.NAME)
    funcs = ("batchnorm2d_forward", "conv_transpose2d", "BottleneckBlock", "DigitsResNet")
    tests = {t.grade_id for t in assignment.tests if H.function_of(t.grade_id) in funcs}
    res = grade(path, "forbidden", tests=tests)
    assert res.status == "graded", res.message
    status = {t.name: t.status for t in res.tests}
    for g, s in status.items():
        want = "forbidden" if H.function_of(g) in ("batchnorm2d_forward", "conv_transpose2d") else "passed"
        assert s == want, (g, s, status)
