"""Grading as an unprivileged user (issue 19): the sandbox is then an unprivileged user
namespace, and it must keep the guarantees tests/engine/test_engine_isolation.py checks as
root: the course folder and home hidden, only declared data visible, no network, nothing
writable but /tmp/work, pid 1 of its own PID namespace, SysV IPC private and gone with the
sandbox, a daemon the student left killed with it, the same scores.

As root (CI), those tests run again as nobody (uid 65534, tests/tools/as_nobody.sh); as a
normal user, test_engine_isolation.py itself already runs that way.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.isolation import probe as S
from autograder.isolation.data import sandbox_data_dir

ROOT = Path(__file__).resolve().parents[2]
AS_NOBODY = ROOT / "tests" / "tools" / "as_nobody.sh"
pytestmark = pytest.mark.xdist_group("engine_isolation")


def _as_nobody(args, env, cwd=ROOT, timeout=900):
    return subprocess.run([str(AS_NOBODY), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def nobody_env(request):
    if os.geteuid() != 0:
        pytest.skip("already unprivileged: test_engine_isolation.py runs as this user")
    if not (shutil.which("setpriv") and shutil.which("unshare")):
        pytest.skip("needs setpriv and unshare (util-linux)")
    home = Path(tempfile.mkdtemp(prefix="as-nobody-", dir=ROOT / "build"))
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    os.chmod(home, 0o755)
    shutil.chown(home, 65534, 65534)
    data = os.path.realpath(os.environ.get("CNN_COURSE_DATA") or ROOT / ".data")
    sandbox_data_dir(data, ["mnist_small.npz"])    # the shared folder, as root once (nobody cannot write here)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_HOME", "MPLCONFIG", "XDG_", "TORCH_HOME",
                                                                     "JUPYTER", "IPYTHON", "PYTEST_"))}
    env.update(HOME=str(home), TMPDIR=str(home), CNN_COURSE_DATA=data, KERAS_HOME=str(home / "keras"),
               MPLCONFIGDIR=str(home / "mpl"), PYTHONDONTWRITEBYTECODE="1")
    # whether this kernel lets nobody make the namespaces, asked without the code under test
    works = _as_nobody(["unshare", "--user", "--map-root-user", "--fork", "--pid", "--mount-proc", "--net",
                        "--mount", "--ipc", "--uts", "true"], env)
    if works.returncode != 0:
        pytest.skip(f"unprivileged user namespaces are disabled here: {works.stderr.strip()[-300:]}")
    probe = _as_nobody([sys.executable, "-c", "import os; from autograder.isolation.probe import probe, why_no_isolation; "
                        "print(os.geteuid(), probe()['backend'] or '-', why_no_isolation())"], env)
    words = probe.stdout.split()
    assert words[:2] == ["65534", "userns"], probe.stdout + probe.stderr[-2000:]
    return env, home


def test_isolation_holds_for_an_unprivileged_user(nobody_env):
    env, home = nobody_env
    proc = _as_nobody([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                       f"--basetemp={home / 'pytest'}", "tests/engine/test_engine_isolation.py"], env)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert " passed" in tail and "skipped" not in tail.split("\n")[-2], tail   # run, not skipped


def test_stray_processes_are_found_for_an_unprivileged_user(nobody_env):
    """No cgroup as nobody: what a test leaves running is found by walking /proc."""
    env, home = nobody_env
    proc = _as_nobody([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                       f"--basetemp={home / 'pytest'}", "tests/engine/test_stray_processes.py"], env)
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    # the sandboxes ran as nobody (only the comparison with a pids cgroup is skipped)
    assert " passed" in tail and tail.count("SKIPPED") <= 1 and "no pids cgroup" in tail, tail


def test_mechanisms_name_the_user_namespace(nobody_env):
    env, home = nobody_env
    code = ("from autograder.sandbox import Sandbox\n"
            "with Sandbox({'memory_mb': 512}) as sb:\n"
            "    sb.start()\n"
            "    print(sb.mechanisms)\n")
    proc = _as_nobody([sys.executable, "-c", code], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mech = proc.stdout.strip()
    assert mech.startswith("user_namespace(unprivileged, uid 65534)") and "namespaces(pid,net,mount,ipc,uts)" in mech
    assert "nested_userns_uid" in mech and "rlimits(" in mech and "cgroup" not in mech


def test_without_user_namespaces_one_line_says_what_to_enable(monkeypatch):
    """Where `unshare --user` fails (namespaces disabled), no sandbox, and the reason says what
    to enable; grading then refuses unless --insecure (test_engine_isolation)."""
    monkeypatch.setattr(S, "_PROBE", {})
    monkeypatch.setattr(S.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(S, "_try", lambda cmd: "unshare: unshare failed: Operation not permitted")
    try:
        p = S.probe()
        assert p["backend"] == "" and not p["namespaces"] and S.isolation_available() is None
        why = S.why_no_isolation()
        assert "\n" not in why and "Operation not permitted" in why
        assert "kernel.unprivileged_userns_clone=1" in why and "user.max_user_namespaces" in why
    finally:
        S._PROBE.clear()
