"""ps6_modern_cnn mutation suite: known-wrong implementations and predictions must lose points.

Each mutant in tests/mutants/ps6/mutants.py replaces one solution cell in a copy of the
instructor notebook (answer mutants override one prediction; ``CELL_MUTANTS`` replace a whole
PyTorch class cell). In-process (no sandbox), with only the tests of the mutant's own function:
every wrong mutant fails at least one of them, with a message naming the mistake where the test
knows it, and never with a reference value in a hidden test; correct variants fail none.
Through the grading engine: torch in a part-1 (numpy) function is caught as a forbidden API
([[forbidden.scoped]] in grading.toml) while the PyTorch classes of part 2 still run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py and ps6/harness.py
from ps6.harness import ANSWERS, FUNCTIONS, H, NUMPY_FUNCTIONS  # noqa: E402
from ps6 import mutants as _mutants_module  # noqa: E402


def _all_mutants() -> dict[str, tuple[str, str]]:
    out = dict(H.load_mutants())
    source = {H.nbgrader(c).get("grade_id"): c.source for c in H.load().cells}
    for name, (target, line) in _mutants_module.ANSWER_MUTANTS.items():
        out[name] = (target, source[target] + "\n" + line + "\n")
    out.update(_mutants_module.CELL_MUTANTS)
    return out


MUTANTS = _all_mutants()
IN_PROCESS = {n: v for n, v in MUTANTS.items() if H.mutant_kind(n) != "forbidden"}


def only_tests_of(nb, functions):
    """A copy of ``nb`` without the test cells of other functions."""
    nb = nbformat.from_dict(nb)
    nb.cells = [c for c in nb.cells if not H.is_test(c) or H.function_of(H.nbgrader(c)["grade_id"]) in functions]
    return nb


@pytest.fixture(scope="module")
def source_nb():
    return H.load()


_RUNS: dict = {}


def _run(name, source_nb):
    if name not in _RUNS:
        target, src = MUTANTS[name]
        _RUNS[name] = H.run_notebook(only_tests_of(H.replace_solution(source_nb, {target: src}), {target}))
    return _RUNS[name]


def test_the_nine_validation_bugs_and_every_function_have_mutants():
    nine = {"batchnorm2d_forward__biased_running_var", "batchnorm2d_forward__n_not_m", "batchnorm2d_backward__n_not_m",
            "dropout_forward__inverted_mask", "dropout_forward__no_scale", "col2im__assign",
            "conv_transpose2d__no_output_padding", "BottleneckBlock__no_projection_bn", "BottleneckBlock__conv_bias",
            "BottleneckBlock__no_shortcut"}
    assert nine <= set(MUTANTS), sorted(nine - set(MUTANTS))
    wrong = {}
    for name, (target, _) in MUTANTS.items():
        if H.mutant_kind(name) == "wrong":
            wrong[target] = wrong.get(target, 0) + 1
    missing = {f: wrong.get(f, 0) for f in FUNCTIONS if wrong.get(f, 0) < 1}
    assert not missing, f"functions without a wrong mutant: {missing}"
    assert all(f in FUNCTIONS for f in ANSWERS + NUMPY_FUNCTIONS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IN_PROCESS))
def test_mutant_in_process(name, source_nb):
    target, _ = MUTANTS[name]
    run = _run(name, source_nb)
    if H.mutant_kind(name) == "wrong":
        assert run.failed_for(target), f"{name}: no test of {target} catches this mutant"
    else:
        assert not run.failed, f"{name}: a correct variant fails {run.failed}: " + \
            "; ".join(run.results[g].error for g in run.failed)


@pytest.mark.slow
@pytest.mark.parametrize("name, test_id, words", [
    ("batchnorm2d_forward__biased_running_var", "test_batchnorm2d_forward_hidden", "biased variance entered the running"),
    ("batchnorm2d_forward__biased_running_var", "test_batchnorm2d_forward_public", "biased variance entered the running"),
    ("batchnorm2d_forward__n_not_m", "test_batchnorm2d_forward_hidden", "N instead of M = N * H * W"),
    ("batchnorm2d_forward__per_image", "test_batchnorm2d_forward_hidden", "per image"),
    ("batchnorm2d_backward__n_not_m", "test_batchnorm2d_backward_hidden", "replaced by N"),
    ("batchnorm2d_backward__no_stat_grad", "test_batchnorm2d_backward_hidden", "batch mean and variance is missing"),
    ("dropout_forward__inverted_mask", "test_dropout_forward_hidden", "True where a value is KEPT"),
    ("dropout_forward__no_scale", "test_dropout_forward_hidden", "not scaled by 1 / (1 - p)"),
    ("dropout_backward__no_scale", "test_dropout_backward_hidden", "not scaled by 1 / (1 - p)"),
    ("col2im__assign", "test_col2im_hidden", "assigned (=) instead of added (+=)"),
    ("col2im__assign", "test_col2im_public", "assigned (=) instead of added (+=)"),
    ("conv_transpose2d__no_output_padding", "test_conv_transpose2d_hidden", "output_padding was ignored"),
    ("BottleneckBlock__no_projection_bn", "test_BottleneckBlock_hidden", "projection shortcut has no batch norm"),
    ("BottleneckBlock__conv_bias", "test_BottleneckBlock_hidden", "a convolution has a bias"),
    ("BottleneckBlock__conv_bias", "test_BottleneckBlock_public", "bias=False"),
    ("BottleneckBlock__no_shortcut", "test_BottleneckBlock_hidden", "the shortcut was not added"),
    ("BottleneckBlock__no_final_relu", "test_BottleneckBlock_hidden", "final ReLU"),
    ("train_epoch__frozen_conv", "test_train_epoch_capstone", "epoch 1 of 12 did not do what the reference loop does"),
    ("train_epoch__own_shuffle", "test_train_epoch_capstone", "epoch 1 of 12"),
    ("train_epoch__reports_only", "test_train_epoch_capstone", "did not change at all"),
    ("predict_bn__biased_running", "test_predict_bn_running", "biased variance entered the running variance"),
    ("predict_bottleneck__no_projection_bn", "test_predict_bottleneck_params", "projection's batch norm was not counted"),
    ("predict_bottleneck__all_full_size", "test_predict_bottleneck_macs", "every layer was counted at 14x14"),
])
def test_messages_name_the_mistake(name, test_id, words, source_nb):
    run = _run(name, source_nb)
    assert not run.results[test_id].passed, f"{name} passes {test_id}"
    assert words in run.results[test_id].error, run.results[test_id].error
