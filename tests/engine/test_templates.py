"""Sandboxes forked from a template (autograder/zygote.py, isolation/templates.py).

A template imports an assignment's ``[sandbox] preload`` modules once and forks each
submission's sandbox; the fork then gets its own namespaces, uid, limits and ``/tmp/work``.
These tests show that it changes nothing a student or a grade could notice: the same view
of the machine as a sandbox started afresh, nothing of one submission left for the next,
PyTorch's and TensorFlow's thread pools working after the fork, the same results; and that
a template that cannot serve is retired and sandboxes start afresh.
"""
import json
import os
import signal
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import sandbox as S
from autograder.isolation import templates as T
from autograder.isolation.uids import UIDS
from autograder.assignment import load_assignment
from autograder.engine import grade_notebook, isolation_available
from autograder.samples import correct_notebook, partly_wrong_notebook
from autograder.sandbox import Sandbox

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "corpus"))
import sandbox_calls  # noqa: E402
needs_isolation = pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")
pytestmark = [needs_isolation, pytest.mark.xdist_group("engine_templates")]


@pytest.fixture(autouse=True, scope="module")
def _templates_work():
    why = S.templates_available()
    if why:
        pytest.skip(f"sandbox templates cannot run here: {why}")
LIMITS = {"cpu_per_test": 20, "startup_cpu": 30, "memory_mb": 4096, "processes": 32, "output_kb": 16}
TORCH = ["torch", "torch.optim", "torch._dynamo", "torch.utils.data", "tqdm"]

PROBES = r'''
import os, sys, socket
def view():
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return {"pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid(), "euid": os.geteuid(),
            "groups": os.getgroups(), "cwd": os.getcwd(),
            "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "tmp": sorted(os.listdir("/tmp")), "root": sorted(os.listdir("/")),
            "sockets": sorted(v for v in fds.values() if v.startswith("socket:")),
            "hostname": socket.gethostname(), "home": sorted(os.listdir("/tmp/work")),
            "mounts": sorted(line.split()[1] for line in open("/proc/self/mounts"))}
def leave_traces(key):
    import numpy, ctypes, subprocess, tempfile
    numpy.left_behind = key
    sys.modules["left_behind"] = key
    os.environ["LEFT_BEHIND"] = key
    with open("/tmp/work/left_behind.txt", "w") as f:
        f.write(key)
    tempfile.NamedTemporaryFile(delete=False).write(b"x")
    libc = ctypes.CDLL(None, use_errno=True)
    segment = libc.shmget(0x5eed1, 4096, 0o1000 | 0o666)
    child = subprocess.Popen(["sleep", "600"], start_new_session=True)
    return {"segment": segment, "child": child.pid}
def traces(key):
    import numpy, ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return {"numpy": getattr(numpy, "left_behind", None), "module": "left_behind" in sys.modules,
            "env": os.environ.get("LEFT_BEHIND"), "file": os.path.exists("/tmp/work/left_behind.txt"),
            "tmp": sorted(os.listdir("/tmp/work")), "segment": libc.shmget(0x5eed1, 0, 0o666),
            "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
'''


def call(sb, name, *args):
    return sandbox_calls.call(sb, name, *args, cpu_limit=30, wall_limit=120)


def load(sb, src):
    return sandbox_calls.load(sb, src, cpu_limit=30, wall_limit=120)


def started(template: bool, preload=(), hide=()) -> Sandbox:
    sb = Sandbox(LIMITS, preload=preload, template=template, hide=hide)
    sb.start()
    assert sb.forked is template, T._TEMPLATES and [t.retired for t in T._TEMPLATES.values()]
    return sb


def test_a_forked_sandbox_sees_what_a_fresh_one_sees(tmp_path):
    secret = tmp_path / "other_student"
    secret.mkdir()
    views = {}
    for template in (False, True):
        with started(template, hide=[tmp_path]) as sb:
            load(sb, PROBES)
            views[template] = call(sb, "view")
    fresh, forked = views[False], views[True]
    assert forked["pid"] == 1 and forked["ppid"] == 0 and forked["procs"] == [1]
    assert forked["uid"] == forked["euid"] >= 1000 and forked["groups"] == []
    assert forked["sockets"] == [], "the template's control socket must not reach the sandbox"
    for key in ("pid", "ppid", "procs", "cwd", "tmp", "root", "groups", "sockets", "hostname"):
        assert forked[key] == fresh[key], (key, forked[key], fresh[key])
    assert forked["home"] == fresh["home"] == [".output"]
    # the same mounts, plus the fork's own /tmp/work (a fresh sandbox's is a folder of its /tmp)
    assert set(forked["mounts"]) == set(fresh["mounts"]) | {"/tmp/work"}, set(forked["mounts"]) ^ set(fresh["mounts"])


def test_hiding_the_course_that_holds_the_venv_leaves_its_packages_importable():
    """The CLI hides the course's folder; a checkout's venv lies inside it. A fork must still
    import what the template did not preload (sklearn), and still not see the course."""
    venv = Path(sys.prefix).resolve()
    course = venv.parent
    for template in (False, True):
        with started(template, hide=[course]) as sb:
            load(sb, "import os\ndef probe():\n    import sklearn\n"
                     "    return [sklearn.__name__, sorted(os.listdir(%r))]\n" % str(course))
            name, visible = call(sb, "probe")
            assert name == "sklearn", template
            assert set(visible) <= {venv.name, "autograder"}, (template, visible)


def test_nothing_of_one_submission_is_visible_to_the_next():
    with started(True) as first:
        load(first, PROBES)
        left = call(first, "leave_traces", "student-1")
        assert left["segment"] >= 0
        assert call(first, "traces", "x")["numpy"] == "student-1"     # they are there, in its own sandbox
        first_uid = first.uid
        with started(True) as second:            # forked from the same template while the first runs
            load(second, PROBES)
            seen = call(second, "traces", "student-1")
            assert second.uid != first_uid
    assert seen == {"numpy": None, "module": False, "env": None, "file": False, "tmp": [".output"],
                    "segment": -1, "procs": [1]}, seen
    with started(True) as third:                 # and after the first one is gone
        load(third, PROBES)
        assert call(third, "traces", "student-1")["tmp"] == [".output"]


TRAIN = r'''
import numpy as np
def torch_and_keras(seed):
    import torch, keras
    torch.manual_seed(seed)
    torch.set_num_threads(2)               # a thread pool created after the fork
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 26 * 26, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    for _ in range(3):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(seed)
    hist = model.fit(rng.normal(size=(64, 8)), rng.normal(size=(64, 1)), epochs=2, batch_size=16, verbose=0)
    return {"torch_threads": torch.get_num_threads(), "torch_loss": float(loss),
            "torch_w": net[0].weight.detach().numpy().copy(),
            "keras_loss": [float(v) for v in hist.history["loss"]],
            "keras_w": model.get_weights()[0]}
'''


def test_torch_and_tensorflow_thread_pools_work_after_the_fork_and_give_the_same_numbers():
    preload = [*TORCH, "tensorflow", "keras"]
    got = {}
    for template in (True, False):
        with started(template, preload=preload) as sb:
            load(sb, TRAIN)
            got[template] = call(sb, "torch_and_keras", 3)
    forked, fresh = got[True], got[False]
    assert forked["torch_threads"] == 2
    assert forked["torch_loss"] == fresh["torch_loss"] and np.array_equal(forked["torch_w"], fresh["torch_w"])
    assert forked["keras_loss"] == fresh["keras_loss"] and np.array_equal(forked["keras_w"], fresh["keras_w"])


def test_a_template_that_cannot_preload_is_retired_and_sandboxes_start_afresh(recwarn):
    with Sandbox(LIMITS, preload=["no_such_module_anywhere"]) as sb:
        sb.start()
        assert not sb.forked
        load(sb, "def f():\n    return 41 + 1\n")
        assert call(sb, "f") == 42
    retired = [t.retired for t in T._TEMPLATES.values() if "no_such_module_anywhere" in t.retired]
    assert retired and "preloading failed" in retired[0] and "ModuleNotFoundError" in retired[0]
    # said to the instructor's tools (template_notices, the autograder.sandbox logger), never
    # as a Python warning: a student's `cnn-course check` printed it (issue 19)
    assert any("no_such_module_anywhere" in n for n in T.template_notices())
    assert not [w for w in recwarn.list if "template" in str(w.message)], [str(w.message) for w in recwarn.list]


def test_a_bad_request_is_reported_and_does_not_retire_the_template(monkeypatch):
    with started(True):
        pass
    serving = [t for t in T._TEMPLATES.values() if not t.retired]
    monkeypatch.setattr(UIDS, "acquire", lambda: 0)          # the worker must never run as root
    monkeypatch.setattr(UIDS, "release", lambda uid: None)
    with Sandbox(LIMITS) as sb:
        with pytest.raises(S.SandboxError, match="'uid' must be an unprivileged uid"):
            sb.start()
    monkeypatch.undo()
    assert all(not t.retired for t in serving)
    with started(True) as sb:                  # the same template still forks
        load(sb, PROBES)
        assert call(sb, "view")["uid"] > 0


def test_a_killed_template_is_replaced_and_its_sandboxes_live_on():
    with started(True) as sb:
        load(sb, PROBES)
        tpl = next(t for t in T._TEMPLATES.values() if not t.retired and t.hello.get("preloaded") == [])
        os.killpg(tpl.proc.pid, signal.SIGKILL)
        tpl.proc.wait(timeout=10)
        assert call(sb, "view")["pid"] == 1                  # the running sandbox does not depend on it
        with Sandbox(LIMITS) as again:                       # the next start notices, then a new template serves
            again.start()
            load(again, PROBES)
            assert call(again, "view")["pid"] == 1
        with started(True) as later:
            assert later.forked
    assert tpl.retired and tpl.died


def test_the_keeper_reports_how_the_worker_ended():
    with started(True) as sb:
        load(sb, "import ctypes\ndef die():\n    ctypes.string_at(0)\n")   # pid 1 ignores kill(); a fault it cannot
        with pytest.raises(S.SandboxFault) as info:
            call(sb, "die")
        assert info.value.kind == "crash" and "SIGSEGV" in info.value.message
        sb.start()
        load(sb, "import os\ndef leave(code):\n    os._exit(code)\n")
        with pytest.raises(S.SandboxFault) as info:
            call(sb, "leave", 3)
        assert "exit status 3" in info.value.message


@pytest.mark.parametrize("kind", ["correct", "partly"])
def test_grading_with_and_without_templates_gives_identical_results(kind, tmp_path, monkeypatch):
    a = load_assignment("ps3_lenet", source_dir=ROOT / "solutions")
    assert a.sandbox_preload, "ps3 declares the modules its template imports"
    source = nbformat.read(str(ROOT / "solutions" / "ps3_lenet" / "ps3_lenet.ipynb"), as_version=4)
    nb = correct_notebook(source) if kind == "correct" else partly_wrong_notebook(source)[0]
    path = tmp_path / "s" / "ps3_lenet.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    results = {}
    for template in (True, False):
        monkeypatch.setattr(S, "USE_TEMPLATES", template)
        r = grade_notebook(a, path, "s", public_only=True)
        d = r.to_dict()
        d.pop("durations", None)
        for t in d.get("tests", []):
            if isinstance(t, dict):
                t.pop("duration_s", None)
                t.pop("cpu_s", None)
        results[template] = json.dumps(d, sort_keys=True, default=str)
    assert results[True] == results[False]
    assert json.loads(results[True])["score"] > 0
