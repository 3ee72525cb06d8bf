"""ps1_convolution for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps1.harness`` with tests/mutants on ``sys.path``. Some hidden tests call
``run_probe`` (one sandbox call for a whole grid of arguments); in-process the probe runs in
the namespace of the notebook being executed (the caller's globals), read from
solutions/ps1_convolution/grading.toml, with inputs deep-copied as the grader's transfer
to the sandbox copies them.
"""
from __future__ import annotations

import copy
import sys
import tomllib
from pathlib import Path

from harness import ROOT, Assignment

NAME = "ps1_convolution"
FUNCTIONS = ["conv_output_size", "answer_unseen_pixels", "zero_pad", "answer_windows_covering", "same_padding",
             "answer_keras_same", "answer_torch_rows", "conv2d_single", "answer_practice_row2", "conv2d",
             "pool2d", "answer_receptive_field", "conv_param_count", "answer_dense_params", "practice_network"]
# predict-before-run questions: solution cells binding a plain value, graded by one hidden test each
ANSWERS = [f for f in FUNCTIONS if f.startswith("answer_")]
PROBES = tomllib.loads((ROOT / "solutions" / NAME / "grading.toml").read_text())["probes"]


def run_probe(name: str, **inputs):
    namespace = dict(sys._getframe(1).f_globals)
    namespace.update(copy.deepcopy(inputs))
    exec(compile(PROBES[name], "<run_student>", "exec"), namespace)
    if "result" not in namespace:
        raise AssertionError("the checked code did not set `result`")
    return copy.deepcopy(namespace["result"])


class PS1(Assignment):
    def run_notebook(self, nb, *, skip_demos=None):
        import autograder.tools as tools

        saved = tools.run_probe
        tools.run_probe = run_probe
        try:
            return super().run_notebook(nb, skip_demos=skip_demos)
        finally:
            tools.run_probe = saved


H = PS1(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True)
H.ANSWERS = ANSWERS
