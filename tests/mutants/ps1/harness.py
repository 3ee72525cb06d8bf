"""ps1_convolution for the shared in-process notebook harness (tests/mutants/harness.py).

Imported as ``ps1.harness`` with tests/mutants on ``sys.path``.
"""
from pathlib import Path

from harness import Assignment

NAME = "ps1_convolution"
FUNCTIONS = ["conv_output_size", "zero_pad", "same_padding", "conv2d_single", "conv2d",
             "pool2d", "conv_param_count", "practice_network"]
H = Assignment(NAME, FUNCTIONS, Path(__file__).with_name("mutants.py"), skip_demos=True)
