"""ps6_modern_cnn for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps6.harness`` with tests/mutants on ``sys.path``. ps6's tests call
``run_student`` (public tests) and ``run_probe`` (hidden tests); in-process both run their
code in the namespace of the notebook being executed (the caller's globals), the probes
read from solutions/ps6_modern_cnn/grading.toml, and inputs are deep-copied as the grader's
transfer to the sandbox copies them.
"""
from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

from harness import ROOT, Assignment

NAME = "ps6_modern_cnn"
FUNCTIONS = ["predict_bn", "batchnorm2d_forward", "batchnorm2d_backward", "predict_dropout", "dropout_forward",
             "dropout_backward", "predict_im2col", "im2col", "col2im", "conv2d_im2col", "predict_conv_transpose",
             "conv_transpose2d", "predict_bottleneck", "BottleneckBlock", "BasicBlock", "DigitsResNet", "train_epoch"]
ANSWERS = ["predict_bn", "predict_dropout", "predict_im2col", "predict_conv_transpose", "predict_bottleneck"]
NUMPY_FUNCTIONS = ["batchnorm2d_forward", "batchnorm2d_backward", "dropout_forward", "dropout_backward", "im2col",
                   "col2im", "conv2d_im2col", "conv_transpose2d"]
PROBES = tomllib.loads((ROOT / "solutions" / NAME / "grading.toml").read_text())["probes"]


def _run_in(ns: dict, code: str, inputs: dict):
    namespace = dict(ns)
    namespace.update(copy.deepcopy(inputs))
    exec(compile(code, "<run_student>", "exec"), namespace)
    if "result" not in namespace:
        raise AssertionError("the checked code did not set `result`")
    return copy.deepcopy(namespace["result"])


def run_student(code: str, **inputs):
    return _run_in(sys._getframe(1).f_globals, code, inputs)


def run_probe(name: str, **inputs):
    return _run_in(sys._getframe(1).f_globals, PROBES[name], inputs)


class PS6(Assignment):
    def run_notebook(self, nb, *, skip_demos=None):
        import autograder.tools as tools

        saved = tools.run_student, getattr(tools, "run_probe", None)
        tools.run_student, tools.run_probe = run_student, run_probe
        try:
            return super().run_notebook(nb, skip_demos=skip_demos)
        finally:
            tools.run_student, tools.run_probe = saved


H = PS6(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True)
