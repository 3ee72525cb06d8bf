"""ps6_modern_cnn mutation suite: known-wrong implementations and predictions must lose points.

Each mutant in tests/mutants/ps6/mutants.py replaces one solution cell in a copy of the
instructor notebook (most are small edits of the reference cell; answer mutants override one
prediction). In-process (no sandbox), with only the tests of the mutant's own function:
every wrong mutant fails at least one of them, with a message naming the mistake where the test
knows it, and never with a reference value in a hidden test; correct variants fail none.
Through the grading engine: torch in a part-1 (numpy) function is caught as a forbidden API
([[forbidden.scoped]] in grading.toml) while the PyTorch classes of part 2 still run.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]   # tests/
sys.path.insert(0, str(HERE / "mutants"))        # tests/mutants/harness.py, suite.py and ps6/harness.py
import suite  # noqa: E402
from ps6.harness import ANSWERS, FUNCTIONS, H, NUMPY_FUNCTIONS  # noqa: E402

MUTANTS = H.load_mutants()
IN_PROCESS = {n: v for n, v in MUTANTS.items() if H.mutant_kind(n) != "forbidden"}
_run = suite.InProcess(H, MUTANTS, own_tests_only=True)


@pytest.fixture(scope="module")
def source_nb():
    return H.load()


def test_the_nine_validation_bugs_and_every_function_have_mutants():
    nine = {"batchnorm2d_forward__biased_running_var", "batchnorm2d_forward__n_not_m", "batchnorm2d_backward__n_not_m",
            "dropout_forward__inverted_mask", "dropout_forward__no_scale", "col2im__assign",
            "conv_transpose2d__no_output_padding", "BottleneckBlock__no_projection_bn", "BottleneckBlock__conv_bias",
            "BottleneckBlock__no_shortcut"}
    assert nine <= set(MUTANTS), sorted(nine - set(MUTANTS))
    missing = {f: n for f, n in suite.wrong_per_function(H, MUTANTS).items() if n < 1}
    assert not missing, f"functions without a wrong mutant: {missing}"
    assert all(f in FUNCTIONS for f in ANSWERS + NUMPY_FUNCTIONS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(IN_PROCESS))
def test_mutant_in_process(name, source_nb):
    suite.check_mutant_in_process(H, name, MUTANTS[name][0], _run(name, source_nb))


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
    suite.check_message(name, test_id, words, _run(name, source_nb))
