"""Helpers for the public probe code of ``grading.toml [probes]`` (run in the sandbox).

A probe returns raw material to the grader, never a verdict. :func:`call_each` calls one of
the student's functions once per argument list of a grid and says, call by call, what
happened, so a hidden test checks a whole grid with one round trip to the sandbox. Code
here runs with this module's globals: Python's own builtins, whatever names the notebook
reuses.
"""
from __future__ import annotations

import linecache
import re

import numpy as np

__all__ = ["call_each", "MAX_ITEMS", "MAX_STR", "MESSAGE_CHARS", "REPR_CHARS"]

MAX_ITEMS = 100        # a returned list/tuple/array longer than this is not plain data here
MAX_STR = 1000         # nor a string longer than this
MESSAGE_CHARS = 300    # an exception's message is cut to this
REPR_CHARS = 100       # the repr of a value that is not plain data is cut to this


def _plain(v, depth: int = 0) -> bool:
    """Small plain data: None, bool, int, float, short str, small numeric numpy values, and
    lists or tuples (two levels deep at most) of these."""
    if v is None or type(v) in (bool, int, float):
        return True
    if type(v) is str:
        return len(v) <= MAX_STR
    if isinstance(v, (np.generic, np.ndarray)):
        return v.dtype.kind in "biuf" and v.size <= MAX_ITEMS
    return type(v) in (list, tuple) and depth < 2 and len(v) <= MAX_ITEMS and all(_plain(x, depth + 1) for x in v)


def _text(show, x, limit: int) -> str:
    try:
        return re.sub(r" at 0x[0-9a-fA-F]+", "", str(show(x)))[:limit]   # no memory addresses
    except Exception:  # noqa: BLE001 - a student's __str__/__repr__ may raise
        return "<unprintable>"


def _where(exc: BaseException) -> str:
    """The last line of the notebook's code (``<cell N>``) in the exception's traceback."""
    tb, at = exc.__traceback__, None
    while tb is not None:
        at = tb if tb.tb_frame.f_code.co_filename.startswith("<cell ") else at
        tb = tb.tb_next
    if at is None:
        return ""
    code = at.tb_frame.f_code
    return f"line {at.tb_lineno}, in {code.co_name}: {linecache.getline(code.co_filename, at.tb_lineno).strip()[:120]}"


def call_each(fn, args: list, kwargs: list | None = None) -> dict:
    """``fn(*args[i], **kwargs[i])`` for each i (``kwargs`` None: no keywords).

    Returns ``{"values": [...], "failed": [...]}``: ``values[i]`` is what call i returned if
    that is plain data, else None; ``failed`` lists ``[i, "raised", exception type, message,
    where]`` for a call that raised (an ``Exception``) and ``[i, "other", type, repr]`` for a
    call that returned something else. Messages and reprs are cut (:data:`MESSAGE_CHARS`,
    :data:`REPR_CHARS`) and carry no memory addresses, so the same notebook always gives the
    same answer.
    """
    result: dict = {"values": [], "failed": []}
    for i, call_args in enumerate(args):
        try:
            value = fn(*call_args, **(kwargs[i] if kwargs is not None else {}))
        except Exception as exc:  # noqa: BLE001 - the student's error is what is reported
            result["values"].append(None)
            result["failed"].append([i, "raised", type(exc).__name__, _text(str, exc, MESSAGE_CHARS), _where(exc)])
            continue
        if _plain(value):
            result["values"].append(value)
        else:
            result["values"].append(None)
            result["failed"].append([i, "other", type(value).__name__, _text(repr, value, REPR_CHARS)])
    return result
