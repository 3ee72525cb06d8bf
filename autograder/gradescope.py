"""A Gradescope autograder for one assignment: build the zip, and run it inside Gradescope.

:func:`build_autograder_zip` writes the zip Gradescope's "Configure Autograder" page takes:

* ``setup.sh``: creates a virtual environment ``<root>/venv``, installs the pinned
  dependencies (``requirements.lock``, PyTorch's CPU build) and this project, editable, from
  the bundled source tree ``<root>/source/cnn-course``;
* ``run_autograder``: grades ``<root>/submission/*.ipynb`` with this engine (every test,
  hidden ones included, in the same sandbox as ``cnn-course grade``) and writes
  ``<root>/results/results.json`` in Gradescope's format (:func:`autograder.export.gradescope_json`);
* ``cnn-course/``: ``autograder/``, the reference library ``solutions/*.py`` and only this
  assignment's ``solutions/<name>/`` (source notebook with the hidden tests, ``grading.toml``),
  plus ``pyproject.toml``, ``setup.py``, ``README.md``, ``requirements.lock``.

``<root>`` is ``$GRADESCOPE_ROOT``, default ``/autograder`` (a test points it at a temporary
folder). The zip is for instructors only: it holds the solutions, which the hidden tests need.
Students never see them: the source tree stays a plain folder under ``<root>/source`` (not
installed into the virtual environment, which the sandbox shows read-only to student code),
the grader puts it on its own ``PYTHONPATH`` only, and the sandbox hides every top-level
folder but the system ones (``/autograder`` included) and ``<root>`` explicitly.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

DEFAULT_ROOT = "/autograder"
PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md", "requirements.lock")
TREE = "cnn-course"                   # folder of the bundled project inside the zip and <root>/source
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)     # fixed timestamps: the same sources give the same zip

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
set -euo pipefail
ROOT="${GRADESCOPE_ROOT:-/autograder}"
SRC="$ROOT/source/cnn-course"
PY="$(command -v python3.11 || command -v python3.12 || true)"
if [ -z "$PY" ]; then
    apt-get update -q && apt-get install -y -q python3.11 python3.11-venv
    PY="$(command -v python3.11)"
fi
"$PY" -m venv "$ROOT/venv"
"$ROOT/venv/bin/python" -m pip install -q --upgrade pip
"$ROOT/venv/bin/python" -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# Dependencies pinned; the project itself editable, so that the reference library stays in
# $SRC (hidden from student code) instead of the virtual environment (shown read-only to it).
"$ROOT/venv/bin/python" -m pip install -q -r "$SRC/requirements.lock" \\
    --extra-index-url https://download.pytorch.org/whl/cpu
"$ROOT/venv/bin/python" -m pip install -q --no-deps -e "$SRC"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes $ROOT/results/results.json.
# Extra arguments are passed on (--insecure: no sandbox; only for a test where none exists).
set -uo pipefail
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
SRC="$ROOT/source/cnn-course"
PY="${{CNN_COURSE_PYTHON:-$ROOT/venv/bin/python}}"
cd "$SRC" || exit 1
export PYTHONPATH="$SRC" KERAS_BACKEND="${{KERAS_BACKEND:-tensorflow}}" TF_CPP_MIN_LOG_LEVEL=2 MPLBACKEND=Agg
exec "$PY" -m autograder.gradescope run --root "$ROOT" --assignment {name} --source-dir "$SRC/solutions" "$@"
"""


class GradescopeError(ValueError):
    """The autograder zip cannot be built as asked."""


def _bundle_files(name: str, source_dir: Path, repo: Path) -> list[tuple[Path, str]]:
    """``(file on disk, path in the zip)`` of the bundled project."""
    files = [(repo / f, f"{TREE}/{f}") for f in PROJECT_FILES if (repo / f).is_file()]
    skip_dirs = {"__pycache__", ".ipynb_checkpoints"}
    for p in sorted((repo / "autograder").rglob("*")):
        if p.is_file() and not skip_dirs & set(p.relative_to(repo).parts) and p.suffix not in (".pyc",):
            files.append((p, f"{TREE}/{p.relative_to(repo).as_posix()}"))
    lib = repo / "solutions"
    for p in sorted(lib.rglob("*.py")):
        rel = p.relative_to(lib)
        # the library's modules (and sub-packages), not the other assignments' folders
        if skip_dirs & set(rel.parts) or (len(rel.parts) > 1 and not (lib / rel.parts[0] / "__init__.py").is_file()):
            continue
        files.append((p, f"{TREE}/solutions/{rel.as_posix()}"))
    folder = source_dir / name
    nb = folder / f"{name}.ipynb"
    if not nb.is_file():
        raise GradescopeError(f"unknown assignment {name!r}: no {nb}")
    files.append((nb, f"{TREE}/solutions/{name}/{name}.ipynb"))
    if (folder / "grading.toml").is_file():
        files.append((folder / "grading.toml", f"{TREE}/solutions/{name}/grading.toml"))
    return files


def _add(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | 0o100000) << 16
    zf.writestr(info, data)


def build_autograder_zip(name: str, out: Path | str, *, source_dir: Path | str, repo: Path | str) -> dict:
    """Write Gradescope's autograder zip for assignment ``name`` to ``out``.

    ``source_dir``: folder of ``<name>/<name>.ipynb`` (the course's ``source``); ``repo``: the
    course checkout whose ``autograder/``, project files and ``solutions/*.py`` are bundled
    (the course's ``root``). Both required: nothing here guesses where the course is.
    Returns ``{"path", "files" (names in the zip), "bytes"}``.
    """
    repo, source_dir, out = Path(repo), Path(source_dir), Path(out)
    if not (repo / "autograder" / "engine.py").is_file() or not (repo / "pyproject.toml").is_file():
        raise GradescopeError(f"{repo} is not a cnn-course checkout (no autograder/engine.py or pyproject.toml): "
                              "build the zip from the checkout (cnn-course --course CHECKOUT gradescope ...).")
    files = _bundle_files(name, source_dir, repo)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    names = []
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.format(name=name).encode(), executable=True)
        names += ["setup.sh", "run_autograder"]
        for path, arc in files:
            _add(zf, arc, path.read_bytes())
            names.append(arc)
    tmp.replace(out)
    return {"path": out, "files": names, "bytes": out.stat().st_size}


# ---------------------------------------------------------------- inside Gradescope


def find_notebook(submission: Path, notebook_name: str) -> tuple[Path | None, str]:
    """The notebook to grade in ``submission`` (Gradescope's upload folder) and a note: the one
    named like the assignment's, else the only ``.ipynb``; searched two levels deep."""
    cands = []
    for depth in ("*.ipynb", "*/*.ipynb", "*/*/*.ipynb"):
        cands += [p for p in sorted(submission.glob(depth))
                  if p.is_file() and not p.is_symlink() and ".ipynb_checkpoints" not in p.parts
                  and "__MACOSX" not in p.parts and not p.name.startswith(".")]
        if cands:
            break
    if not cands:
        return None, f"no .ipynb file in the submission; upload {notebook_name}."
    named = [p for p in cands if p.name == notebook_name]
    if named:
        return named[0], ""
    if len(cands) == 1:
        return cands[0], f"graded {cands[0].name} (expected the name {notebook_name})."
    return None, (f"{len(cands)} notebooks in the submission ({', '.join(p.name for p in cands[:10])}) and none "
                  f"is named {notebook_name}: upload exactly one notebook.")


def run(root: Path | str, name: str, source_dir: Path | str, *, insecure: bool = False) -> dict:
    """Grade ``<root>/submission`` and write ``<root>/results/results.json``; return its content."""
    from autograder.assignment import load_assignment
    from autograder.batch import invalid_result
    from autograder.engine import grade_notebook
    from autograder.export import gradescope_json
    from autograder.intake import Submission
    from autograder.report import redact_hidden

    root = Path(root)
    t0 = time.monotonic()
    assignment = load_assignment(name, source_dir=Path(source_dir))
    meta = {}
    meta_path = root / "submission_metadata.json"
    if meta_path.is_file() and meta_path.stat().st_size < 2**20:
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            meta = {}
    users = meta.get("users") if isinstance(meta, dict) else None
    sid = "submission"
    if isinstance(users, list) and users and isinstance(users[0], dict):
        sid = str(users[0].get("email") or users[0].get("name") or sid)[:200]
    nb, note = find_notebook(root / "submission", assignment.notebook_name)
    if nb is None:
        result = invalid_result(assignment, Submission(sid, None, note), note)
    else:     # grade_notebook reads it bounded: over notebook.CAPS["file_bytes"], it is invalid
        result = grade_notebook(assignment, nb, sid, insecure=insecure, hide=[str(root.resolve())])
        if note:
            result.message = "\n".join(filter(None, [note, result.message]))
    redact_hidden(result, assignment)
    data = gradescope_json(result)
    data.setdefault("execution_time", round(time.monotonic() - t0, 3))
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m autograder.gradescope",
                                description="Grade a Gradescope submission (what run_autograder calls).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--root", default=os.environ.get("GRADESCOPE_ROOT", DEFAULT_ROOT))
    r.add_argument("--assignment", required=True)
    r.add_argument("--source-dir", required=True)
    r.add_argument("--insecure", action="store_true", help="grade without the sandbox (tests only)")
    args = p.parse_args(argv)
    data = run(args.root, args.assignment, args.source_dir, insecure=args.insecure)
    n_pass = sum(t["status"] == "passed" for t in data["tests"])
    from autograder.text import fmt_num
    print(f"graded: {fmt_num(data['score'])} points, {n_pass} of {len(data['tests'])} tests passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
