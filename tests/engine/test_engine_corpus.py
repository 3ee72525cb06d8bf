"""The crafted-submission corpus (tests/corpus/engine_corpus.py) graded by the engine.

The corpus is graded twice, by two threads in parallel (distinct sandboxes and uids),
and each case is checked against its expected status, per-test statuses and score;
both runs must agree exactly.
"""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import engine_corpus as C  # noqa: E402

from autograder.assignment import load_assignment  # noqa: E402
from autograder.engine import grade_notebook, isolation_available  # noqa: E402

pytestmark = [
    pytest.mark.xdist_group("engine_corpus"),
    pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)"),
]
CASES = {c.name: c for c in C.CASES}


def _grade(assignment, path, case):
    return grade_notebook(assignment, path, case.name, limits=case.limits, seed=0)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """{case name: (path, first result, second result)}: the corpus graded twice, two threads each."""
    folder = tmp_path_factory.mktemp("corpus")
    assignment = load_assignment("toy", source_dir=C.FIXTURES)
    paths = {c.name: C.materialize(c, folder) for c in C.CASES}
    before = {n: p.read_bytes() for n, p in paths.items()}
    runs = []
    for _ in range(2):
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {n: pool.submit(_grade, assignment, paths[n], CASES[n]) for n in paths}
            runs.append({n: f.result() for n, f in futures.items()})
    for n, p in paths.items():
        assert p.read_bytes() == before[n], f"grading modified the submission {n}"
    return {n: (paths[n], runs[0][n], runs[1][n]) for n in paths}


@pytest.mark.parametrize("name", list(CASES))
def test_case(graded, name):
    case = CASES[name]
    _, result, _ = graded[name]
    assert result.status == case.status, (result.status, result.message)
    if case.status != "graded":
        assert result.score == 0 and result.message
        return
    got = {t.name: t.status for t in result.tests if t.status != "passed"}
    assert got == case.failing, {t.name: (t.status, t.message) for t in result.tests if t.status != "passed"}
    assert result.score == case.score
    assert result.max_score == 9
    msgs = {t.name: t.message for t in result.tests}
    for test, needle in case.message_has.items():
        assert needle.lower() in msgs[test].lower(), msgs[test]
    # as root: namespaces + a uid of the pool; as a normal user: an unprivileged user namespace
    # holding the same namespaces (isolation/probe.py)
    assert result.isolation.startswith(("namespaces(pid,net,mount,ipc,uts)+uid",
                                        "user_namespace(unprivileged, uid ")), result.isolation
    assert "namespaces(pid,net,mount,ipc,uts)" in result.isolation, result.isolation


def test_graded_twice_identically(graded):
    def key(r):
        return (r.status, r.score, r.message, [(t.name, t.status, t.points, t.message) for t in r.tests])
    diffs = [n for n, (_, a, b) in graded.items() if key(a) != key(b)]
    assert not diffs, diffs


def test_hidden_test_code_never_in_messages(graded):
    import nbformat
    nb = nbformat.read(C.SOURCE_NB, as_version=4)
    hidden_code = [ln.strip() for c in nb.cells if "### BEGIN HIDDEN TESTS" in c.source
                   for ln in c.source.splitlines() if len(ln.strip()) >= 16 and not ln.startswith("###")]
    assert len(hidden_code) >= 5
    for name, (_, result, _) in graded.items():
        for t in result.tests:
            for line in hidden_code:
                assert line not in t.message, (name, t.name, line)
        for line in hidden_code:
            assert line not in result.message, (name, line)


def test_nothing_written_outside_the_sandbox(graded):
    path, result, _ = graded["writes_outside_tmp"]
    assert result.score == 9
    assert not (path.parent / "pwned.txt").exists()
    assert not (C.ROOT / "pwned.txt").exists()


def test_detached_processes_do_not_survive(graded):
    path, result, _ = graded["detached_double_fork"]
    assert result.score == 9
    time.sleep(1.0)  # the grandchild would write late.txt within 0.5-10 s if it were alive
    survivors = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"9.7531" in cmd:
                survivors.append(pid)
    assert not survivors
    assert not (path.parent / "late.txt").exists()


def test_faults_cost_only_their_tests(graded):
    for name in ("os_exit_in_function", "infinite_loop", "huge_allocation", "fork_bomb"):
        _, result, _ = graded[name]
        passed = [t.name for t in result.tests if t.status == "passed"]
        assert len(passed) >= 4, (name, passed)
    _, result, _ = graded["os_exit_in_function"]
    assert result.durations["sandbox_starts"] >= 2          # restarted after the crash
    _, result, _ = graded["background_cpu_hogs"]
    # restarted after tests that left processes/threads running, whatever the isolation: the
    # pids cgroup counts them as root; a normal user's sandbox has no cgroup, and the worker's
    # descendants are counted in /proc (test_stray_processes.py)
    assert result.durations["sandbox_starts"] >= 3, (result.isolation, result.durations)


def test_invalid_messages_are_clear(graded):
    assert "JSON" in graded["invalid_json"][1].message
    assert "empty" in graded["empty_file"][1].message
    assert "not a Jupyter notebook" in graded["json_not_notebook"][1].message


def test_shadowed_builtins_are_reported_not_obeyed(graded):
    _, result, _ = graded["shadows_builtins_and_helpers"]
    assert result.score == graded["shadows_builtins_and_helpers"][2].score == 7   # = relu left blank
    assert "`range`" in result.message and "builtins" in result.message


def test_every_text_from_the_submission_is_bounded_and_clean(graded):
    import json
    from autograder.text import MAX_SUBMISSION_MESSAGE, MAX_TEST_MESSAGE
    for name, (_, result, _) in graded.items():
        text = json.dumps(result.to_dict(), ensure_ascii=False)
        text.encode("utf-8")                                   # no lone surrogate survives
        assert len(result.message) <= MAX_SUBMISSION_MESSAGE + 100, name
        assert all(len(t.message) <= MAX_TEST_MESSAGE + 100 for t in result.tests), name
    _, big, _ = graded["big_globals"]
    assert big.score == 9 and big.durations["cpu_s"] < 60      # the sandbox's CPU seconds, not wall time


def test_reference_values_are_computed_from_inputs_the_student_never_touched(tmp_path):
    """A function that zeroes its inputs in place cannot make a check computed after the call
    (from the same arrays) agree with its zeros: the student only ever gets copies."""
    import shutil
    import nbformat
    src = tmp_path / "toy"
    shutil.copytree(C.FIXTURES / "toy", src)
    nb = nbformat.read(src / "toy.ipynb", as_version=4)
    cell = nbformat.v4.new_code_cell(
        "### BEGIN HIDDEN TESTS\nx = np.arange(1.0, 10.0)\nk = np.array([1.0, 2.0, 1.0])\ny = conv1d(x, k)\n"
        "assert_close(y, np.array([x[i:i + 3] @ k for i in range(7)]), rtol=1e-12, atol=0, name='conv1d(x, k)')\n"
        "### END HIDDEN TESTS")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 5,
                                 "grade_id": "test_conv1d_after", "schema_version": 3, "task": False}
    nb.cells.append(cell)
    nbformat.write(nb, src / "toy.ipynb")
    assignment = load_assignment("toy", source_dir=tmp_path)
    zeroing = C.fill(C.released_notebook(), {**C.CORRECT, "conv1d": (
        "def conv1d(x, k):\n    x[...] = 0\n    k[...] = 0\n    return np.zeros(len(x) - len(k) + 1)\n")})
    honest = C.fill(C.released_notebook(), {**C.CORRECT, "conv1d": (
        "def conv1d(x, k):\n    return np.zeros(len(x) - len(k) + 1)\n")})
    scores = {}
    for name, sub in (("zeroing", zeroing), ("honest_wrong", honest)):
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(sub, path)
        result = grade_notebook(assignment, path, name)
        scores[name] = {t.name: t.status for t in result.tests}
    assert scores["zeroing"]["test_conv1d_after"] == "failed"
    assert scores["zeroing"] == scores["honest_wrong"]
