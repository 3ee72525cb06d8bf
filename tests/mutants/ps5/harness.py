"""ps5_backprop for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps5.harness`` with tests/mutants on ``sys.path``. ps5's tests call
``run_student`` (public tests) and ``run_probe`` (hidden tests, the probes of
solutions/ps5_backprop/grading.toml); the harness runs both in-process.
"""
from __future__ import annotations

from pathlib import Path

from harness import Assignment

NAME = "ps5_backprop"
FUNCTIONS = ["predict_conv", "conv2d_backward", "predict_pool", "pool2d_backward", "predict_gradcheck",
             "numerical_gradient", "rel_error", "softmax_cross_entropy", "cnn_loss", "sgd_epoch"]
ANSWERS = ["predict_conv", "predict_pool", "predict_gradcheck"]
H = Assignment(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True, answers=ANSWERS,
               tools=("run_student", "run_probe"))
PROBES = H.PROBES
