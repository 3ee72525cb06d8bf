"""Grading-integrity cases for the toy assignment: forbidden-API bypasses through dynamic code,
notebook styles that extraction used to misgrade, and oversized or malformed submissions.

Same ``Case`` shape as engine_corpus.py (expected status, per-test statuses, score). A cheater
never scores more than an honest wrong submission of the same functions; a correct notebook
written in any of these styles gets full marks. Graded by tests/engine/test_extraction.py.
"""
from __future__ import annotations

import json

from engine_corpus import ALL_TESTS, CONV_TESTS, Case, _nb, _raw

# conv1d that removes the sandbox's import guard, then imports scipy through exec
EXEC_AFTER_META_PATH = (
    "import sys\n"
    "def conv1d(x, k):\n"
    "    sys.meta_path[:] = [f for f in sys.meta_path if 'Forbidden' not in type(f).__name__]\n"
    "    ns = {}\n"
    "    exec('import sci' + 'py.signal as s', ns)\n"
    "    return ns['s'].correlate(x, k, 'valid')\n")
# conv1d that reaches numpy's C correlate through a computed attribute name on numpy internals
GETATTR_JOIN = (
    "def conv1d(x, k):\n"
    "    mod = np._core.multiarray\n"
    "    return getattr(mod, ''.join(['corr', 'elate2']))(x, k, 0)\n")
# top-level code that disables the guard for everybody, used by a helper-free conv1d
TOP_LEVEL_DYNAMIC = (
    "import sys\n"
    "_ = sys.meta_path.clear()\n"
    "_sp = __import__('sci' + 'py.signal').signal\n"
    "def conv1d(x, k):\n"
    "    return _sp.correlate(x, k, 'valid')\n")
# black-style continuation lines starting with % and != (and a magic in the same cell)
BLACK_PERCENT = (
    "%matplotlib inline\n"
    "def conv1d(x, k):\n"
    "    n, m = len(x), len(k)\n"
    "    if (\n"
    "        n\n"
    "        % 1\n"
    "        != 0\n"
    "    ):\n"
    "        raise ValueError('never')\n"
    "    return np.array([np.dot(x[i:i + m], k) for i in range(n - m + 1)])\n")
BLACK_NE = (
    "def normalize(x):\n"
    "    x = np.asarray(x, dtype=float)\n"
    "    if not (\n"
    "        x.size\n"
    "        != 0\n"
    "    ):\n"
    "        raise ValueError('x is empty')\n"
    "    s = x.std()\n"
    "    return (x - x.mean()) / (s if s > 0 else 1.0)\n")
LAMBDA_ALIAS = (
    "def _correlate(x, k):\n"
    "    n, m = len(x), len(k)\n"
    "    return np.array([np.dot(x[i:i + m], k) for i in range(n - m + 1)])\n"
    "conv1d = lambda x, k: _correlate(x, k)\n")
LOOP_TABLE = (
    "_OPS = {}\n"
    "for _name, _fn in [('max', np.maximum), ('min', np.minimum)]:\n"
    "    _OPS[_name] = _fn\n"
    "_SCALE = [1.0 for _ in range(3)]\n"
    "def relu(x):\n"
    "    return _OPS['max'](x, 0.0) * _SCALE[0]\n")
DISPLAY_IN_FUNCTION = (
    "def relu(x):\n"
    "    display(x)\n"
    "    !echo shell lines in a function do nothing while grading\n"
    "    %time y = 1\n"
    "    return np.maximum(x, 0.0)\n")
# ps3's pattern: a list filled by a loop that calls student code, then concatenated
CONCAT_AFTER_SKIPPED_LOOP = (
    "preds = []\n"
    "for i in range(3):\n"
    "    preds.append(relu(np.ones(2) * i))\n"
    "P = np.concatenate(preds)\n"
    "print(P)\n")


def _as_json_bytes(build):
    """The notebook written with json.dumps (\\uXXXX escapes), so lone surrogates survive in the file."""
    return lambda folder: json.dumps(build(folder)).encode()


def _many_cells(n):
    cells = [{"cell_type": "code", "source": "", "metadata": {}}] * n
    return json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": cells},
                      separators=(",", ":")).encode()


CASES = [
    Case("exec_after_meta_path", _nb({"conv1d": EXEC_AFTER_META_PATH}),
         failing={t: "forbidden" for t in CONV_TESTS}, message_has={"test_conv1d_basic": "exec"}),
    Case("getattr_join_internals", _nb({"conv1d": GETATTR_JOIN}),
         failing={t: "forbidden" for t in CONV_TESTS}, message_has={"test_conv1d_basic": "getattr"}),
    Case("top_level_dynamic_code", _nb({"conv1d": TOP_LEVEL_DYNAMIC}),
         failing={t: "forbidden" for t in ALL_TESTS}, message_has={"test_relu_basic": "top level"}),
    Case("black_percent_continuation", _nb({"conv1d": BLACK_PERCENT})),
    Case("black_ne_continuation", _nb({"normalize": BLACK_NE})),
    Case("lambda_alias", _nb({"conv1d": LAMBDA_ALIAS})),
    Case("loop_built_table", _nb({"relu": LOOP_TABLE})),
    Case("display_in_function", _nb({"relu": DISPLAY_IN_FUNCTION})),
    Case("concat_after_skipped_loop", _nb(extra=[CONCAT_AFTER_SKIPPED_LOOP])),
    Case("lone_surrogate_in_source",
         _as_json_bytes(_nb(extra=["# a lone surrogate: \ud800\nLABEL = 'caf\udce9'\n"]))),
    Case("deeply_nested_cell", _nb(extra=["DEEP = " + "+".join(["1"] * 3000) + "\n",
                                          "DEEPER = " + "-" * 50000 + "1\n"])),
    Case("hundred_thousand_cells", _raw(_many_cells(100_000)), status="invalid"),
]
