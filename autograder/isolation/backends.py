"""How a sandbox process is started, per backend (probe.py says which one this machine has):

- root and userns (namespaces): ``unshare`` (``probe()["prefix"]``: ``--user
  --map-root-user`` for userns) with :data:`UNSHARE_FLAGS` runs bootstrap.py with a JSON
  configuration (:func:`fresh_command`); the same view (:func:`view`) for a template;
- insecure: a plain subprocess with rlimits (:func:`start_insecure`), no namespaces.

Also what every sandbox sees: the folders hidden (the source tree the package runs from among
them, :func:`package_source_tree`; the course's folders come from the command line, which
passes them down as ``hide``), those bound back read-only, its environment (:func:`env`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .data import sandbox_data_dir

# Where the grader's own code is (a package location, not a course's): ``autograder/`` is
# bound read-only into every sandbox, and its parent is what the insecure worker imports from.
PACKAGE_DIR = Path(__file__).resolve().parent.parent      # autograder/
PACKAGE_PARENT = PACKAGE_DIR.parent
SYSTEM_DIRS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "sys", "dev"}
# New PID (with its own /proc), network, mount, IPC (SysV shared memory, semaphores, message
# queues, POSIX mqueues) and UTS namespaces; the sandbox dies with the unshare process.
UNSHARE_FLAGS = ("--fork", "--pid", "--mount-proc", "--net", "--mount", "--ipc", "--uts", "--kill-child")
USERNS_PREFIX = ("--user", "--map-root-user")
# The sandbox's first program (stdlib only, run with ``python -I -S``): mounts, uid, rlimits,
# then exec of the worker. The interpreter reads it before the mounts hide the repository.
BOOTSTRAP = PACKAGE_DIR / "bootstrap.py"
INSECURE_MECHANISMS = "none (insecure: plain subprocess with rlimits(as,cpu,fsize,nofile,core))"


def _within(path: str, folder: str) -> bool:
    folder = folder.rstrip("/") or "/"
    return path == folder or path.startswith(folder + "/") or folder == "/"


def package_source_tree() -> str | None:
    """The source tree the ``autograder`` package is imported from (a checkout: hidden in every
    sandbox, whatever else it holds), or None when ``autograder`` is an installed package (a
    student's ``pip install``: its parent is a ``site-packages`` of the Python installation,
    which the sandbox must see, not hide). About the code only: the course's folders are
    hidden because the command line passes them down (``hide``)."""
    import site
    import sysconfig

    repo = str(PACKAGE_PARENT)
    prefixes = {sys.prefix, sys.base_prefix, *sysconfig.get_paths().values()}
    try:
        prefixes.update(site.getsitepackages())
    except AttributeError:
        pass
    if any(p and _within(repo, os.path.realpath(p)) for p in prefixes):
        return None
    return repo


def env() -> dict:
    """The environment of the worker (and of a template)."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/work",
        "TMPDIR": "/tmp/work",
        "PYTHONPATH": "/tmp/lib",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/work/.config/matplotlib",
        "XDG_CACHE_HOME": "/tmp/work/.cache",
        "TORCH_HOME": "/tmp/work/.cache/torch",
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow"),
        "CNN_COURSE_FAST": "1",
        "CNN_COURSE_SANDBOX": "1",
        "LANG": "C.UTF-8",
    }
    from autograder.tools.data import data_dir   # the one definition, shared with the student's tools

    env["CNN_COURSE_DATA"] = os.path.realpath(data_dir())
    env["KERAS_HOME"] = "/tmp/work/.keras"   # the grader's Keras cache (datasets!) is never shared
    return env


def view(data_files) -> dict:
    """What every sandbox of an assignment sees: the folders hidden, those bound back
    read-only (Python, ``autograder/``, the declared data files), the interpreter, the
    environment. A template is keyed by it (with its preload list)."""
    e = env()
    binds = {sys.prefix: None, sys.base_prefix: None, str(PACKAGE_DIR): "/tmp/lib/autograder"}
    shared = sandbox_data_dir(e["CNN_COURSE_DATA"], data_files)
    if shared:
        binds[shared] = e["CNN_COURSE_DATA"]
    hide = {"/" + d for d in os.listdir("/") if d not in SYSTEM_DIRS and os.path.isdir("/" + d)
            and not os.path.islink("/" + d)}
    hide |= {"/var/tmp", "/dev/shm"}
    tree = package_source_tree()
    if tree is not None:
        hide.add(tree)
    hide -= {"/tmp"}
    return {"binds": binds, "hide": sorted(hide), "python": os.path.join(sys.prefix, "bin", "python"),
            "env": e}


def fresh_command(prefix: list[str], cfg: dict) -> list[str]:
    """The command line of a sandbox started afresh in namespaces (root or userns backend)."""
    return [*prefix, *UNSHARE_FLAGS, sys.executable, "-I", "-S", str(BOOTSTRAP), json.dumps(cfg)]


def template_command(prefix: list[str], cfg: dict) -> list[str]:
    """The command line of a template (a mount namespace only; each fork makes the rest)."""
    return [*prefix, "--mount", sys.executable, "-I", "-S", str(BOOTSTRAP), json.dumps(cfg)]


def start_insecure(req_r: int, resp_w: int, worker_cfg: str, rlimits: dict) -> subprocess.Popen:
    """The insecure backend: the worker as a plain subprocess of the grader, with rlimits."""
    e = env()
    e["PYTHONPATH"] = str(PACKAGE_PARENT)

    def limit():
        import resource
        for name, val in rlimits.items():
            if name == "RLIMIT_NPROC":
                continue  # would count the grader's own uid
            try:
                resource.setrlimit(getattr(resource, name), (val, val))
            except (ValueError, OSError):
                pass
    cmd = [os.path.join(sys.prefix, "bin", "python"), "-m", "autograder.worker",
           str(req_r), str(resp_w), worker_cfg]
    return subprocess.Popen(cmd, pass_fds=(req_r, resp_w), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=e, preexec_fn=limit, start_new_session=True)
