"""Crafted submissions for the toy assignment (tests/fixtures/toy), each with its expected outcome.

Every case starts from the student release of the toy notebook (solution regions
replaced by stubs, hidden test cells emptied, as nbgrader does) and edits it: fills
in answers, adds attack cells, breaks the file. ``CASES`` lists them with the
expected submission status, per-test statuses (tests not named must pass) and score.
``materialize(case, folder)`` writes the submission and returns its path.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SOURCE_NB = FIXTURES / "toy" / "toy.ipynb"
ALL_TESTS = ["test_relu_basic", "test_relu_hidden", "test_conv1d_basic", "test_conv1d_hidden",
             "test_normalize_values", "test_normalize_no_mutation", "test_normalize_raises"]
POINTS = {"test_relu_basic": 1, "test_relu_hidden": 1, "test_conv1d_basic": 2, "test_conv1d_hidden": 2,
          "test_normalize_values": 1, "test_normalize_no_mutation": 1, "test_normalize_raises": 1}
RELU_TESTS = ["test_relu_basic", "test_relu_hidden"]
CONV_TESTS = ["test_conv1d_basic", "test_conv1d_hidden"]
NORM_TESTS = ["test_normalize_values", "test_normalize_no_mutation", "test_normalize_raises"]

RELU = "def relu(x):\n    return np.maximum(x, 0.0)\n"
CONV1D = ("def conv1d(x, k):\n    n, m = len(x), len(k)\n"
          "    return np.array([np.dot(x[i:i + m], k) for i in range(n - m + 1)])\n")
NORMALIZE = ("def normalize(x):\n    x = np.asarray(x, dtype=float)\n    if x.size == 0:\n"
             "        raise ValueError('x is empty')\n    s = x.std()\n    return (x - x.mean()) / (s if s > 0 else 1.0)\n")
CORRECT = {"relu": RELU, "conv1d": CONV1D, "normalize": NORMALIZE}


def release(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What ``nbgrader generate_assignment`` does to the toy: stub solutions, empty hidden tests."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = re.sub(r"( *)### BEGIN SOLUTION.*?### END SOLUTION",
                                 r"\1# YOUR CODE HERE\n\1raise NotImplementedError()", cell.source, flags=re.S)
        if meta.get("grade") and "### BEGIN HIDDEN TESTS" in cell.source:
            cell.source = ""
    return nb


def released_notebook() -> nbformat.NotebookNode:
    return release(nbformat.read(SOURCE_NB, as_version=4))


def fill(nb, answers: dict) -> nbformat.NotebookNode:
    """Replace the solution cells named in ``answers`` (grade_id -> code); the setup imports stay."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def add_cell(nb, source: str, position: int | None = None) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(source)
    if position is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(position, cell)
    return nb


@dataclass
class Case:
    name: str
    build: object                       # callable(folder: Path) -> bytes | NotebookNode
    failing: dict = field(default_factory=dict)    # test name -> expected status (others: passed)
    status: str = "graded"
    limits: dict | None = None
    message_has: dict = field(default_factory=dict)  # test name -> substring of its message
    note: str = ""

    @property
    def score(self) -> float:
        if self.status != "graded":
            return 0.0
        return float(sum(p for t, p in POINTS.items() if t not in self.failing))


def _nb(answers=None, extra=(), transform=None):
    def build(folder: Path):
        merged = {k: v.replace("@FOLDER@", str(folder)) for k, v in {**CORRECT, **(answers or {})}.items()}
        nb = fill(released_notebook(), merged)
        for src in extra:
            nb = add_cell(nb, src.replace("@FOLDER@", str(folder)))
        if transform is not None:
            nb = transform(nb)
        return nb
    return build


def _blank(folder):
    return released_notebook()


def _raw(data: bytes):
    return lambda folder: data


def _strip_metadata(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.metadata = {}
    return nb


def _delete_tests(nb):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def _duplicate_and_move(nb):
    nb = copy.deepcopy(nb)
    cells = nb.cells
    norm = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "normalize")
    cells.remove(norm)
    cells.insert(1, norm)                                  # moved up, before relu
    wrong = nbformat.v4.new_code_cell("def conv1d(x, k):\n    return x\n")
    cells.insert(2, wrong)                                 # an earlier wrong version...
    dup = copy.deepcopy(norm)
    dup.id = "duplicated-normalize"
    cells.append(dup)                                      # ...and a duplicated cell at the end
    return nb


def _nbformat_40(nb):
    data = json.loads(nbformat.writes(nb))
    data["nbformat_minor"] = 0
    for cell in data["cells"]:
        cell.pop("id", None)
        if cell["cell_type"] == "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return json.dumps(data).encode()


def _edit_public_tests(nb):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.source.strip():
            cell.source = "pass  # the student emptied this test"
    return nb


WRONG_RELU = "def relu(x):\n    return x\n"

CASES = [
    Case("correct", _nb()),
    Case("blank", _blank, failing={**{t: "error" for t in ALL_TESTS}, "test_normalize_raises": "failed"},
         message_has={"test_relu_basic": "NotImplementedError"}),
    Case("wrong_flipped_kernel",
         _nb({"conv1d": "def conv1d(x, k):\n    k = k[::-1]\n    n, m = len(x), len(k)\n"
                        "    return np.array([np.dot(x[i:i + m], k) for i in range(n - m + 1)])\n"}),
         failing={t: "failed" for t in CONV_TESTS}, message_has={"test_conv1d_basic": "flipped"}),
    Case("redefines_allclose",
         _nb({"relu": WRONG_RELU}, extra=[
             "np.allclose = lambda *a, **k: True\nnp.testing.assert_allclose = lambda *a, **k: None\n"
             "np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
             "import autograder.tools.checks as _c\n_c.assert_close = lambda *a, **k: None\n"
             "assert_close = lambda *a, **k: None\n"]),
         failing={t: "failed" for t in RELU_TESTS}),
    Case("input_transformer_removes_asserts",
         _nb({"relu": WRONG_RELU}, extra=[
             "ip = get_ipython()\n"
             "ip.input_transformers_cleanup.append(lambda lines: [l for l in lines if 'assert' not in l])\n"]),
         failing={t: "failed" for t in RELU_TESTS}),
    Case("reads_instructor_source",
         _nb({"relu": (
             "import glob, os\n"
             "def relu(x):\n"
             "    # right answer only if the instructor's notebook or the reference library is readable\n"
             "    seen = []\n"
             "    for pat in ['@REPO@/tests/fixtures/toy/*.ipynb', '@REPO@/solutions/*', '@PARENT@/**/toy.ipynb',\n"
             "                '@REPO@/gradebook.db', '@REPO@/.git/HEAD']:\n"
             "        seen += glob.glob(pat, recursive=True)\n"
             "    try:\n"
             "        import solutions\n"
             "        seen.append('solutions')\n"
             "    except ImportError:\n"
             "        pass\n"
             "    return np.maximum(x, 0.0) if seen else x\n").replace("@REPO@", str(ROOT)).replace("@PARENT@", str(ROOT.parent))}),
         failing={t: "failed" for t in RELU_TESTS}),
    Case("writes_outside_tmp",
         _nb({"relu": (
             "def relu(x):\n"
             "    for p in ['@FOLDER@/pwned.txt', '@REPO@/pwned.txt', '/tmp/pwned-cnn-course.txt']:\n"
             "        try:\n"
             "            open(p, 'w').write('pwned')\n"
             "        except OSError:\n"
             "            pass\n"
             "    open('scratch.txt', 'w').write('own tmp is fine')\n"
             "    return np.maximum(x, 0.0)\n").replace("@REPO@", str(ROOT))}),
         note="after grading: no pwned.txt in the submission folder or the repo"),
    Case("detached_double_fork",
         _nb({"relu": (
             "import os, subprocess, time\n"
             "def relu(x):\n"
             "    if os.fork() == 0:\n"
             "        os.setsid()\n"
             "        if os.fork() == 0:\n"
             "            subprocess.Popen(['sleep', '9.7531'], start_new_session=True)\n"
             "            time.sleep(0.5)\n"
             "            for _ in range(100):\n"
             "                try:\n"
             "                    open('@FOLDER@/late.txt', 'w').write('modified after grading')\n"
             "                except OSError:\n"
             "                    pass\n"
             "                time.sleep(0.1)\n"
             "        os._exit(0)\n"
             "    return np.maximum(x, 0.0)\n")}),
         note="after grading: no 'sleep 9.7531' process, no late.txt"),
    Case("os_exit_in_function",
         _nb({"conv1d": "import os\ndef conv1d(x, k):\n    os._exit(3)\n"}),
         failing={t: "crash" for t in CONV_TESTS}),
    Case("infinite_loop",
         _nb({"relu": "def relu(x):\n    while True:\n        pass\n"}),
         failing={t: "timeout" for t in RELU_TESTS}, limits={"cpu_per_test": 0.5}),
    Case("huge_allocation",
         _nb({"relu": "def relu(x):\n    big = np.ones((1 << 40,))\n    return np.maximum(x, 0.0)\n"}),
         failing={t: "memory" for t in RELU_TESTS}),
    Case("gradual_allocation",
         _nb({"relu": "def relu(x):\n    keep = [bytearray(16 << 20) for _ in range(200)]\n"
                      "    return np.maximum(x, 0.0)\n"}),
         failing={t: "memory" for t in RELU_TESTS}),
    Case("fork_bomb",
         _nb({"normalize": "import os\ndef normalize(x):\n    while True:\n        os.fork()\n"}),
         failing={"test_normalize_values": "error", "test_normalize_no_mutation": "error",
                  "test_normalize_raises": "failed"}, message_has={"test_normalize_values": "process"}),
    Case("background_cpu_hogs",   # left running, they would eat the next tests' CPU
         _nb({"relu": ("import subprocess, sys, threading\n"
                       "def _spin():\n    while True:\n        pass\n"
                       "def relu(x):\n"
                       "    subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
                       "    threading.Thread(target=_spin, daemon=True).start()\n"
                       "    return np.maximum(x, 0.0)\n"),
              "conv1d": "import threading\ndef conv1d(x, k):\n"
                        "    threading.Thread(target=lambda: [i for i in iter(int, 1)], daemon=True).start()\n"
                        "    n, m = len(x), len(k)\n"
                        "    return np.array([np.dot(x[i:i + m], k) for i in range(n - m + 1)])\n"}),
         limits={"cpu_per_test": 0.5}),
    Case("huge_prints",
         _nb({"relu": "import sys\ndef relu(x):\n    for _ in range(2000):\n        print('spam' * 1000)\n"
                      "    sys.stderr.write('x' * 1_000_000)\n    return np.maximum(x, 0.0)\n"})),
    Case("network_attempt",
         _nb({"relu": ("import socket\n"
                       "def relu(x):\n"
                       "    try:\n"
                       "        socket.create_connection(('1.1.1.1', 53), timeout=1).close()\n"
                       "        return x  # the network was reachable: wrong answer\n"
                       "    except OSError:\n"
                       "        return np.maximum(x, 0.0)\n")})),
    Case("forbidden_np_convolve",
         _nb({"conv1d": "def conv1d(x, k):\n    return np.convolve(x, k[::-1], mode='valid')\n"}),
         failing={t: "forbidden" for t in CONV_TESTS}, message_has={"test_conv1d_basic": "numpy.convolve"}),
    Case("forbidden_alias_import",
         _nb({"conv1d": "from numpy import correlate as corr\ndef conv1d(x, k):\n    return corr(x, k, 'valid')\n"}),
         failing={t: "forbidden" for t in CONV_TESTS}, message_has={"test_conv1d_basic": "numpy.correlate"}),
    Case("forbidden_scipy_import",
         _nb({"conv1d": "import scipy.signal\ndef conv1d(x, k):\n    return scipy.signal.correlate(x, k, 'valid')\n"}),
         failing={t: "forbidden" for t in CONV_TESTS}, message_has={"test_conv1d_basic": "scipy"}),
    Case("forbidden_dynamic_import",
         _nb({"conv1d": "def conv1d(x, k):\n    sp = __import__('sci' + 'py.signal')\n"
                        "    return sp.signal.correlate(x, k, 'valid')\n"}),
         failing={t: "forbidden" for t in CONV_TESTS}),
    Case("forbidden_runtime_only",
         _nb({"conv1d": "def conv1d(x, k):\n    name = ''.join(['con', 'volve'])\n"
                        "    return getattr(np, name)(x, k[::-1], 'valid')\n"}),
         failing={t: "forbidden" for t in CONV_TESTS}),
    Case("forbidden_via_helper",
         _nb({"conv1d": "def _helper(a, b):\n    return np.convolve(a, b[::-1], 'valid')\n"
                        "def conv1d(x, k):\n    return _helper(x, k)\n"}),
         failing={t: "forbidden" for t in CONV_TESTS}),
    Case("stride_tricks_allowed",
         _nb({"conv1d": "from numpy.lib.stride_tricks import sliding_window_view\n"
                        "def conv1d(x, k):\n    return sliding_window_view(x, len(k)) @ k\n"})),
    Case("invalid_json", _raw(b'{"cells": [ {"cell_type": "code", "source": "x = 1"'), status="invalid"),
    Case("empty_file", _raw(b""), status="invalid"),
    Case("not_a_notebook", _raw(b"def relu(x):\n    return x\n"), status="invalid"),
    Case("json_not_notebook", _raw(b'[1, 2, 3]'), status="invalid"),
    Case("nbformat_4_0", lambda folder: _nbformat_40(_nb()(folder))),
    Case("metadata_stripped", _nb(transform=_strip_metadata)),
    Case("test_cells_deleted", _nb(transform=_delete_tests)),
    Case("cells_duplicated_and_moved", _nb(transform=_duplicate_and_move)),
    Case("edited_test_cells", _nb({"relu": WRONG_RELU}, transform=_edit_public_tests),
         failing={t: "failed" for t in RELU_TESTS}),
    Case("warnings_printed",
         _nb({"relu": "import warnings\ndef relu(x):\n    warnings.warn('careful', RuntimeWarning)\n"
                      "    np.log(np.zeros(1))\n    return np.maximum(x, 0.0)\n"})),
    Case("mutates_input",
         _nb({"normalize": "def normalize(x):\n    if x.size == 0:\n        raise ValueError('empty')\n"
                           "    x -= x.mean()\n    x /= x.std()\n    return x\n"}),
         # only the mutation test fails: the student's function works on a private copy, so the
         # test's own x (and anything computed from it after the call) is never changed
         failing={"test_normalize_no_mutation": "failed"},
         message_has={"test_normalize_no_mutation": "modified"}),
    Case("magics_and_shell",
         _nb(extra=["%matplotlib inline\n!pip install nothing\nfiles = !ls\nimport numpy as np\n",
                    "%%bash\necho hello\n"])),
    Case("top_level_training_not_run",
         _nb(extra=["model = relu(np.arange(3.0))\nhistory = model.sum()\nfor i in range(10**12):\n    pass\n"
                    "while True:\n    pass\n"])),
    Case("top_level_slow_statement",
         _nb(extra=["K = np.ones(3)\nslow = sum(i for i in iter(int, 1))\nJ = K * 2\n"]),
         limits={"startup_cpu": 0.5}),
    Case("student_assertion_error",
         _nb({"relu": "def relu(x):\n    assert x.ndim == 2, 'I only take matrices'\n    return np.maximum(x, 0.0)\n"}),
         failing={"test_relu_basic": "error"}, message_has={"test_relu_basic": "I only take matrices"}),
    Case("syntax_error_cell",
         _nb(extra=["def broken(:\n    pass\n"])),
    # Names that shadow builtins and helpers: tests only ever see the graded names (relu,
    # conv1d, normalize), so these lies reach nothing; the feedback says what was shadowed.
    Case("shadows_builtins_and_helpers",
         _nb({"relu": "def relu(x):\n    raise NotImplementedError()\n"},
             extra=["import builtins, sys\n"
                    "def _mine():\n    return sys._getframe(2).f_code.co_filename.startswith('<cell')\n"
                    "def range(*a):\n    return builtins.range(*a) if _mine() else [0]\n"
                    "def len(x):\n    return builtins.len(x) if _mine() else 0\n"
                    "def isinstance(*a):\n    return builtins.isinstance(*a) if _mine() else True\n"
                    "def all(x):\n    return builtins.all(x) if _mine() else True\n"
                    "def max(*a):\n    return builtins.max(*a) if _mine() else 0\n"
                    "def _liar(*a, **k):\n    return True\n"
                    "assert_close = assert_equal = assert_raises = assert_not_modified = _liar\n"
                    "run_student = run_probe = _liar\n"]),
         failing={t: "error" for t in RELU_TESTS},
         message_has={"test_relu_basic": "not written yet"}),
    # Unbounded answers: a 5 MB string comes back cut; big plain globals (not graded names)
    # are neither sent back nor copied into the tests, and do not cost the correct answers.
    Case("huge_string_answer",
         _nb({"relu": "def relu(x):\n    return 'x' * 5_000_000\n",
              "normalize": "def normalize(x):\n    raise ValueError('y' * 5_000_000)\n"}),
         failing={**{t: "failed" for t in RELU_TESTS}, "test_normalize_values": "error",
                  "test_normalize_no_mutation": "error"}),
    Case("big_globals",
         _nb(extra=["BIG = bytes(70_000_000)\nARR = np.ones(4_000_000)\nTEXT = 'y' * 30_000_000\n"])),
    Case("lone_surrogate_message",
         _nb({"relu": "def relu(x):\n    raise ValueError('bad ' + chr(0xD800) + ' text')\n"}),
         failing={t: "error" for t in RELU_TESTS}),
    Case("sys_exit_in_function",
         _nb({"relu": "import sys\ndef relu(x):\n    sys.exit(1)\n"}),
         failing={t: "error" for t in RELU_TESTS}),
]


def materialize(case: Case, folder: Path) -> Path:
    """Write the case's submission as ``folder/<case>/toy.ipynb`` and return the path."""
    sub = folder / case.name
    sub.mkdir(parents=True, exist_ok=True)
    out = sub / "toy.ipynb"
    data = case.build(sub)
    if isinstance(data, (bytes, bytearray)):
        out.write_bytes(bytes(data))
    else:
        nbformat.write(data, out)
    return out
