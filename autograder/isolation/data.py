"""The data files a sandbox may read: those its assignment declares, staged in a folder of
their own beside the data cache (hard links), bind-mounted read-only in the sandbox."""
from __future__ import annotations

import os
import shutil
import threading

# Data files a sandbox may read are those its assignment declares in grading.toml
# ([sandbox] data = ["mnist_small.npz"]); nothing else of the data cache is visible. Full
# MNIST is never among them: its test labels are what the grader scores predictions against.


def sandbox_data_dir(data: str, names=()) -> str | None:
    """A folder beside the data cache holding only the files ``names`` (hard links).

    It is bind-mounted read-only at the data cache's path inside the sandbox. Returns None
    when nothing is to be shared (none declared, no cache, or the folder cannot be written).
    The folder is built whole under a private name, then renamed into place, so a sandbox
    never sees a half-built one, even while other graders (other processes) build it too;
    a stale one (files rebuilt, stray entries) is swapped for a fresh one.
    """
    import hashlib

    src = os.path.realpath(data)
    files = sorted({f for f in names if f and "/" not in f and not f.startswith(".")
                    and os.path.isfile(os.path.join(src, f))})
    if not files:
        return None
    dst = os.path.join(src, "sandbox-" + hashlib.sha256("\n".join(files).encode()).hexdigest()[:12])
    if _holds_exactly(dst, src, files):
        return dst
    stage = os.path.join(src, f".{os.path.basename(dst)}.{os.getpid()}.{threading.get_ident()}")
    try:
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage, mode=0o755)
        for name in files:
            target = os.path.join(stage, name)
            try:
                os.link(os.path.join(src, name), target)
            except OSError:
                shutil.copyfile(os.path.join(src, name), target)
            os.chmod(target, 0o644)
        os.chmod(stage, 0o755)
        try:
            os.rename(stage, dst)            # atomic; refused when another grader made it first
        except OSError:
            if not _holds_exactly(dst, src, files):
                old = stage + ".old"
                os.rename(dst, old)
                os.rename(stage, dst)
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        return dst if _holds_exactly(dst, src, files) else None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return dst


def _holds_exactly(folder: str, src: str, files: list) -> bool:
    """Does ``folder`` hold exactly ``files``, each the same file as in ``src``?"""
    try:
        return (sorted(os.listdir(folder)) == files
                and all(os.path.samefile(os.path.join(folder, f), os.path.join(src, f)) for f in files))
    except OSError:
        return False
