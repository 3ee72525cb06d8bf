"""The class roster: one CSV, read in one place for ``grade --roster`` and ``export --roster``.

:func:`read_roster` returns each row as a dict with the keys of :data:`ROSTER_COLUMNS` (headers
matched loosely: ``Student ID``, ``SIS Login ID``, ``ID`` for Canvas's id...); :func:`roster_ids`
says who is in the class (the ``student_id`` column, else the first id column the roster has).
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

MAX_ROSTER_BYTES = 20 * 2**20
ROSTER_COLUMNS = ("student_id", "name", "sis_user_id", "sis_login_id", "section", "canvas_id")
ID_COLUMNS = ("student_id", "canvas_id", "sis_login_id", "sis_user_id")   # in the order roster_ids tries them
_ALIASES = {"id": "canvas_id", "student": "name", "login_id": "sis_login_id", "sis_id": "sis_user_id",
            "user_id": "sis_user_id", "login": "sis_login_id", "username": "sis_login_id", "student_name": "name"}


class RosterError(ValueError):
    """A roster that cannot be read: the message names the file and what is wrong."""


def norm_header(name: str) -> str:
    """A CSV header as a key: lower case, runs of other characters as one ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def read_csv(path: Path | str, *, max_bytes: int, label: str, error: type = ValueError):
    """``(header, rows iterator)`` of a small instructor CSV (a roster, submission times), read in
    one bounded piece: at most ``max_bytes``, UTF-8 (a BOM allowed). ``error(message)`` is raised
    when the file is too large, unreadable or not UTF-8; ``label`` starts each message. The header
    is ``[]`` for an empty file."""
    path = Path(path)
    try:
        if path.stat().st_size > max_bytes:
            raise error(f"{label} {path}: larger than {max_bytes} bytes")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise error(f"{label} {path}: cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{label} {path}: not UTF-8 text (save it as CSV UTF-8)") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        header = []
    return header, reader


def read_roster(path: Path | str) -> list[dict]:
    """Rows of a roster CSV as dicts with the keys of :data:`ROSTER_COLUMNS` (missing ones
    empty; blank rows left out). Raises :class:`RosterError` when the file is unreadable, too
    large, not UTF-8, empty or has no id column."""
    path = Path(path)
    header, reader = read_csv(path, max_bytes=MAX_ROSTER_BYTES, label="roster", error=RosterError)
    if not header:
        raise RosterError(f"roster {path}: empty file; expected the header {','.join(ROSTER_COLUMNS)}")
    keys = [_ALIASES.get(k, k) for k in map(norm_header, header)]
    if not set(ID_COLUMNS) & set(keys):
        raise RosterError(f"roster {path}: no id column in the header {header!r}; expected "
                          f"{','.join(ROSTER_COLUMNS)}")
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        row = {k: "" for k in ROSTER_COLUMNS}
        for k, v in zip(keys, values):
            if k in row and not row[k]:
                row[k] = v.strip()
        rows.append(row)
    return rows


def roster_ids(rows: list[dict]) -> list[str]:
    """The student ids of a roster (sorted, each once): its ``student_id`` column, else the
    first of Canvas's id, the login, the SIS id that any row fills."""
    col = next((c for c in ID_COLUMNS if any(r.get(c) for r in rows)), "student_id")
    return sorted({r[col] for r in rows if r.get(col)})
