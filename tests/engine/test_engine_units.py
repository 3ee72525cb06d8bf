"""Unit tests of the engine's parts that need no sandbox: wire protocol, notebook
reading and code selection, forbidden-API analysis, assignment loading."""
import ast
import json
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import protocol as P
from autograder.assignment import load_assignment, load_config
from autograder.forbidden import analyze
from autograder.notebook import InvalidSubmission, extract_student_code, parse_notebook, strip_magics

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# ----------------------------------------------------------------------------- protocol

def roundtrip(value):
    bufs: list = []
    node = P.encode(value, bufs)
    r, w = os.pipe()
    try:
        P.send(w, {"v": node}, bufs)
        os.close(w)
        head, rbufs = P.Reader(r).read()
    finally:
        os.close(r)
    return P.decode(head["v"], rbufs)


@pytest.mark.parametrize("dtype", ["float64", "float32", "int8", "uint16", "int64", "bool", "complex128", ">f8"])
def test_arrays_roundtrip_exactly(dtype):
    x = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    y = roundtrip(x)
    assert y.dtype == x.dtype and y.shape == x.shape and np.array_equal(x, y)
    y[0, 0, 0] = 1  # decoded arrays are writable


def test_nested_plain_values_roundtrip():
    value = {"a": [1, 2.5, None, True, "s", (3, 4)], "b": b"\x00\x01", "n": float("nan"),
             "i": float("-inf"), "big": 10**30, "s": np.float32(1.5), "t": (np.int64(7),),
             "empty": np.zeros((0, 3)), "nc": np.arange(12).reshape(3, 4)[:, ::2], 5: "int key"}
    out = roundtrip(value)
    assert out["a"] == [1, 2.5, None, True, "s", (3, 4)]
    assert out["b"] == b"\x00\x01" and np.isnan(out["n"]) and out["i"] == float("-inf")
    assert out["big"] == 10**30 and out["s"] == np.float32(1.5) and out["s"].dtype == np.float32
    assert out["t"][0].dtype == np.int64 and out["empty"].shape == (0, 3)
    assert np.array_equal(out["nc"], np.arange(12).reshape(3, 4)[:, ::2]) and out[5] == "int key"


def test_object_arrays_and_objects_are_refused():
    with pytest.raises(P.NotEncodable, match="dtype object"):
        P.encode(np.array([1, "a"], dtype=object), [])
    with pytest.raises(P.NotEncodable, match="cannot be sent"):
        P.encode(object(), [])
    refs = []
    node = P.encode([object()], [], None, lambda o: refs.append(o) or {"$t": "ref", "id": 1})
    assert node["v"][0] == {"$t": "ref", "id": 1} and len(refs) == 1


def test_decoder_rejects_bad_messages():
    with pytest.raises(P.ProtocolError, match="refused dtype"):
        P.decode({"$t": "nd", "dtype": "|O", "shape": [1], "b": 0}, [bytearray(8)])
    with pytest.raises(P.ProtocolError, match="do not match"):
        P.decode({"$t": "nd", "dtype": "<f8", "shape": [3], "b": 0}, [bytearray(8)])
    with pytest.raises(P.ProtocolError, match="buffer index"):
        P.decode({"$t": "bytes", "b": 4}, [])
    with pytest.raises(P.ProtocolError, match="unexpected remote reference"):
        P.decode({"$t": "ref", "id": 3}, [])
    r, w = os.pipe()
    os.write(w, b"\xff\xff\xff\xff\x00\x00\x00\x00")
    os.close(w)
    with pytest.raises(P.ProtocolError, match="too large"):
        P.Reader(r).read()
    os.close(r)


# ----------------------------------------------------------------------------- notebooks

def nb_bytes(*sources, meta=None) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s, metadata=meta or {}) for s in sources]
    return nbformat.writes(nb).encode()


@pytest.mark.parametrize("data, needle", [
    (b"", "empty"), (b"   \n", "empty"), (b"{not json", r"not valid JSON \(line 1"),
    (b"[1, 2]", "top level is a list"), (b'{"a": 1}', "no list of cells"),
    (b'{"nbformat": 3, "worksheets": []}', "nbformat 3"), (b"\xff\xfe\x00", "not UTF-8"),
])
def test_unreadable_files_give_clear_reasons(data, needle):
    with pytest.raises(InvalidSubmission, match=needle):
        parse_notebook(data)


def test_nbformat_4_0_without_ids_or_metadata():
    data = json.dumps({"nbformat": 4, "nbformat_minor": 0, "metadata": {},
                       "cells": [{"cell_type": "code", "source": ["def f():\n", "    return 1\n"]},
                                 {"cell_type": "markdown", "source": "hi"}, "junk"]}).encode()
    cells = parse_notebook(data)
    assert [c.cell_type for c in cells] == ["code", "markdown"]
    assert cells[0].source == "def f():\n    return 1\n" and cells[0].nbgrader == {}


def test_magics_are_dropped_keeping_line_numbers():
    src = "%matplotlib inline\n!pip install x\nfiles = !ls\nnp.sum?\nx = 1\n"
    assert strip_magics(src).splitlines() == ["", "", "", "", "x = 1"]
    assert strip_magics("%%bash\necho hi\n") is None
    assert strip_magics("%%time\ny = 2\n").splitlines() == ["", "y = 2"]


def code_of(*sources, **kw):
    return extract_student_code(parse_notebook(nb_bytes(*sources)), **kw)


def test_only_definitions_and_safe_assignments_are_kept():
    code = code_of(
        "import numpy as np\nfrom math import pi\nK = np.array([[1, 0], [0, 1]])\n"
        "@staticmethod\ndef f(x):\n    return x\nclass Net:\n    pass\n",
        "X, y = np.zeros(3), np.ones(3)\nmodel = Net()\nhistory = model.fit(X)\nacc = history['acc']\n"
        "out = f(K)\nfor i in range(3):\n    print(i)\nprint('hi')\nm2 = np.zeros(2)\nm2.fit = 1\n"
        "Z = m2.fit(3)\nW = K * 2; V = f(W)\n")
    kept = [s["src"].split("\n")[0] for s in code.stmts]
    assert kept == ["import numpy as np", "from math import pi", "K = np.array([[1, 0], [0, 1]])",
                    "@staticmethod", "class Net:", "X, y = np.zeros(3), np.ones(3)", "m2 = np.zeros(2)",
                    "m2.fit = 1", "W = K * 2"]
    assert set(code.defined) == {"f", "Net"}
    assert code.skipped == 8
    assert code.stmts[3]["lineno"] == 4 and code.stmts[-1]["lineno"] == 12


def test_assignments_reading_names_only_skipped_code_defines_are_skipped():
    # y_pred comes from a skipped loop: `wrong = ...` would only add a NameError note
    code = code_of("import numpy as np\nfor i in range(2):\n    y_pred = np.zeros(3)\n",
                   "wrong = np.flatnonzero(y_pred != 1)\nsq = [v * v for v in range(3)]\nf = lambda t: t + 1\n"
                   "n = len(sq)\nn += 1\nbad += 1\n",
                   "from os.path import *\nq = join('a', 'b')\n")
    assert [s["src"] for s in code.stmts] == [
        "import numpy as np", "sq = [v * v for v in range(3)]", "f = lambda t: t + 1", "n = len(sq)", "n += 1",
        "from os.path import *", "q = join('a', 'b')"]


def test_test_cells_are_recognised_by_metadata_id_or_text():
    cells = parse_notebook(nb_bytes("def f():\n    return 1\n", "assert f() == 1\nZ = 5\n", "Q = 3\n", "R = 4\n"))
    cells[1].nbgrader = {"grade": True, "solution": False, "grade_id": "t1"}
    cells[2].nbgrader = {"grade_id": "t2"}
    code = extract_student_code(cells, test_ids={"t1", "t2"}, test_texts=["R = 4  \n\n"])
    assert [s["src"] for s in code.stmts] == ["def f():\n    return 1"]


def test_syntax_errors_are_noted_and_other_cells_kept():
    code = code_of("def ok():\n    return 1\n", "def broken(:\n    pass\n")
    assert [s["src"].split("(")[0] for s in code.stmts] == ["def ok"]
    assert "the cell starting `def broken(:`" in code.notes[0] and "syntax error" in code.notes[0]


# ----------------------------------------------------------------------------- forbidden APIs

def flagged(src, modules=("scipy", "torch"), names=("numpy.convolve", "numpy.correlate")):
    return analyze(ast.parse(src).body, modules, names)


@pytest.mark.parametrize("src", [
    "import numpy as np\ndef f(x):\n    return np.convolve(x, x)\n",
    "import numpy\ndef f(x):\n    return numpy.convolve(x, x)\n",
    "from numpy import convolve as c\ndef f(x):\n    return c(x, x)\n",
    "import numpy as np\nconv = np.convolve\ndef f(x):\n    return conv(x, x)\n",
    "def f(x):\n    import numpy as q\n    return q.correlate(x, x)\n",
    "import numpy as np\ndef f(x):\n    return np.core.numeric.convolve(x, x)\n",
    "import numpy as np\ndef f(x):\n    return getattr(np, 'conv' + 'olve')(x, x)\n",
    "def f(x):\n    import scipy.signal\n    return x\n",
    "from scipy import signal\ndef f(x):\n    return signal.correlate(x, x)\n",
    "def f(x):\n    return __import__('sci' + 'py')\n",
    "import importlib\ndef f(x):\n    return importlib.import_module('torch')\n",
    "def f(x, name):\n    return __import__(name)\n",
    "import numpy as np\ndef g(x):\n    return np.convolve(x, x)\ndef f(x):\n    return g(x)\n",
    "import numpy as np\nclass f:\n    def forward(self, x):\n        return np.correlate(x, x)\n",
])
def test_forbidden_uses_are_found(src):
    assert "f" in flagged(src), src


@pytest.mark.parametrize("src", [
    "import numpy as np\ndef f(x):\n    return np.lib.stride_tricks.sliding_window_view(x, 3)\n",
    "from numpy.lib.stride_tricks import as_strided\ndef f(x):\n    return as_strided(x)\n",
    "import numpy as np\ndef f(x):\n    convolve = 3\n    return np.einsum('ij,ij->', x, x) + convolve\n",
    "def f(x):\n    '''Not scipy.signal.convolve2d, just numpy.'''\n    return x\n",
])
def test_allowed_code_is_not_flagged(src):
    assert flagged(src) == {}, src


def test_transitive_use_names_the_helper():
    out = flagged("import numpy as np\ndef g(x):\n    return np.convolve(x, x)\n"
                  "def h(x):\n    return g(x)\ndef f(x):\n    return h(x)\ndef ok(x):\n    return x\n")
    assert set(out) == {"f", "g", "h"}
    assert out["g"] == ["numpy.convolve"] and "via" in out["f"][0]


# ----------------------------------------------------------------------------- assignments

def test_toy_assignment_loads_with_hidden_tests():
    a = load_assignment("toy", source_dir=FIXTURES)
    assert a.notebook_name == "toy.ipynb" and a.max_score == 9
    vis = {t.grade_id: t.visibility for t in a.tests}
    assert vis["test_relu_hidden"] == "hidden" and vis["test_relu_basic"] == "public"
    assert "import numpy as np" in a.setup_source
    assert a.limits["cpu_per_test"] == 2 and a.forbidden["names"] == ["numpy.convolve", "numpy.correlate"]
    assert all(t.cpu_limit == 2 for t in a.tests)
    assert not any("BEGIN HIDDEN" in s for s in a.test_sources_for_matching)


def test_a_failing_setup_cell_is_the_instructors_error_not_the_students(tmp_path):
    """Before: the error was swallowed and each test said the notebook did not define a name."""
    import shutil

    from autograder.engine import grade_notebook
    from autograder.results import ERROR

    shutil.copytree(FIXTURES / "toy", tmp_path / "toy")
    nb = nbformat.read(tmp_path / "toy" / "toy.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    setup.source += "\nSCALE = 1 / 0\n"
    nbformat.write(nb, tmp_path / "toy" / "toy.ipynb")
    a = load_assignment("toy", source_dir=tmp_path)
    r = grade_notebook(a, tmp_path / "toy" / "toy.ipynb", "alice", insecure=True)
    assert r.status == ERROR and r.score == 0
    assert "setup cell" in r.message and "ZeroDivisionError" in r.message and "tell your instructor" in r.message
    assert len(r.tests) == len(a.tests)
    assert all(t.status == ERROR and "setup cell" in t.message for t in r.tests)


def test_released_assignment_counts_hidden_tests(tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
    import engine_corpus as C
    (tmp_path / "toy").mkdir()
    nbformat.write(C.released_notebook(), tmp_path / "toy" / "toy.ipynb")
    a = load_assignment("toy", source_dir=tmp_path, released=True)
    assert a.hidden_count == 3 and len(a.tests) == 4 and a.max_score == 5
    assert all(t.visibility == "public" for t in a.tests)
    assert a.limits["cpu_per_test"] == 10  # no grading.toml there: the defaults


def test_bad_grading_toml_names_the_entry(tmp_path):
    (tmp_path / "grading.toml").write_text("[limits]\ncpu_per_test = -1\n")
    with pytest.raises(ValueError, match=r"cpu_per_test must be a positive number, got -1"):
        load_config(tmp_path / "grading.toml")
    (tmp_path / "grading.toml").write_text("[forbidden]\nmodules = 'scipy'\n")
    with pytest.raises(ValueError, match=r"modules must be a list of strings"):
        load_config(tmp_path / "grading.toml")


def test_missing_assignment_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no notebook"):
        load_assignment("nope", source_dir=tmp_path)


def test_load_skips_statements_that_read_what_a_failed_statement_defines(tmp_path):
    """One failing top-level statement gives one note, not a NameError for everything after it."""
    from autograder import worker
    import ast
    tree = ast.parse("x = broken()\nlimit = 3")
    assert worker._binds(tree) == {"x", "limit"}
    assert worker._reads_failed(ast.parse("y = x + 1"), {"x"}, {})
    assert not worker._reads_failed(ast.parse("y = x + 1"), {"x"}, {"x": 1})     # bound elsewhere: fine
    assert not worker._reads_failed(ast.parse("def f():\n    return x"), {"x"}, {})  # runs later, if called


def test_parsing_from_many_grading_threads_at_once():
    """CPython 3.11's AST constructor keeps its recursion bookkeeping per interpreter: parallel
    ast.parse/compile in grading threads could raise SystemError (seen once in `make demo`).
    The grader's parses go through autograder.pysource's lock."""
    from concurrent.futures import ThreadPoolExecutor
    from autograder import pysource
    src = "def f(x):\n    return " + "(" * 60 + "x" + ")" * 60 + "\n" + "y = [[[[1]]]]\n" * 200

    def work(_):
        for _ in range(20):
            pysource.compile_code(pysource.parse(src), "<t>", "exec")
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(8)))


def test_sandbox_data_dir_is_never_seen_half_built_and_repairs_strays(tmp_path):
    """Several graders building the shared data folder at once (the race a fresh clone's test
    run hit): every caller gets a folder holding exactly the declared files, hard-linked, and
    no temporary entry ever appears in it; a stray entry is swapped away."""
    import threading as th

    from autograder.isolation.data import sandbox_data_dir

    (tmp_path / "a.npz").write_bytes(b"A" * 1000)
    (tmp_path / "b.npz").write_bytes(b"B" * 1000)
    (tmp_path / "secret.npz").write_bytes(b"S")
    seen, results = [], []
    stop = th.Event()

    def watch():
        while not stop.is_set():
            for d in tmp_path.glob("sandbox-*"):
                try:
                    seen.append(tuple(sorted(p.name for p in d.iterdir())))
                except OSError:
                    pass

    watcher = th.Thread(target=watch)
    watcher.start()
    builders = [th.Thread(target=lambda: results.append(sandbox_data_dir(str(tmp_path), ["b.npz", "a.npz"])))
                for _ in range(8)]
    [b.start() for b in builders]
    [b.join() for b in builders]
    stop.set()
    watcher.join()
    assert len(set(results)) == 1 and results[0] is not None
    dst = Path(results[0])
    assert sorted(p.name for p in dst.iterdir()) == ["a.npz", "b.npz"]
    assert all(s == ("a.npz", "b.npz") for s in seen), sorted(set(seen))
    assert os.path.samefile(dst / "a.npz", tmp_path / "a.npz")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]      # no staging left
    (dst / "a.npz.1234.5678").write_bytes(b"stray")
    assert sandbox_data_dir(str(tmp_path), ["a.npz", "b.npz"]) == str(dst)
    assert sorted(p.name for p in dst.iterdir()) == ["a.npz", "b.npz"]
