"""Hostile submissions for issue 18 ("Fair grades"), as data, and the grading runs the tests
use (tests/grading/test_fair_determinism.py, tests/engine/test_fair_bounds.py).

Every grading run happens in a fresh Python process (``python fair_corpus_core.py JSON``)
so that nothing (torch, keras...) is imported before the grader itself imports it: the
races these submissions exploited only exist in a process that has not imported torch yet.

Cells (appended to an otherwise correct notebook, so they override its answers):

* :data:`TORCH_TAG`: rewrites, inside the sandbox, the worker's encoder so that every numpy
  array it sends back is tagged a torch tensor (the header is built from split strings, the
  way a student reading the grader's public code would dodge a static check): the grader
  decodes torch tensors, importing torch on a grading thread in the old code, while its
  classmates' threads looked torch up half-imported (scores of 34, 48 and 35 of 57 for three
  correct notebooks graded beside it);
* :data:`BIG_LIST`: a 4.5-million-element plain list as an answer (28 s of the grader's own
  CPU at load in the old code: decoded, then deep-copied for every test);
* the ``fair_mem`` assignment (:func:`memory_source_notebook`): a test allocates in the
  grader in proportion to what the student's function returns; :data:`MEM_HOG` returns a
  size that needs gigabytes there, :data:`MEM_ABSURD` one that needs petabytes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TORCH_TAG = '''
class _Tag:
    import sys as _s
    _P = _s.modules["autograder" + ".protocol"]
    _orig = _P.encode
    def _enc(value, bufs, arrays=None, to_ref=None, _depth=0, _orig=_orig):
        node = _orig(value, bufs, arrays, to_ref, _depth)
        if isinstance(node, dict) and node.get("$" + "t") == "n" + "d":
            node = dict(node)
            node["$" + "t"] = "tor" + "ch"
        return node
    _P.encode = _enc
'''

BIG_LIST = "answer_unseen_pixels = [0] * 4_500_000\n"

MEM_NAME = "fair_mem"

MEM_HOG = '''
def block_size(k):
    return 4_000 * k      # the test allocates block_size(3) MB in the grader: 12 GB
'''

MEM_ABSURD = '''
def block_size(k):
    return 10 ** 12 * k   # petabytes: numpy refuses at once
'''


def memory_source_notebook():
    """``fair_mem``: ``block_size(k)`` (k MB) and ``double(x)``; a test allocates
    ``block_size(3)`` MB in the grader (the way a test builds an expected array of the size
    the student's code says), another only checks ``double``. 3 points."""
    from autograder.authoring import NotebookSource

    nb = NotebookSource()
    nb.md("md-title", "# Memory\nA test that allocates in the grader what the student's answer says.")
    nb.setup("setup", """
        import numpy as np
        from autograder.tools import assert_equal
        """)
    nb.solution("block_size", '''
        def block_size(k):
            """k megabytes, as a number of bytes over a million."""
            ### BEGIN SOLUTION
            return k
            ### END SOLUTION
        ''')
    nb.test("test_block_size", 1, """
        _buf = np.empty(int(block_size(3)) * 1_000_000, dtype=np.uint8)
        assert_equal(_buf.shape, (3_000_000,), name="the block's shape")
        """)
    nb.solution("double", '''
        def double(x):
            """2 x."""
            ### BEGIN SOLUTION
            return 2 * x
            ### END SOLUTION
        ''')
    nb.test("test_double", 1, """
        assert_equal(double(21), 42, name="double(21)")
        """)
    nb.hidden("test_double_hidden", 1, """
        assert_equal(double(-4), -8, name="double(-4)")
        """)
    return nb.build()


RNG_NAME = "fair_rng"
RNG_TESTS = 6


def rng_source_notebook():
    """``fair_rng``: :data:`RNG_TESTS` tests that seed numpy's and Python's global generators,
    call the student's ``double`` (the sandbox round trip, during which the other grading
    threads' tests run) and then draw the reference input: a test's draws must not depend on
    what its classmates' tests drew meanwhile. One point each."""
    from autograder.authoring import NotebookSource

    nb = NotebookSource()
    nb.md("md-title", "# Global generators\nReference inputs drawn from the grader's global generators.")
    nb.setup("setup", """
        import numpy as np
        from autograder.tools import assert_equal
        """)
    nb.solution("double", '''
        def double(x):
            """2 x."""
            ### BEGIN SOLUTION
            return 2 * x
            ### END SOLUTION
        ''')
    for i in range(RNG_TESTS):
        nb.test(f"test_draws_{i}", 1, f"""
            import random
            np.random.seed({i})
            random.seed({i})
            _first = np.random.rand(3)
            assert_equal(double(2), 4, name="double(2)")
            _then, _r = np.random.rand(3), random.random()
            np.random.seed({i})
            random.seed({i})
            _expected = np.random.rand(6)[3:]
            _e = random.random()
            assert np.array_equal(_then, _expected) and _r == _e, "another test drew from this test's generator"
            _unseeded = np.random.rand(2)   # the same for every copy: seeded by the grader per test
            assert_equal(double(1), 2, name="double(1)")
            """)
    return nb.build()


def write_source(source_dir, name: str, build, memory_mb: int = 512) -> Path:
    from autograder.release import write_notebook
    from autograder.samples import TOY_GRADING_TOML

    folder = Path(source_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.ipynb"
    write_notebook(build(), path)
    (folder / "grading.toml").write_text(TOY_GRADING_TOML.replace("memory_mb = 4096", f"memory_mb = {memory_mb}"),
                                         encoding="utf-8")
    return path


def write_memory_source(source_dir) -> Path:
    return write_source(source_dir, MEM_NAME, memory_source_notebook)


def write_class(folder, assignment, students: dict) -> Path:
    """``folder/<student>/<name>.ipynb`` for ``students = {id: extra cell source or None}``:
    each the assignment's correct notebook, plus that cell. Returns ``folder``."""
    import nbformat

    from autograder.samples import correct_notebook

    source = nbformat.read(str(assignment.path), as_version=4)
    for sid, extra in students.items():
        nb = correct_notebook(source)
        if extra:
            nb.cells.append(nbformat.v4.new_code_cell(extra))
        d = Path(folder) / sid
        d.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(d / f"{assignment.name}.ipynb"))
    return Path(folder)


# ---------------------------------------------------------------- grading in a fresh process

def _digest(r) -> dict:
    """What must not depend on the classmates or the thread count: score, status, each test's
    status, points and message (durations left out)."""
    return {"status": r.status, "score": r.score, "max_score": r.max_score, "message": r.message,
            "tests": [[t.name, t.status, t.points, t.message] for t in r.tests]}


def _main(args: dict) -> None:
    from autograder import batch, intake
    from autograder.assignment import load_assignment

    source_dir = args.get("source_dir")
    a = load_assignment(args["assignment"], source_dir=Path(source_dir) if source_dir else ROOT / "solutions")
    subs = intake.find_submissions(Path(args["folder"]), a.name, f"{a.name}.ipynb")
    prepare = getattr(__import__("autograder.grader_process").grader_process, "prepare_grader", None)
    if prepare is not None and args.get("prepare_first"):
        prepare(a, args.get("limits"))        # measured separately from grading below
    c0 = time.process_time()
    res = batch.grade_all(a, subs, workers=int(args["workers"]), progress=False, limits=args.get("limits"),
                          insecure=bool(args.get("insecure")))
    cpu = time.process_time() - c0
    print("FAIR-RESULT " + json.dumps({"cpu_s": cpu, "results": {r.student_id: _digest(r) for r in res}}))


def grade_in_fresh_process(assignment: str, folder, workers: int, *, source_dir=None, limits=None,
                           prepare_first: bool = False, timeout: float = 600) -> dict:
    """Grade ``folder`` in a new Python process (``workers`` threads); returns ``{"cpu_s": the
    grader's own CPU seconds while grading, "results": {student: digest}}``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = {"assignment": assignment, "folder": str(folder), "workers": workers, "limits": limits,
            "source_dir": str(source_dir) if source_dir else None, "prepare_first": prepare_first}
    p = subprocess.run([sys.executable, __file__, json.dumps(args)], cwd=str(ROOT), env=env, capture_output=True,
                       text=True, timeout=timeout)
    for line in p.stdout.splitlines():
        if line.startswith("FAIR-RESULT "):
            return json.loads(line[len("FAIR-RESULT "):])
    raise AssertionError(f"the grading process failed (exit {p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}")


if __name__ == "__main__":
    _main(json.loads(sys.argv[1]))
