"""Submission intake: what ``SUBMISSIONS`` holds, read as one :class:`Submission` per student.

Accepted layouts of ``SUBMISSIONS`` (a folder, or a ``.zip`` of one):

* ``<student_id>/<notebook>.ipynb``
* nbgrader's ``submitted/<student_id>/<assignment>/<notebook>.ipynb`` (with or without
  the ``submitted/`` level);
* a download from Canvas, Moodle or Blackboard (:mod:`autograder.lms`);

each possibly inside single wrapping folders (as zips often have): a lone top-level folder is
looked through when it holds per-student folders (two or more, or nbgrader's ``submitted/``,
even beside a loose notebook of its own such as the template) or an LMS download, and is
graded as one student's folder otherwise. A student folder without a notebook, with several
notebooks none of which has the assignment's name, or given as a symbolic link gets a
``problem`` (an ``invalid`` row); nothing stops the batch. Zips are extracted within caps
(:func:`safe_extract`); submission files are only ever read. Student ids become output folder
names only through :func:`check_folder_names` (collision-free).
"""
from __future__ import annotations

import os
import stat
import struct
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from autograder.results import safe_dirname
from autograder.store import stored_student_id, student_dir
from autograder.text import visible

# Zip extraction caps.
MAX_ZIP_MEMBERS = 20_000
MAX_MEMBER_BYTES = 64 * 2**20        # one file
MAX_TOTAL_BYTES = 2 * 2**30          # everything
MAX_RATIO = 200                      # uncompressed / compressed, per member

_SKIP_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git"}


class BatchError(ValueError):
    """A usage error: the submissions cannot be found or read at all."""


@dataclass
class Submission:
    """One student's hand-in: the notebook to grade, or why there is none."""

    student_id: str
    path: Path | None = None
    problem: str = ""                     # set when there is nothing gradable (-> invalid)
    notes: list[str] = field(default_factory=list)
    missing: bool = False                 # nbgrader layout: the student submitted other work, not this
    submitted_at: datetime | None = None  # aware UTC
    submitted_at_source: str = "none"     # one of autograder.lateness.TIME_SOURCES


# ---------------------------------------------------------------- zips


def _zip_utc_time(extra: bytes) -> datetime | None:
    """The UTC modification time of Info-ZIP's extended timestamp extra field (0x5455), if any."""
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4:i + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 1:
            try:
                return datetime.fromtimestamp(struct.unpack_from("<i", body, 1)[0], tz=timezone.utc)
            except (OverflowError, OSError, ValueError):
                return None
        i += 4 + size
    return None


def safe_extract(zip_path: Path | str, dest: Path | str, times: dict | None = None) -> list[str]:
    """Extract ``zip_path`` into ``dest`` refusing path traversal, links and zip bombs.

    Returns the warnings about members that were skipped. Raises :class:`BatchError` when the
    file is not a zip or exceeds the caps as a whole. ``times``: filled with each extracted
    file's entry date, ``{path relative to dest (posix): (date_time, UTC time or None)}`` (see
    :func:`autograder.lateness.zip_entry_time`): the extracted files' own times are those of the
    extraction."""
    zip_path, dest = Path(zip_path), Path(dest)
    warnings: list[str] = []
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BatchError(f"SUBMISSIONS={str(zip_path)!r} is not a readable zip file ({exc}).") from None
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise BatchError(f"{zip_path.name} has {len(members)} entries; at most {MAX_ZIP_MEMBERS} are accepted.")
        total = 0
        root = dest.resolve()
        for info in members:
            name = info.filename.replace("\\", "/")
            parts = PurePosixPath(name).parts
            mode = info.external_attr >> 16
            if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
                warnings.append(f"skipped {info.filename!r}: unsafe path")
                continue
            if stat.S_ISLNK(mode):
                warnings.append(f"skipped {info.filename!r}: symbolic link")
                continue
            if info.is_dir():
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                warnings.append(f"skipped {info.filename!r}: {info.file_size} bytes (limit {MAX_MEMBER_BYTES})")
                continue
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO and info.file_size > 2**20:
                warnings.append(f"skipped {info.filename!r}: compression ratio too high (zip bomb?)")
                continue
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise BatchError(f"{zip_path.name} unpacks to more than {MAX_TOTAL_BYTES} bytes.")
            target = (dest / Path(*parts)).resolve()
            if root not in target.parents:
                warnings.append(f"skipped {info.filename!r}: unsafe path")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            with zf.open(info) as src, open(target, "wb") as out:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    written += len(chunk)
                    if written > MAX_MEMBER_BYTES:
                        break
                    out.write(chunk)
            if written > MAX_MEMBER_BYTES:
                target.unlink()
                warnings.append(f"skipped {info.filename!r}: larger than declared")
            elif times is not None:
                times[target.relative_to(root).as_posix()] = (tuple(info.date_time), _zip_utc_time(info.extra))
    return warnings


# ---------------------------------------------------------------- finding submissions


def _visible_dirs(folder: Path) -> list[Path]:
    """Student folders: every folder (dot-named ones too) and every symbolic link (reported as
    invalid, never followed), except tool litter such as ``__MACOSX``."""
    return sorted(p for p in folder.iterdir() if (p.is_symlink() or p.is_dir()) and p.name not in _SKIP_DIRS)


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".ipynb" and not p.name.startswith(".")
                  and (p.is_symlink() or p.is_file()))


def _is_student_dir(folder: Path, assignment: str) -> bool:
    return bool(_notebooks(folder)) or (folder / assignment).is_dir()


MAX_WRAPPERS = 5                     # single wrapping folders looked through, nested


def _is_wrapper(folder: Path, assignment: str, depth: int = 0) -> bool:
    """Whether ``folder``, the lone folder of its parent, wraps a batch rather than being one
    student's: it holds nbgrader's ``submitted/``, two or more per-student folders (even beside
    loose notebooks of its own, such as the template), or, holding no notebook itself, one
    per-student folder or another such wrapper."""
    if folder.is_symlink() or depth > MAX_WRAPPERS:
        return False
    if (folder / "submitted").is_dir():
        return True
    dirs = _visible_dirs(folder)
    students = sum(1 for d in dirs if not d.is_symlink() and _is_student_dir(d, assignment))
    if students >= 2:
        return True
    if _is_student_dir(folder, assignment):
        return False
    return students == 1 or (len(dirs) == 1 and _is_wrapper(dirs[0], assignment, depth + 1))


def unwrap(root: Path, assignment: str, notes: list | None = None) -> Path:
    """The folder of ``root`` that holds the students' folders: nbgrader's ``submitted/`` and
    single wrapping folders (see :func:`_is_wrapper`) looked through. A wrapper's own loose
    notebooks belong to no student: they are ignored, with a note in ``notes``."""
    top = root
    if (root / "submitted").is_dir():
        root = root / "submitted"
    for _ in range(MAX_WRAPPERS + 1):
        dirs = _visible_dirs(root)
        if len(dirs) != 1 or _notebooks(root) or not _is_wrapper(dirs[0], assignment):
            break
        root = dirs[0]
        loose = _notebooks(root)
        if loose and notes is not None:
            notes.append(f"ignored {', '.join(visible(p.name) for p in loose[:5])}{' ...' if len(loose) > 5 else ''} "
                         f"in {visible(root.relative_to(top).as_posix())}/: not in a student's folder")
        if (root / "submitted").is_dir():
            root = root / "submitted"
    return root


def find_submissions(root: Path | str, assignment: str, notebook_name: str,
                     notes: list | None = None) -> list[Submission]:
    """The submissions under ``root`` (see the module docstring), sorted by student id;
    ``notes``: what was ignored on the way (see :func:`unwrap`)."""
    root = Path(root)
    if not root.is_dir():
        raise BatchError(f"SUBMISSIONS={str(root)!r} is neither a folder nor a .zip file.")
    root = unwrap(root, assignment, notes)
    subs = []
    for folder in _visible_dirs(root):
        sid = folder.name
        if folder.is_symlink():
            subs.append(Submission(sid, None, f"{sid} is a symbolic link; links are not followed: hand in the "
                                              "notebook itself."))
            continue
        where = folder / assignment if (folder / assignment).is_dir() else folder
        if where.is_symlink():
            subs.append(Submission(sid, None, f"{sid}/{assignment} is a symbolic link; links are not followed."))
            continue
        nbs = _notebooks(where)
        links = [p for p in nbs if p.is_symlink()]
        if links:
            subs.append(Submission(sid, None, f"{', '.join(p.name for p in links)} is a symbolic link; links are "
                                              "not followed: hand in the notebook itself."))
            continue
        shown = where.relative_to(root).as_posix() + "/"
        if not nbs and where == folder and any(p.is_dir() for p in folder.iterdir()):
            subs.append(Submission(sid, None, f"nothing submitted for {assignment}", missing=True))
        elif not nbs:
            subs.append(Submission(sid, None, f"no notebook found in {shown}; expected {notebook_name}."))
        elif any(p.name == notebook_name for p in nbs):
            sub = Submission(sid, where / notebook_name)
            others = [p.name for p in nbs if p.name != notebook_name]
            if others:
                sub.notes.append(f"ignored other notebooks: {', '.join(others)}")
            subs.append(sub)
        elif len(nbs) == 1:
            sub = Submission(sid, nbs[0])
            sub.notes.append(f"graded {nbs[0].name} (expected the name {notebook_name})")
            subs.append(sub)
        else:
            subs.append(Submission(
                sid, None,
                f"{len(nbs)} notebooks in {shown} ({', '.join(p.name for p in nbs)}) and none is named "
                f"{notebook_name}: hand in exactly one notebook."))
    return subs


def _arrange_lms(root: Path, notebook_name: str, roster_rows, roster_ids):
    """``root`` read as an LMS download (:func:`autograder.lms.arrange`), or the lone folder of
    ``root`` when ``root`` holds nothing else but files that are not notebooks (a wrapping
    folder zipped with a note beside it), nested; None when none is one. The origins are made
    relative to ``root`` (the zip's entry names)."""
    from autograder import lms

    top = root
    for _ in range(MAX_WRAPPERS + 1):
        arranged = lms.arrange(root, notebook_name, roster_rows=list(roster_rows), roster_ids=set(roster_ids))
        if arranged is not None:
            prefix = PurePosixPath(root.resolve().relative_to(top.resolve()).as_posix())
            arranged.origin = {new: (prefix / old).as_posix() for new, old in arranged.origin.items()}
            return arranged
        dirs = _visible_dirs(root)
        if len(dirs) != 1 or dirs[0].is_symlink() or _notebooks(root):
            return None
        root = dirs[0]
    return None


@dataclass
class Intake:
    """What :func:`collect` found in ``SUBMISSIONS``: the submissions (sorted by student id);
    ``zip_root`` (where a zip was extracted, or the folder its LMS download was arranged in)
    and ``zip_times`` (its entries' dates, see :func:`safe_extract`), for the submission times;
    ``warnings`` (zip members skipped) and ``notes`` (how the folder was read: an LMS download,
    what a wrapping folder held)."""

    subs: list[Submission]
    zip_root: Path | None = None
    zip_times: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def collect(submissions: Path | str, assignment: str, notebook_name: str, *, tmps: list, roster_rows=(),
            roster_ids=()) -> Intake:
    """Every submission in ``submissions`` (a folder or a zip, see the module docstring) of the
    assignment named ``assignment``; ``roster_rows``/``roster_ids`` map an LMS's names to
    student ids. The temporary folders made (the extracted zip, a rearranged LMS download) are
    appended to ``tmps`` as they are made: the caller removes them. Raises :class:`BatchError`
    when nothing in ``submissions`` reads as students' submissions."""
    submissions = Path(submissions)
    out = Intake(subs=[])
    if submissions.is_file():
        out.zip_root = Path(tempfile.mkdtemp(prefix="cnn-course-subs-"))
        tmps.append(out.zip_root)
        out.warnings += safe_extract(submissions, out.zip_root, out.zip_times)
        root = out.zip_root
    else:
        root = submissions
    arranged = _arrange_lms(root, notebook_name, roster_rows, roster_ids)
    if arranged is not None:
        tmps.append(arranged.root)
        out.notes += arranged.notes
        if out.zip_root is not None:
            out.zip_times = {new: out.zip_times[old] for new, old in arranged.origin.items() if old in out.zip_times}
            out.zip_root = arranged.root
        root = arranged.root
    if out.zip_root is not None and root == out.zip_root and _notebooks(root) and not _visible_dirs(root):
        raise BatchError(
            f"{submissions.name}: its notebooks ({', '.join(visible(p.name) for p in _notebooks(root)[:3])}"
            f"{' ...' if len(_notebooks(root)) > 3 else ''}) lie side by side with no student folder, and their "
            "names are not those of a Canvas, Moodle or Blackboard download: expected <student_id>/"
            f"{notebook_name} folders (docs/instructor-guide.md, LMS downloads).")
    if _notebooks(root) and not _visible_dirs(root):   # SUBMISSIONS is one student's folder (bob/)
        subs = find_submissions(root.parent, assignment, notebook_name)
        out.subs = [s for s in subs if s.student_id == root.name]
    else:
        out.subs = find_submissions(root, assignment, notebook_name, out.notes)
    if not out.subs:
        raise BatchError(
            f"no student folders found in {submissions}: expected <student_id>/{notebook_name} "
            f"or submitted/<student_id>/{assignment}/{notebook_name}.")
    return out


# ---------------------------------------------------------------- student ids as folder names


def _case_insensitive(folder: Path) -> bool:
    """Whether ``folder``'s file system folds case (macOS, Windows): ``Ann`` and ``ann`` would share."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".tmp-CaseProbe-", dir=folder)
        os.close(fd)
    except OSError:
        return False
    try:
        return os.path.exists(os.path.join(folder, os.path.basename(probe).lower()))
    finally:
        os.unlink(probe)


def check_folder_names(student_ids, out_dir: Path | str | None = None) -> None:
    """Fail loudly (BatchError naming both ids) when two students would share an output folder:
    two ids with the same :func:`safe_dirname` (case folded where the file system folds case),
    or a folder in ``out_dir`` already holding the results of another student (outputs written
    by an older version, whose folder names were not collision-free)."""
    import unicodedata


    fold = out_dir is not None and Path(out_dir).is_dir() and _case_insensitive(Path(out_dir))
    seen: dict[str, str] = {}
    for sid in student_ids:
        name = safe_dirname(sid)
        key = unicodedata.normalize("NFC", name).casefold() if fold else name
        other = seen.setdefault(key, sid)
        if other != sid:
            raise BatchError(f"student ids {visible(repr(other))} and {visible(repr(sid))} would share the output "
                             f"folder {visible(name)!r}: rename one of the submission folders.")
    if out_dir is None:
        return
    for sid in student_ids:
        path = student_dir(out_dir, sid) / "results.json"
        stored = stored_student_id(path)            # whose folder it is, even in a damaged file
        if isinstance(stored, str) and stored != sid:
            raise BatchError(f"{path.parent} holds the results of student {visible(repr(stored))}, not of "
                             f"{visible(repr(sid))} (written by an older cnn-course, whose folder names could "
                             "collide): grade into a new --out folder.")
