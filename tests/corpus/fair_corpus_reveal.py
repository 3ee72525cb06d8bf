"""Fair grades: nothing a student sees gives an answer away.

Graded by tests/engine/test_fair_reveal.py:

* the instructor's model answer of a question graded by hand (ps3) never appears in what a
  student reads (results.json, feedback.html, the report, ``cnn-course check``):
  :func:`manual_answers` gives the answers' texts, :func:`leaked` finds any run of
  ``RUN`` consecutive words of them (or their first 30 characters) in an output;
* ``REVEAL_CASES``: wrong answers and known mutants of ps1/ps2, graded through the engine.
  A *hidden* test's message names what is wrong (the student's value, a matched mistake, a
  hint) but never the reference value (``forbidden`` patterns, and never "expected <value>":
  ``EXPECTED_VALUE``); a *public* test's message still shows the expected value;
* ``NAN_CASES``: ``assert_close`` on non-finite results: NaN must not "match" a NaN computed
  from the student's own results.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RUN = 5                                        # consecutive words of a model answer that count as a leak
# "expected" followed by a value: a number, a tuple/list, a quoted string (not "expected finite values")
EXPECTED_VALUE = re.compile(r"expected\s*[:=]?\s*[-+(\['\"0-9]")


# ----------------------------------------------------------------------------- hand-graded answers

def manual_answers(assignment: str) -> list[str]:
    """The texts of the instructor's answers to the hand-graded questions of ``assignment``
    (from solutions/<ps>/<ps>.ipynb: the solution region, else the whole cell)."""
    nb = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    out = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if not (meta.get("grade") and meta.get("solution")):
            continue
        src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        lines = src.splitlines()
        if any("BEGIN SOLUTION" in ln for ln in lines):
            inside, kept = False, []
            for ln in lines:
                if "BEGIN SOLUTION" in ln:
                    inside = True
                elif "END SOLUTION" in ln:
                    inside = False
                elif inside:
                    kept.append(ln)
            lines = kept
        out.append("\n".join(lines).strip())
    return [a for a in out if a]


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9']+", text.lower())


def leaked(output: str, answers: list[str]) -> list[str]:
    """The fragments of ``answers`` found in ``output``: runs of RUN words (HTML escaping and
    spacing ignored) and the answers' first 30 characters."""
    import html
    plain = html.unescape(output)
    words = " " + " ".join(_words(plain)) + " "
    found = []
    for answer in answers:
        head = answer[:30]
        if head and head in plain:
            found.append(head)
        w = _words(answer)
        for i in range(len(w) - RUN + 1):
            run = " " + " ".join(w[i:i + RUN]) + " "
            if run in words:
                found.append(run.strip())
    return found


# ----------------------------------------------------------------------------- hidden vs public tests

@dataclass
class RevealCase:
    name: str
    assignment: str
    replace: dict              # solution cell grade_id -> new source (a wrong answer, or "mutant:<name>")
    test: str                  # the test cell that must fail
    hidden: bool               # is ``test`` a hidden test?
    required: tuple = ()       # texts the message must hold (the student's value, the mistake's name)
    forbidden: tuple = ()      # regexes the message must not match (the reference values)
    tests: tuple = field(default=())   # grade only these tests (default: ``test``)


NOT_WRITTEN = "def {f}(*args, **kwargs):\n    raise NotImplementedError()\n"

REVEAL_CASES = [
    # ---- ps1: hidden tests of predict-before-run answers
    RevealCase("ps1 unseen pixels: 18", "ps1_convolution", {"answer_unseen_pixels": "answer_unseen_pixels = 18"},
               "test_answer_unseen_pixels", True, required=("18",), forbidden=(r"\b19\b",)),
    RevealCase("ps1 keras same: extra zero on top", "ps1_convolution",
               {"answer_keras_same": "answer_keras_same = (5, 2, 1)"}, "test_answer_keras_same", True,
               required=("odd extra zero goes at the bottom",), forbidden=(r"\(5, 1, 2\)",)),
    RevealCase("ps1 dense params: no biases", "ps1_convolution",
               {"answer_dense_params": "answer_dense_params = 307200"}, "test_answer_dense_params", True,
               required=("307200", "biases are missing"), forbidden=(r"307_?300",)),
    RevealCase("ps1 practice row 2: not flipped", "ps1_convolution",
               {"answer_practice_row2": "answer_practice_row2 = [3, 0, 9, -3, -21]"},
               "test_answer_practice_row2", True, required=("got 3", "kernel was not flipped"),
               forbidden=(r"-9\b",)),
    # ---- ps1: hidden grid tests (probes)
    RevealCase("ps1 conv_output_size without +1, hidden grid", "ps1_convolution",
               {"conv_output_size": "mutant:conv_output_size__no_plus_one"}, "test_conv_output_size_hidden_grid",
               True, required=("+1 is missing", "is 0")),
    RevealCase("ps1 same_padding not written, hidden grid", "ps1_convolution",
               {"same_padding": NOT_WRITTEN.format(f="same_padding")}, "test_same_padding_hidden", True,
               required=("NotImplementedError",), forbidden=(r"\(0, 0\)",)),
    RevealCase("ps1 conv_param_count not written, hidden grid", "ps1_convolution",
               {"conv_param_count": NOT_WRITTEN.format(f="conv_param_count")}, "test_conv_param_count_hidden", True,
               required=("NotImplementedError",)),
    RevealCase("ps1 conv_output_size raises, hidden grid", "ps1_convolution",
               {"conv_output_size": "def conv_output_size(n, k, p=0, s=1, exact=False):\n"
                                    "    raise ValueError('no')\n"},
               "test_conv_output_size_hidden_grid", True, required=("raised ValueError",)),
    # ---- ps1: hidden array tests
    RevealCase("ps1 conv2d without bias, hidden grid", "ps1_convolution", {"conv2d": "mutant:conv2d__bias_dropped"},
               "test_conv2d_hidden_grid", True, required=("bias is missing", "got "),
               forbidden=(r"max abs error",)),
    RevealCase("ps1 zero_pad pads every axis, hidden grid", "ps1_convolution", {"zero_pad": "mutant:zero_pad__all_axes"},
               "test_zero_pad_hidden_grid", True, required=("every axis was padded", "axis 0 is"),
               forbidden=(r"axis \d is \d+, expected",)),
    RevealCase("ps1 practice_network without +1, hidden", "ps1_convolution",
               {"practice_network": "def practice_network():\n"
                                    "    return {'conv1_shape': (26, 26, 5), 'pool1_shape': (13, 13, 5),\n"
                                    "            'conv2_shape': (6, 6, 3), 'conv1_weights': 135, 'conv1_params': 140,\n"
                                    "            'conv2_weights': 375, 'conv2_params': 378}\n"},
               "test_practice_network_hidden", True, required=("(6, 6, 3)", "+1 was left out"),
               forbidden=(r"\(7, 7, 3\)",)),
    # ---- ps1: public tests still teach with the expected value
    RevealCase("ps1 conv_output_size without +1, public", "ps1_convolution",
               {"conv_output_size": "mutant:conv_output_size__no_plus_one"}, "test_conv_output_size_seed", False,
               required=("is 4, expected 5", "+1 is missing")),
    RevealCase("ps1 zero_pad pads every axis, public", "ps1_convolution", {"zero_pad": "mutant:zero_pad__all_axes"},
               "test_zero_pad_public", False, required=("expected (2, 3, 6, 7)",)),
    # ---- ps2
    RevealCase("ps2 c1 padding: 5", "ps2_shapes", {"answer_c1_padding_224": "answer_c1_padding_224 = 5"},
               "test_answer_c1_padding_224", True, required=("is 5", "not the smallest"), forbidden=(r"\b4\b",)),
    RevealCase("ps2 c1 padding: the lecture's 2", "ps2_shapes", {"answer_c1_padding_224": "answer_c1_padding_224 = 2"},
               "test_answer_c1_padding_224", True, required=("is 2", "gives 55"), forbidden=(r"\b4\b",)),
    RevealCase("ps2 mnist pool first: the original total", "ps2_shapes",
               {"answer_mnist_pool_first": "answer_mnist_pool_first = 1199882"}, "test_answer_mnist_pool_first", True,
               required=("1199882", "original model"), forbidden=(r"1_?011_?466",)),
    RevealCase("ps2 c1 same pads: the 224 split", "ps2_shapes", {"answer_c1_same_pads": "answer_c1_same_pads = (3, 4)"},
               "test_answer_c1_same_pads", True, required=("split for the 224x224 input", "odd extra zero at the bottom"),
               forbidden=(r"\(4, 4\)", r"\b57\b")),
    RevealCase("ps2 layer_output_shape: pool stride 1, hidden", "ps2_shapes",
               {"layer_output_shape": "mutant:layer_output_shape__pool_stride_one"}, "test_layer_output_shape_random",
               True, required=("which is not right",)),
    RevealCase("ps2 layer_param_count: conv without C in, hidden", "ps2_shapes",
               {"layer_param_count": "mutant:layer_param_count__conv_no_c_in"}, "test_layer_param_count_random",
               True, required=("which is not right",)),
    RevealCase("ps2 summarize names not numbered, hidden", "ps2_shapes",
               {"summarize": "mutant:summarize__names_not_numbered"}, "test_summarize_names", True,
               required=("which is not right",), forbidden=(r"conv2d_1",)),
    RevealCase("ps2 layer_output_shape: pool stride 1, public", "ps2_shapes",
               {"layer_output_shape": "mutant:layer_output_shape__pool_stride_one"}, "test_layer_output_shape_each_type",
               False, required=("expected (",)),
]


# ----------------------------------------------------------------------------- NaN and inf

_A = np.arange(6.0).reshape(2, 3)
_NAN = _A.copy()
_NAN[0, 1] = np.nan
_INF = _A.copy()
_INF[1, 2] = np.inf

# (name, actual, expected, assert_close keywords, passes?, words the failure message holds)
NAN_CASES = [
    ("NaN where finite values are expected", _NAN, _A, {}, False, ("NaN at index [0, 1]", "expected finite values")),
    ("NaN compared with NaN from the student's own weights", _NAN, _NAN, {}, False, ("NaN at index [0, 1]",)),
    ("inf compared with inf", _INF, _INF, {}, False, ("inf at index [1, 2]",)),
    ("a NaN scalar compared with NaN", np.float64("nan"), float("nan"), {}, False, ("contains NaN",)),
    ("NaN with a loose tolerance", _NAN, _A, {"rtol": 1e9, "atol": 1e9}, False, ("NaN at index [0, 1]",)),
    ("equal_nan=True accepts matching NaN", _NAN, _NAN, {"equal_nan": True}, True, ()),
    ("finite and equal", _A, _A.copy(), {}, True, ()),
]
