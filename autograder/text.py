"""Text for people: what cnn-course writes where a submission's text may end up.

Everything a student can influence (ids, messages, file names, answers) is made safe here, once:
:func:`safe_text` (valid Unicode, no NUL, bounded), :func:`no_surrogates` (valid Unicode only),
:func:`visible` (control and format characters written out for terminals and CSV),
:func:`safe_cell` (a CSV cell a spreadsheet shows as text), :func:`esc` (HTML), :func:`first_line`
(how a cell is named to a Jupyter user); and numbers are written one way (:func:`fmt_num`,
:func:`fmt_stat`). Standard library only.
"""
from __future__ import annotations

import html
import re
import unicodedata

# Caps on the text a submission can put into results, feedback and reports (characters).
MAX_TEST_MESSAGE = 4_000
MAX_SUBMISSION_MESSAGE = 12_000


def safe_text(value, limit: int = MAX_TEST_MESSAGE) -> str:
    """``value`` as text fit to store and show: invalid Unicode (lone surrogates) replaced,
    NUL removed, at most ``limit`` characters (a note says how much was cut)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__
        text = "<unprintable>"
    if len(text) > 4 * limit + 1024:
        text = text[:4 * limit + 1024]
        cut = True
    else:
        cut = False
    text = text.encode("utf-8", "replace").decode("utf-8", "replace").replace("\x00", "")
    if len(text) > limit or cut:
        text = text[:limit] + f" [... cut: messages are limited to {limit} characters]"
    return text


_SURROGATES = re.compile("[\ud800-\udfff]")


def no_surrogates(s: str) -> str:
    """``s`` with lone surrogates (not encodable as UTF-8) replaced by U+FFFD; nothing cut."""
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", s)


def esc(x) -> str:
    """``x`` as HTML text (quotes included)."""
    return html.escape(str(x), quote=True)


def first_line(source: str) -> str:
    """How a Jupyter user finds a cell: its first non-empty line (cut at 60 characters)."""
    for line in (source or "").splitlines():
        if line.strip():
            return line.strip()[:60]
    return ""


def fmt_stat(x) -> str:
    """A class statistic (mean, median) for display: at most 2 decimals (``44.13``, ``18.57``)."""
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else f"{x:g}"


def fmt_num(x) -> str:
    """Scores as people write them: ``3``, ``2.5``, ``0.3333`` (the one score formatter)."""
    x = round(float(x), 4)
    return str(int(x)) if x == int(x) else f"{x:g}"


DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")   # a spreadsheet reads a cell starting so as a formula


def safe_cell(value) -> str:
    """A CSV cell a spreadsheet shows as text: control characters written out (:func:`visible`,
    so ESC or a line break never reaches a terminal or splits a row), then a string starting
    with ``= + - @``, a tab or a CR gets a leading ``'``. Numbers are formatted plainly (``3``,
    ``2.5``); ``None`` is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return fmt_num(value)
    text = visible(safe_text(value, 10_000))
    return "'" + text if text.startswith(DANGEROUS_START) else text


def visible(value, *, keep_newlines: bool = False) -> str:
    """``value`` with every character a terminal or a spreadsheet would act on written out as
    text: control characters (ESC, BEL, CR, C1 ``\\x9b``...), format characters (bidi overrides,
    zero-width ones), lone surrogates and line/paragraph separators become ``\\x1b``,
    ``\\u202e``... (``keep_newlines``: ``\\n`` stays a line break). For everything a submission
    names (student ids, file names, messages) printed to the terminal or written to CSV."""
    text = value if isinstance(value, str) else str(value)
    if _PLAIN.fullmatch(text):
        return text

    def one(m):
        ch = m.group(0)
        if keep_newlines and ch == "\n":
            return ch
        if ch >= " " and unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
            return ch
        code = ord(ch)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"

    return _NOT_ASCII_PRINTABLE.sub(one, text)


_PLAIN = re.compile(r"[\x20-\x7e]*")
_NOT_ASCII_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
