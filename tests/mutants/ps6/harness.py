"""ps6_modern_cnn for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps6.harness`` with tests/mutants on ``sys.path``. ps6's tests call
``run_student`` (public tests) and ``run_probe`` (hidden tests, the probes of
solutions/ps6_modern_cnn/grading.toml); the harness runs both in-process.
"""
from __future__ import annotations

from pathlib import Path

from harness import Assignment

NAME = "ps6_modern_cnn"
FUNCTIONS = ["predict_bn", "batchnorm2d_forward", "batchnorm2d_backward", "predict_dropout", "dropout_forward",
             "dropout_backward", "predict_im2col", "im2col", "col2im", "conv2d_im2col", "predict_conv_transpose",
             "conv_transpose2d", "predict_bottleneck", "BottleneckBlock", "BasicBlock", "DigitsResNet", "train_epoch"]
ANSWERS = ["predict_bn", "predict_dropout", "predict_im2col", "predict_conv_transpose", "predict_bottleneck"]
# part 1: numpy only (torch is a forbidden API there, [[forbidden.scoped]] in grading.toml)
NUMPY_FUNCTIONS = ["batchnorm2d_forward", "batchnorm2d_backward", "dropout_forward", "dropout_backward", "im2col",
                   "col2im", "conv2d_im2col", "conv_transpose2d"]
H = Assignment(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True, answers=ANSWERS,
               tools=("run_student", "run_probe"))
