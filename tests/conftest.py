"""Shared pytest set-up: keep every tool's files inside the repo's build/ folder."""
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "build" / "home"
_ENV = {
    "CNN_COURSE_DATA": str(ROOT / ".data"),
    "KERAS_HOME": str(HOME / "keras"),
    "MPLCONFIGDIR": str(HOME / "matplotlib"),
    "JUPYTER_CONFIG_DIR": str(HOME / "jupyter" / "config"),
    "JUPYTER_DATA_DIR": str(HOME / "jupyter" / "data"),
    "JUPYTER_RUNTIME_DIR": str(HOME / "jupyter" / "runtime"),
    "IPYTHONDIR": str(HOME / "ipython"),
    "TORCH_HOME": str(HOME / "torch"),
    "XDG_CACHE_HOME": str(HOME / "cache"),
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "MPLBACKEND": "Agg",
}
for _k, _v in _ENV.items():
    os.environ.setdefault(_k, _v)
HOME.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory):
    """``shared_dir(name, build)``: the folder ``name``, filled by ``build(folder)`` once per
    test session, even when xdist splits the tests over workers (the folder lives beside the
    workers' base temp dirs; a file lock serialises the build)."""
    import fcntl

    def get(name: str, build) -> Path:
        base = tmp_path_factory.getbasetemp()
        if os.environ.get("PYTEST_XDIST_WORKER"):
            base = base.parent
        folder = base / name
        with open(base / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (folder / ".done").exists():
                if folder.exists():
                    shutil.rmtree(folder)
                folder.mkdir()
                build(folder)
                (folder / ".done").write_text("ok")
        return folder

    return get


@pytest.fixture
def python_calls():
    """``python_calls(fn) -> (result or raised exception, calls)``: how many Python and C
    function calls ``fn()`` makes. A deterministic measure of work: tests bound how work grows
    with the input through it, never with a clock (timings belong to ``make bench``)."""
    import sys

    def count(fn):
        n = 0

        def profile(frame, event, arg):
            nonlocal n
            if event == "call" or event == "c_call":
                n += 1

        old = sys.getprofile()
        sys.setprofile(profile)
        try:
            try:
                result = fn()
            except Exception as exc:        # returned, so the caller can check it
                result = exc
        finally:
            sys.setprofile(old)
        return result, n

    return count
