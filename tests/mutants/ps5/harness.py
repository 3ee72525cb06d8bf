"""ps5_backprop for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps5.harness`` with tests/mutants on ``sys.path``. ps5's tests call
``run_student`` (public tests) and ``run_probe`` (hidden tests); in-process both run their
code in the namespace of the notebook being executed (the caller's globals), the probes
read from solutions/ps5_backprop/grading.toml, and inputs are deep-copied as the grader's
transfer to the sandbox copies them.
"""
from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

from harness import ROOT, Assignment

NAME = "ps5_backprop"
FUNCTIONS = ["predict_conv", "conv2d_backward", "predict_pool", "pool2d_backward", "predict_gradcheck",
             "numerical_gradient", "rel_error", "softmax_cross_entropy", "cnn_loss", "sgd_epoch"]
ANSWERS = ["predict_conv", "predict_pool", "predict_gradcheck"]
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


class PS5(Assignment):
    def run_notebook(self, nb, *, skip_demos=None):
        import autograder.tools as tools

        saved = tools.run_student, getattr(tools, "run_probe", None)
        tools.run_student, tools.run_probe = run_student, run_probe
        try:
            return super().run_notebook(nb, skip_demos=skip_demos)
        finally:
            tools.run_student, tools.run_probe = saved


H = PS5(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True)
