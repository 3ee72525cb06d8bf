"""Isolation and engine behaviour that the corpus does not show by scores alone:
what the sandbox can see and do, killing it, CPU of a whole process tree, remote
objects and run_student, the self-check (released, public only), insecure mode,
refusing to grade without isolation."""
import os
import signal
import sys
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import engine
from autograder.assignment import load_assignment
from autograder.engine import grade_notebook, isolation_available
from autograder.isolation.probe import probe
from autograder.sandbox import Sandbox, SandboxFault

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
import engine_corpus as C  # noqa: E402
from sandbox_calls import call, load  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
needs_isolation = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")
pytestmark = pytest.mark.xdist_group("engine_isolation")
LIMITS = {"cpu_per_test": 5, "startup_cpu": 10, "memory_mb": 512, "processes": 16, "output_kb": 16}

PROBES = r'''
import os, socket, sys, glob
def visible(paths):
    return {p: os.path.exists(p) for p in paths}
def can_import(name):
    try:
        __import__(name)
        return True
    except Exception:
        return False
def whoami():
    return {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "cwd": os.getcwd(),
            "groups": os.getgroups()}
def net():
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
        return "connected"
    except OSError as exc:
        return type(exc).__name__
def try_write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return type(exc).__name__
def signal_pid(pid):
    try:
        os.kill(pid, 0)
        return "reachable"
    except OSError as exc:
        return type(exc).__name__
def listing(d):
    return sorted(os.listdir(d))
'''


@needs_isolation
def test_sandbox_sees_no_secrets_and_has_no_network(tmp_path):
    other = tmp_path / "other_student" / "toy.ipynb"
    other.parent.mkdir()
    other.write_text("{}")
    with Sandbox(LIMITS, hide=[tmp_path]) as sb:
        sb.start()
        load(sb, PROBES)
        secrets = [str(ROOT / "solutions"), str(ROOT / "tests" / "fixtures" / "toy" / "toy.ipynb"),
                   str(ROOT / ".git"), str(ROOT / "exercises"), str(ROOT / "autograder" / "engine.py"),
                   str(other), "/root/.bash_history", str(ROOT.parent / "shared"), str(Path.home() / ".ssh")]
        assert call(sb, "visible", secrets) == {p: False for p in secrets}
        assert call(sb, "visible", [sys.prefix, "/tmp/lib/autograder/tools/checks.py"]) == {
            sys.prefix: True, "/tmp/lib/autograder/tools/checks.py": True}
        assert call(sb, "can_import", "solutions") is False
        assert call(sb, "can_import", "autograder.tools.checks") is True
        who = call(sb, "whoami")
        assert who["uid"] >= 1000 and who["gid"] >= 1000 and who["pid"] == 1
        # a user namespace cannot drop the grader's supplementary groups: they show unmapped
        assert who["groups"] == [] or probe()["backend"] == "userns" and set(who["groups"]) == {65534}
        assert who["cwd"] == "/tmp/work"
        assert call(sb, "net") == "OSError"
        assert call(sb, "try_write", os.path.join(sys.prefix, "evil.py")) in ("OSError", "PermissionError")
        # OSError: EROFS, the empty cover over the repository is read-only
        assert call(sb, "try_write", str(ROOT / "evil.py")) in ("OSError", "PermissionError", "FileNotFoundError")
        assert call(sb, "try_write", "/tmp/evil.py") in ("OSError", "PermissionError")
        assert call(sb, "try_write", "/etc/evil.conf") in ("OSError", "PermissionError")
        assert call(sb, "try_write", "/tmp/work/ok.txt") == "written"
        assert call(sb, "signal_pid", os.getpid()) == "ProcessLookupError"   # the grader is not visible
        if probe()["backend"] == "root":
            assert "cpuacct" in sb.mechanisms and "pid" in sb.mechanisms
        else:          # not root: an unprivileged user namespace, the worker in a nested one
            assert "user_namespace" in sb.mechanisms and "pid" in sb.mechanisms
        uid = sb.uid
    assert not (ROOT / "evil.py").exists()
    assert uid is not None


@needs_isolation
def test_sandbox_sees_the_small_mnist_subset_but_not_the_full_test_labels():
    data = Path(os.environ["CNN_COURSE_DATA"]).resolve()
    if not (data / "mnist_small.npz").is_file() or not (data / "mnist.npz").is_file():
        pytest.skip("the MNIST cache is not prepared (make data)")
    with Sandbox(LIMITS, data_files=["mnist_small.npz"]) as sb:
        sb.start()
        load(sb, PROBES)
        assert call(sb, "listing", str(data)) == ["mnist_small.npz"]
        load(sb, "from autograder.tools.data import load_mnist\n"
                 "def small():\n    (a, b), (c, d) = load_mnist(subset='small', verbose=False)\n    return len(a), len(c)\n"
                 "def full():\n    try:\n        load_mnist(verbose=False)\n    except FileNotFoundError as exc:\n"
                 "        return str(exc)\n    return 'loaded'\n")
        assert call(sb, "small") == [4000, 1000] or call(sb, "small") == (4000, 1000)
        assert "not available while grading" in call(sb, "full")


@needs_isolation
def test_sandbox_sees_no_data_it_did_not_declare_nor_the_keras_cache(tmp_path):
    keras_home = Path(os.environ["KERAS_HOME"]).resolve()
    (keras_home / "datasets").mkdir(parents=True, exist_ok=True)
    (keras_home / "datasets" / "secret-labels.npz").write_bytes(b"labels")
    data = Path(os.environ["CNN_COURSE_DATA"]).resolve()
    with Sandbox(LIMITS) as sb:
        sb.start()
        load(sb, PROBES)
        seen = call(sb, "visible", [str(keras_home / "datasets" / "secret-labels.npz"), str(data / "mnist.npz"),
                                    str(data / "mnist_small.npz")])
        assert not any(seen.values()), seen
        load(sb, "import os\ndef keras_home():\n    return os.environ.get('KERAS_HOME')\n")
        assert call(sb, "keras_home") == "/tmp/work/.keras"


SHM = r'''
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
def make_segment(key, size):
    return libc.shmget(key, size, 0o1000 | 0o666)      # IPC_CREAT
def find_segment(key):
    return libc.shmget(key, 0, 0o666)
def hostname():
    return socket.gethostname()
def set_hostname(name):
    return libc.sethostname(name.encode(), len(name))
'''


@needs_isolation
def test_sysv_shared_memory_and_hostname_are_private_to_each_sandbox():
    key = 0x5eed0 + os.getpid() % 1000
    a, b = Sandbox(LIMITS), Sandbox(LIMITS)
    try:
        a.start()
        b.start()
        load(a, SHM)
        load(b, SHM)
        assert call(a, "make_segment", key, 1 << 16) >= 0       # the first one can create it...
        assert call(a, "find_segment", key) >= 0
        assert call(b, "find_segment", key) == -1               # ...the second one cannot see it
        import socket
        assert call(a, "hostname") == socket.gethostname()       # a copy of the grader's, own namespace
        a.kill()
        b.kill()
        # the segment died with its IPC namespace: the grader's namespace never had it
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        assert libc.shmget(key, 0, 0o666) == -1
    finally:
        a.close()
        b.close()


@needs_isolation
def test_concurrent_sandboxes_get_distinct_uids():
    boxes = [Sandbox(LIMITS) for _ in range(2)]
    try:
        threads = [threading.Thread(target=b.start) for b in boxes]
        [t.start() for t in threads]
        [t.join() for t in threads]
        uids = []
        for b in boxes:
            load(b, PROBES)
            uids.append(call(b, "whoami")["uid"])
        assert uids[0] != uids[1] and uids == [b.uid for b in boxes]
    finally:
        for b in boxes:
            b.close()


@needs_isolation
def test_killing_the_sandbox_does_not_take_the_grader_down():
    with Sandbox(LIMITS) as sb:
        sb.start()
        load(sb, PROBES)
        os.kill(sb.proc.pid, signal.SIGKILL)      # unshare, or the keeper of a sandbox forked from a template
        sb.proc.wait(timeout=10)                  # its death sends the worker SIGKILL (--kill-child / pdeathsig)
        with pytest.raises(SandboxFault) as info:
            call(sb, "whoami")
        assert info.value.kind == "crash"
        groups = dict(sb.cgroups)
        sb.start()                                  # a fresh incarnation works, in the same cgroups
        assert sb.cgroups == groups
        load(sb, PROBES)
        assert call(sb, "whoami")["pid"] == 1
    if probe()["backend"] == "root":      # no cgroups in a user namespace
        assert groups and not any(d.exists() for d in groups.values())   # removed by close()


STRAY = r'''
import ctypes, os, time
def leave_a_daemon(name):
    """A grandchild in its own session (setsid, double fork), named ``name``: it outlives
    the worker's own children unless the sandbox takes it down."""
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)      # PR_SET_NAME
            os.write(w, b"x")
            while True:
                time.sleep(1)
        os._exit(0)
    os.read(r, 1)
    return True
'''


def _named(name: str) -> list:
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == name:
                    out.append(int(pid))
        except (OSError, ValueError):
            pass
    return out


@needs_isolation
@pytest.mark.parametrize("template", [False, True])
def test_a_daemon_the_student_left_dies_with_the_sandbox(template):
    name = f"stray{os.getpid() % 100000}{int(template)}"
    with Sandbox(LIMITS, template=template) as sb:
        sb.start()
        load(sb, STRAY)
        assert call(sb, "leave_a_daemon", name) is True
        assert _named(name), "the daemon should run while the sandbox does"
    for _ in range(200):          # the PID namespace's init is gone: the kernel kills the rest
        if not _named(name):
            break
        import time
        time.sleep(0.05)
    assert not _named(name), "a process the student started outlived the sandbox"


def write_assignment(folder: Path, setup: str, solution: str, tests: list, toml: str = "") -> Path:
    """A one-off assignment ``folder/x/x.ipynb``; returns the folder of sources."""
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell(setup, metadata={"nbgrader": {"grade_id": "setup", "locked": True,
                                                                     "grade": False, "solution": False}}),
             nbformat.v4.new_code_cell(solution, metadata={"nbgrader": {"grade_id": "sol", "solution": True,
                                                                        "grade": False}})]
    for gid, src in tests:
        cells.append(nbformat.v4.new_code_cell(src, metadata={"nbgrader": {
            "grade_id": gid, "grade": True, "solution": False, "locked": True, "points": 1}}))
    nb.cells = cells
    (folder / "x").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / "x" / "x.ipynb")
    (folder / "x" / "grading.toml").write_text(toml)
    return folder


SETUP = "import numpy as np\nfrom autograder.tools import assert_equal, assert_close, run_student"


@needs_isolation
def test_remote_objects_and_run_student(tmp_path):
    solution = (
        "class Counter:\n"
        "    def __init__(self, start):\n        self.value = start\n"
        "    def add(self, n):\n        self.value += n\n        return self\n"
        "    def __len__(self):\n        return self.value\n"
        "    def items(self):\n        return [np.float32(i) for i in range(self.value)]\n"
        "def make_counter(n):\n    return Counter(n)\n"
        "SIZES = {'a': (1, 2), 'b': np.arange(3)}\n")
    tests = [
        ("t_object", "c = Counter(3)\nc.add(2).add(1)\nassert_equal(c.value, 6)\nassert_equal(len(c), 6)\n"
                     "assert_equal(list(c.items())[-1], 5.0)\nc.value = 2\nassert_equal(c.value, 2)\n"
                     "assert 'Counter' in repr(make_counter(1))"),
        ("t_run_student", "assert_equal(run_student('result = Counter(k).value * 2', k=4), 8)\n"
                          "assert_equal(run_student('result = SIZES[\"a\"]'), (1, 2))"),
        ("t_values", "assert_equal(SIZES['a'], (1, 2))\nassert_close(SIZES['b'], np.arange(3), rtol=0, atol=0)"),
        ("t_missing", "assert_equal(not_defined_anywhere(1), 1)"),
        ("t_no_result", "run_student('x = 1')"),
        ("t_grader_print", "print('from the test')\nassert False, 'custom message'"),
    ]
    src = write_assignment(tmp_path / "src", SETUP, solution, tests)
    a = load_assignment("x", source_dir=src)
    r = grade_notebook(a, src / "x" / "x.ipynb", "s", limits=LIMITS)
    status = {t.name: (t.status, t.message) for t in r.tests}
    assert status["t_object"] == ("passed", ""), status
    assert status["t_run_student"] == ("passed", ""), status
    assert status["t_values"] == ("passed", ""), status
    assert status["t_missing"][0] == "error" and "does not define 'not_defined_anywhere'" in status["t_missing"][1]
    assert status["t_no_result"] == ("failed", "the checked code did not set `result`")
    assert status["t_grader_print"] == ("failed", "custom message")


@needs_isolation
def test_cpu_of_child_processes_counts_and_student_errors_show_their_frames(tmp_path):
    solution = (
        "import subprocess, sys\n"
        "def spin():\n"
        "    subprocess.run([sys.executable, '-c', 'while True: pass'])\n"
        "    return 1\n"
        "def helper(x):\n"
        "    raise ValueError(f'bad x: {x}')\n"
        "def outer(x):\n"
        "    return helper(x)\n")
    tests = [("t_spin", "spin()"),
             ("t_raises", "from autograder.tools import assert_raises\nassert_raises(ValueError, outer, 3, match='bad x')"),
             ("t_error", "outer(5)")]
    src = write_assignment(tmp_path / "src", SETUP, solution, tests)
    a = load_assignment("x", source_dir=src)
    r = grade_notebook(a, src / "x" / "x.ipynb", "s", limits={**LIMITS, "cpu_per_test": 0.5})
    status = {t.name: (t.status, t.message) for t in r.tests}
    assert status["t_spin"][0] == "timeout", status   # the parent waits; its child burns the CPU
    assert r.tests[0].cpu_s >= 0.5
    assert status["t_raises"] == ("passed", "")
    assert status["t_error"][0] == "error"
    msg = status["t_error"][1]
    assert msg.startswith("outer raised ValueError: bad x: 5")
    assert "in outer: return helper(x)" in msg and "in helper: raise ValueError" in msg
    assert "engine.py" not in msg and "worker.py" not in msg


@needs_isolation
def test_self_check_runs_public_tests_of_the_release(tmp_path):
    (tmp_path / "toy").mkdir()
    nbformat.write(C.released_notebook(), tmp_path / "toy" / "toy.ipynb")
    released = load_assignment("toy", source_dir=tmp_path, released=True)
    sub = C.materialize(C.CASES[0], tmp_path / "subs")
    r = grade_notebook(released, sub, "me", public_only=True)
    assert r.max_score == 5 and r.score == 5 and all(t.visibility == "public" for t in r.tests)
    full = load_assignment("toy", source_dir=C.FIXTURES)
    r2 = grade_notebook(full, sub, "me", public_only=True)
    assert [t.name for t in r2.tests] == [t.name for t in r.tests]


def test_insecure_mode_grades_without_namespaces(tmp_path):
    a = load_assignment("toy", source_dir=C.FIXTURES)
    sub = C.materialize(C.CASES[0], tmp_path)
    r = grade_notebook(a, sub, "s", insecure=True)
    assert r.score == 9 and r.isolation.startswith("none (insecure")


def test_refuses_to_grade_without_isolation(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "isolation_available", lambda: None)
    a = load_assignment("toy", source_dir=C.FIXTURES)
    sub = C.materialize(C.CASES[0], tmp_path)
    r = grade_notebook(a, sub, "s")
    assert r.status == "error" and "Refusing to grade" in r.message and r.score == 0
    assert all(t.status == "error" for t in r.tests)


def test_unreadable_path_is_invalid(tmp_path):
    a = load_assignment("toy", source_dir=C.FIXTURES)
    r = grade_notebook(a, tmp_path / "missing.ipynb", "s")
    assert r.status == "invalid" and "could not be read" in r.message
    assert np.isclose(r.max_score, 9)


def test_the_package_checkout_is_hidden_but_an_installed_package_is_not(monkeypatch):
    """A student's `pip install` puts autograder/ in site-packages: its parent is the Python
    installation the sandbox runs on, not a source tree to hide (issue 19: every check of a
    student install scored 0, "the sandbox could not be started", numpy not found)."""
    import sysconfig

    from autograder.isolation import backends as S

    assert S.package_source_tree() == str(ROOT)
    monkeypatch.setattr(S, "PACKAGE_PARENT", Path(sysconfig.get_paths()["purelib"]))
    assert S.package_source_tree() is None
    if isolation_available() is not None:
        assert sysconfig.get_paths()["purelib"] not in Sandbox(LIMITS)._view()["hide"]
