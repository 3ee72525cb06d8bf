"""autograder/bootstrap.py, the sandbox's first program: its pure parts (configuration
check, mount plan, rlimits) and how it fails, all without root. The privileged run
(mounts, uid switch, exec of the worker) is exercised by tests/engine/test_engine_isolation.py."""
import ast
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import bootstrap as B
from autograder import sandbox
from autograder.isolation.backends import BOOTSTRAP
from autograder.isolation.probe import isolation_available
from autograder.isolation.uids import UIDS

ROOT = Path(__file__).resolve().parents[2]


def config(**changes) -> dict:
    """A configuration shaped like the one sandbox.py builds."""
    cfg = {
        "cgroups": ["/sys/fs/cgroup/pids/cnn-course/1-1/cgroup.procs"],
        "binds": {"/opt/venv": None, "/usr/local/python": None, "/repo/autograder": "/tmp/lib/autograder",
                  "/data/sandbox-abc": "/data"},
        "hide": ["/repo", "/home", "/root", "/opt", "/data", "/var/tmp", "/dev/shm", "/repo/out"],
        "uid": 200_001,
        "rlimits": {"RLIMIT_AS": 512 << 20, "RLIMIT_CPU": 60, "RLIMIT_FSIZE": 1 << 20, "RLIMIT_NPROC": 16,
                    "RLIMIT_NOFILE": 256, "RLIMIT_CORE": 0},
        "python": "/opt/venv/bin/python",
        "in_fd": 5, "out_fd": 8,
        "worker_cfg": json.dumps({"seed": 0}),
        "env": {"PATH": "/usr/bin", "HOME": "/tmp/work"},
        "tmp_mb": 64, "userns": False,
    }
    cfg.update(changes)
    return cfg


def run_bootstrap(arg: str, pass_fds=()):
    """Run bootstrap.py the way sandbox.py does (``python -I -S FILE CONFIG``), as a file."""
    return subprocess.run([sys.executable, "-I", "-S", str(BOOTSTRAP), arg], capture_output=True, timeout=60,
                          pass_fds=pass_fds)


# ----------------------------------------------------------------------------- standard library only

def test_bootstrap_imports_only_the_standard_library():
    tree = ast.parse(Path(B.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"relative import at line {node.lineno}: bootstrap.py runs as a plain file"
            imported.add(node.module.split(".")[0])
    outside = sorted(imported - set(sys.stdlib_module_names))
    assert not outside, f"bootstrap.py runs with `python -I -S` and may import the standard library only; it imports {outside}"
    assert BOOTSTRAP == ROOT / "autograder" / "bootstrap.py" and BOOTSTRAP.is_file()


# ----------------------------------------------------------------------------- validate

def test_validate_accepts_the_sandbox_shape():
    cfg = config()
    assert B.validate(cfg) is cfg


@pytest.mark.parametrize("change, fragment", [
    ({"uid": 0}, "unprivileged uid"),
    ({"uid": True}, "'uid' must be a int"),
    ({"uid": "1000"}, "'uid' must be a int"),
    ({"hide": ["repo"]}, "absolute"),
    ({"binds": {"/opt/venv": "lib"}}, "absolute"),
    ({"binds": {"/opt/venv": 3}}, "absolute"),
    ({"cgroups": ["cgroup.procs"]}, "absolute"),
    ({"python": "python3"}, "absolute"),
    ({"rlimits": {"RLIMIT_STACK": 1}}, "unknown rlimit 'RLIMIT_STACK'"),
    ({"rlimits": {"RLIMIT_CPU": -1}}, "RLIMIT_CPU must be an int >= 0"),
    ({"rlimits": {"RLIMIT_CPU": 1.5}}, "RLIMIT_CPU must be an int >= 0"),
    ({"tmp_mb": 0}, "'tmp_mb' must be 1..4096"),
    ({"userns": 1}, "'userns' must be a bool"),
    ({"out_fd": 1}, "'out_fd' must be a pipe fd"),
    ({"env": {"PATH": 1}}, "'env' must map str to str"),
    ({"extra": 1}, "unknown configuration keys: extra"),
])
def test_validate_names_the_problem(change, fragment):
    with pytest.raises(B.BootstrapConfigError) as info:
        B.validate(config(**change))
    assert fragment in str(info.value), f"expected {fragment!r} in the message, got {str(info.value)!r}"


@pytest.mark.parametrize("key", sorted(B.FIELDS))
def test_validate_requires_every_key(key):
    cfg = config()
    del cfg[key]
    with pytest.raises(B.BootstrapConfigError, match=f"lacks '{key}'"):
        B.validate(cfg)


def test_validate_refuses_a_non_object():
    with pytest.raises(B.BootstrapConfigError, match="JSON object, got list"):
        B.validate([1, 2])


# ----------------------------------------------------------------------------- mount plan

def fake_tree(dirs, links=()):
    dirs, links = set(dirs), set(links)
    return (lambda p: p in dirs or p in links), (lambda p: p in links)


def test_mount_plan_order():
    cfg = config()
    isdir, islink = fake_tree(
        dirs={"/opt/venv", "/usr/local/python", "/repo/autograder", "/data/sandbox-abc", "/repo", "/home",
              "/opt", "/data", "/var/tmp", "/repo/out"},
        links={"/root"})       # a symlink is not covered; /dev/shm is missing here
    plan = B.mount_plan(cfg, isdir=isdir, islink=islink)
    kinds = [s[0] for s in plan]
    assert plan[0] == ("private", "/"), f"the tree must be made private first, got {plan[0]}"
    # every bind source is opened before the first tmpfs covers anything
    first_tmpfs = kinds.index("tmpfs")
    assert [s[1] for s in plan[1:first_tmpfs]] == list(cfg["binds"]) and set(kinds[1:first_tmpfs]) == {"open"}
    hidden = [s[1] for s in plan if s[0] == "tmpfs" and s[1] != "/tmp/work"]
    assert hidden == ["/opt", "/data", "/home", "/repo", "/var/tmp", "/tmp"], (
        f"hidden folders must go shortest first, then by name; symlinks, missing folders and folders under "
        f"one already covered (/repo/out) skipped; /tmp last; got {hidden}")
    assert all(s[2] == B.HIDE_OPTIONS for s in plan if s[0] == "tmpfs" and s[1] not in ("/tmp", "/tmp/work"))
    assert ("tmpfs", "/tmp", "mode=755,size=64m") in plan
    binds = plan[kinds.index("bind"):kinds.index("bind") + 8]
    assert binds == [
        ("bind", "/opt/venv", "/opt/venv"), ("readonly", "/opt/venv"),
        ("bind", "/usr/local/python", "/usr/local/python"), ("readonly", "/usr/local/python"),
        ("bind", "/repo/autograder", "/tmp/lib/autograder"), ("readonly", "/tmp/lib/autograder"),
        ("bind", "/data/sandbox-abc", "/data"), ("readonly", "/data"),
    ], f"each bind must follow the tmpfs mounts and be made read-only at once; got {binds}"
    rest = plan[kinds.index("bind") + 8:]
    assert rest[:2] == [("mkdir", "/tmp/work"), ("tmpfs", "/tmp/work", "mode=700,size=64m")], rest
    # every cover and /tmp are made read-only after the binds landed in them
    assert [s[1] for s in rest if s[0] == "seal"] == hidden
    assert rest.index(("seal", "/tmp")) > 0


def test_mount_plan_makes_system_folders_read_only():
    cfg = dict(config(), mode="template")
    isdir, islink = fake_tree(dirs={"/opt/venv", "/usr", "/etc", "/lib"}, links={"/bin"})
    plan = B.mount_plan(cfg, isdir=isdir, islink=islink)
    assert ("tmpfs", "/tmp/work", "mode=700,size=64m") in plan      # where the template's imports write
    tail = [s for s in plan if s[0] in ("selfbind", "readonly") and s[1] in ("/usr", "/etc", "/lib", "/bin")]
    assert tail == [("selfbind", "/lib"), ("readonly", "/lib"), ("selfbind", "/usr"), ("readonly", "/usr"),
                    ("selfbind", "/etc"), ("readonly", "/etc")], tail


def test_mount_plan_skips_what_a_covered_parent_removed():
    """/var/tmp exists before /var is covered, and is gone after: mounting on it would fail."""
    cfg = config(hide=["/var/tmp", "/var", "/work/main", "/work", "/workshop"])
    isdir, islink = fake_tree(dirs={"/var", "/var/tmp", "/work", "/work/main", "/workshop", "/opt/venv"})
    hidden = [s[1] for s in B.mount_plan(cfg, isdir=isdir, islink=islink) if s[0] == "tmpfs"]
    assert hidden == ["/var", "/work", "/workshop", "/tmp", "/tmp/work"], hidden
    # a folder under /tmp (a grader's temporary folder) goes with /tmp, before it could be sealed
    cfg = config(hide=["/tmp/grader/out", "/work"])
    isdir, islink = fake_tree(dirs={"/tmp/grader/out", "/work", "/opt/venv"})
    plan = B.mount_plan(cfg, isdir=isdir, islink=islink)
    assert [s[1] for s in plan if s[0] == "tmpfs"] == ["/work", "/tmp", "/tmp/work"]
    assert [s[1] for s in plan if s[0] == "seal"] == ["/work", "/tmp"]


def test_mount_plan_skips_missing_bind_sources():
    cfg = config(binds={"/opt/venv": None, "/nowhere": "/tmp/x"})
    isdir, islink = fake_tree(dirs={"/opt/venv"})
    plan = B.mount_plan(cfg, isdir=isdir, islink=islink)
    assert ("open", "/nowhere") not in plan and not any(s[0] == "bind" and s[1] == "/nowhere" for s in plan)
    assert [s for s in plan if s[0] in ("open", "bind")] == [("open", "/opt/venv"), ("bind", "/opt/venv", "/opt/venv")]


def test_apply_mounts_runs_the_plan_in_order(tmp_path):
    """apply_mounts against a recording libc: the mount(2) calls and flags, in plan order."""
    calls = []

    class FakeLibc:
        def mount(self, src, tgt, fstype, flags, data):
            calls.append((src, tgt, fstype, flags, data))
            return 0

    src = tmp_path / "src"
    src.mkdir()
    target = tmp_path / "new" / "target"
    plan = [("private", "/"), ("open", str(src)), ("tmpfs", "/hidden", B.HIDE_OPTIONS),
            ("bind", str(src), str(target)), ("readonly", str(target))]
    B.apply_mounts(plan, FakeLibc())
    assert target.is_dir(), "a bind target must be created"
    assert [c[1] for c in calls] == [b"/", b"/hidden", str(target).encode(), str(target).encode()]
    assert calls[0][3] == B.MS_REC | B.MS_PRIVATE
    assert calls[1][:3] == (b"tmpfs", b"/hidden", b"tmpfs") and calls[1][4] == B.HIDE_OPTIONS.encode()
    assert calls[2][0].startswith(b"/proc/self/fd/") and calls[2][3] == B.MS_BIND | B.MS_REC
    assert calls[3][3] == (B.MS_BIND | B.MS_REMOUNT | B.MS_RDONLY | B.MS_NOSUID | B.MS_NODEV
                           | B.kept_flags(os.statvfs(target).f_flag))   # the mount's own noexec/atime kept


def test_apply_mounts_reports_a_failed_mount():
    class FailingLibc:
        def mount(self, *args):
            return -1

    with pytest.raises(OSError, match="mount None on /"):
        B.apply_mounts([("private", "/")], FailingLibc())


# ----------------------------------------------------------------------------- rlimits

def test_set_rlimits_sets_soft_and_hard():
    calls = []
    done = B.set_rlimits({"RLIMIT_CPU": 7, "RLIMIT_CORE": 0}, setrlimit=lambda n, v: calls.append((n, v)))
    assert calls == [(resource.RLIMIT_CPU, (7, 7)), (resource.RLIMIT_CORE, (0, 0))]
    assert done == [(resource.RLIMIT_CPU, 7), (resource.RLIMIT_CORE, 0)]


def test_set_rlimits_for_real_in_a_child():
    """Lowering limits needs no privilege: a child with `python -I -S` imports bootstrap.py,
    sets them, and can no longer raise them."""
    code = (
        "import sys, resource; sys.path.insert(0, sys.argv[1]); import bootstrap\n"
        "bootstrap.set_rlimits({'RLIMIT_NOFILE': 64, 'RLIMIT_CORE': 0})\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE), resource.getrlimit(resource.RLIMIT_CORE))\n"
        "try:\n"
        "    resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128)); print('raised')\n"
        "except (ValueError, OSError):\n"
        "    print('refused')\n")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(BOOTSTRAP.parent)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    assert lines[0] == "(64, 64) (0, 0)", f"expected soft = hard = the value, got {lines[0]!r}"
    if os.geteuid() != 0:   # root may raise a hard limit again; nobody else may
        assert lines[1] == "refused"


# ----------------------------------------------------------------------------- the program

def test_runs_as_a_file_and_reports_a_bad_config_on_out_fd():
    r_fd, w_fd = os.pipe()
    try:
        r = run_bootstrap(json.dumps(config(uid=0, out_fd=w_fd, in_fd=r_fd)), pass_fds=(w_fd,))
        os.close(w_fd)
        w_fd = -1
        answer = os.read(r_fd, 10_000)
    finally:
        os.close(r_fd)
        if w_fd >= 0:
            os.close(w_fd)
    assert r.returncode == B.EXIT_BOOTFAIL, (r.returncode, r.stderr)
    assert answer.startswith(b"BOOTFAIL BootstrapConfigError: 'uid' must be an unprivileged uid"), answer


def test_reports_unreadable_json_on_stderr():
    r = run_bootstrap("{not json")
    assert r.returncode == B.EXIT_BOOTFAIL
    assert r.stderr.startswith(b"BOOTFAIL JSONDecodeError"), r.stderr


@pytest.mark.skipif(isolation_available() is None, reason="needs Linux namespaces (root + unshare)")
def test_sandbox_reports_the_bootstrap_failure(monkeypatch):
    """A bootstrap that refuses its configuration is reported by Sandbox.start with its reason
    (not as a garbled protocol error)."""
    monkeypatch.setattr(UIDS, "acquire", lambda: 0)
    monkeypatch.setattr(UIDS, "release", lambda uid: None)
    sb = sandbox.Sandbox({"memory_mb": 256})
    try:
        with pytest.raises(sandbox.SandboxError) as info:
            sb.start()
    finally:
        sb.close()
    assert "BootstrapConfigError: 'uid' must be an unprivileged uid (> 0), got 0" in str(info.value), str(info.value)


def test_kept_flags_repeats_noexec_and_atime_of_the_mount():
    # a read-only remount of a bind must repeat the (locked) flags of a host mount in a user
    # namespace: without them the kernel refuses it (EPERM) and no rootless sandbox starts
    assert B.kept_flags(0) == 0
    assert B.kept_flags(1 | 2 | 4) == 0                                   # rdonly, nosuid, nodev: set anyway
    assert B.kept_flags(8) == B.MS_NOEXEC
    assert B.kept_flags(4096) == B.MS_RELATIME
    assert B.kept_flags(8 | 1024 | 2048) == B.MS_NOEXEC | B.MS_NOATIME | B.MS_NODIRATIME
