"""ps1_convolution for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps1.harness`` with tests/mutants on ``sys.path``. Some hidden tests call
``run_probe`` (one sandbox call for a whole grid of arguments); the harness runs the probes of
solutions/ps1_convolution/grading.toml in-process.
"""
from __future__ import annotations

from pathlib import Path

from harness import Assignment

NAME = "ps1_convolution"
FUNCTIONS = ["conv_output_size", "answer_unseen_pixels", "zero_pad", "answer_windows_covering", "same_padding",
             "answer_keras_same", "answer_torch_rows", "conv2d_single", "answer_practice_row2", "conv2d",
             "pool2d", "answer_receptive_field", "conv_param_count", "answer_dense_params", "practice_network"]
H = Assignment(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True, tools=("run_probe",))
# predict-before-run questions: solution cells binding a plain value, graded by one hidden test each
ANSWERS = H.ANSWERS
PROBES = H.PROBES
