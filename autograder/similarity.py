"""Pairwise similarity of the students' solution code, with copydetect.

`copydetect <https://pypi.org/project/copydetect/>`_ (winnowing over tokenised code, as in
MOSS: names become ``V``/``F``/``O``, strings ``S``, comments and whitespace go) fingerprints
each student's code; the released template's fingerprints are boilerplate, so identical stubs,
signatures and docstrings do not count. Renamed variables, reordered functions and added
comments do not hide a copy; independent solutions share only short idioms.

What is compared: the code cells marked ``solution`` in nbgrader's metadata (where the
student writes), IPython magics removed; when a notebook lost that metadata, every code cell
that is not a test cell and not identical to a template cell. At most
:data:`MAX_CODE_CHARS` characters per student, from notebooks no larger than the grader reads
(``notebook.CAPS["file_bytes"]``).

Outputs (:func:`write_similarity`): ``pairs.csv`` (``student_a, student_b, similarity``, most
similar first, then ``share_a``, ``share_b``: the fraction of each one's code found in the
other, and ``overlap_tokens``), ``similarity.html`` (the most similar pairs, matching regions
highlighted side by side). ``cnn-course similarity`` writes them apart from the grades: the
class report (report.py) does not show similarity (instructor guide, section 10).
"""
from __future__ import annotations

import csv
import io
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder.notebook import CAPS, InvalidSubmission, read_notebook, strip_magics
from autograder.text import esc, safe_cell

MAX_CODE_CHARS = 200_000
NOISE_T = 25          # shortest match (characters of tokenised code) that counts
WINDOW = 1            # winnowing window: 1 keeps every k-gram (deterministic, small inputs)
PAIR_COLUMNS = ("student_a", "student_b", "similarity", "share_a", "share_b", "overlap_tokens")


@dataclass
class Pair:
    student_a: str
    student_b: str
    similarity: float       # mean of share_a and share_b, in [0, 1]
    share_a: float          # fraction of a's fingerprinted code found in b's
    share_b: float
    overlap_tokens: int
    slices_a: object = None  # 2 x n arrays of matching (start, end) character offsets
    slices_b: object = None


# ---------------------------------------------------------------- code extraction


def notebook_code(path: Path | str, *, template_cells: set[str] = frozenset(),
                  max_bytes: int = CAPS["file_bytes"], max_chars: int = MAX_CODE_CHARS) -> str:
    """The student's code in notebook ``path``: its solution cells joined by blank lines.

    ``template_cells``: normalised sources of the template's code cells, dropped when the
    notebook has no solution metadata. Raises :class:`InvalidSubmission` for an unreadable or
    too large file; the result is cut to ``max_chars``."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidSubmission(f"the file could not be read ({exc.strerror or exc})") from None
    if size > max_bytes:
        raise InvalidSubmission(f"the notebook is {size} bytes; at most {max_bytes} are compared")
    _, cells = read_notebook(path, caps={"file_bytes": max_bytes})
    code = [c for c in cells if c.cell_type == "code"]
    chosen = [c for c in code if c.nbgrader.get("solution")]
    if not chosen:
        chosen = [c for c in code if not c.is_test and _norm(c.source) not in template_cells]
    parts = []
    for c in chosen:
        src = strip_magics(c.source)
        if src and src.strip():
            parts.append(src.strip("\n"))
    return "\n\n".join(parts)[:max_chars]


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def template_code(path: Path | str) -> tuple[str, set[str]]:
    """``(code of the template's solution cells, normalised sources of all its code cells)``
    from the released notebook (stubs: signatures, docstrings, ``raise NotImplementedError``)."""
    _, cells = read_notebook(path)
    code = [c for c in cells if c.cell_type == "code"]
    sol = "\n\n".join((strip_magics(c.source) or "").strip("\n") for c in code if c.nbgrader.get("solution"))
    return sol, {_norm(c.source) for c in code}


# ---------------------------------------------------------------- comparison


def _fingerprint(code: str, boilerplate=None):
    from copydetect import CodeFingerprint

    return CodeFingerprint("code.py", NOISE_T, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code))


def compare(codes: dict[str, str], template: str = "") -> list[Pair]:
    """Every pair of ``codes`` (``{student_id: code}``), most similar first (ties by ids).

    ``template``: code whose fingerprints are ignored (the released stubs)."""
    import numpy as np
    from copydetect import compare_files

    boiler = np.array(sorted(_fingerprint(template).hashes)) if template.strip() else None
    ids = sorted(codes)
    prints = {sid: _fingerprint(codes[sid], boiler) for sid in ids}
    pairs = []
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            overlap, (sa, sb), (slices_a, slices_b) = compare_files(prints[a], prints[b])
            sa, sb = float(sa), float(sb)
            pairs.append(Pair(a, b, round((sa + sb) / 2, 4), round(sa, 4), round(sb, 4), int(overlap),
                              slices_a if overlap else None, slices_b if overlap else None))
    pairs.sort(key=lambda p: (-p.similarity, p.student_a, p.student_b))
    return pairs


# ---------------------------------------------------------------- finding the notebooks


def collect_codes(assignment: str, submissions: Path | str, *, template_cells: set[str] = frozenset(),
                  notebook_name: str | None = None) -> tuple[dict[str, str], list[str]]:
    """``({student_id: code}, notes)`` for the submissions (a folder or zip, the layouts
    ``cnn-course grade`` accepts); unreadable notebooks are noted and left out."""
    from autograder.intake import find_submissions, safe_extract

    submissions = Path(submissions)
    notebook_name = notebook_name or f"{assignment}.ipynb"
    notes: list[str] = []
    tmp = None
    try:
        root = submissions
        if submissions.is_file():
            tmp = Path(tempfile.mkdtemp(prefix="cnn-course-sim-"))
            notes += safe_extract(submissions, tmp)
            root = tmp
        codes = {}
        for sub in find_submissions(root, assignment, notebook_name):
            if sub.path is None:
                notes.append(f"{sub.student_id}: left out, {sub.problem}")
                continue
            try:
                codes[sub.student_id] = notebook_code(sub.path, template_cells=template_cells)
            except InvalidSubmission as exc:
                notes.append(f"{sub.student_id}: left out, {exc}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return codes, notes


# ---------------------------------------------------------------- outputs


def pairs_csv_text(pairs: list[Pair]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PAIR_COLUMNS)
    for p in pairs:
        w.writerow([safe_cell(p.student_a), safe_cell(p.student_b), f"{p.similarity:.4f}",
                    f"{p.share_a:.4f}", f"{p.share_b:.4f}", p.overlap_tokens])
    return buf.getvalue()


def _highlight(code: str, slices) -> str:
    if slices is None or getattr(slices, "size", 0) == 0:
        return esc(code)
    from copydetect.utils import highlight_overlap

    text, _ = highlight_overlap(code, slices, '<mark>', '</mark>', escape_html=True)
    return text


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;padding:0 1rem;max-width:90rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border-bottom:1px solid #d0d7de;padding:.3rem .5rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.side{display:grid;grid-template-columns:1fr 1fr;gap:.75rem}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem;border-radius:.3rem;font-size:.85em;margin:0}
mark{background:#ffd8b5}.muted{color:#656d76;font-size:.9em}
"""


def similarity_html(assignment: str, pairs: list[Pair], codes: dict[str, str], *, top: int = 20,
                    notes=()) -> str:
    """A page with the ``top`` most similar pairs, matching regions highlighted side by side."""
    shown = [p for p in pairs[:top] if p.similarity > 0]
    parts = [f"<h1>{esc(assignment)}: code similarity</h1>",
             f"<p class=\"muted\">{len(codes)} students, {len(pairs)} pairs compared with copydetect "
             f"(matches of at least {NOISE_T} characters of tokenised code; the released template's code "
             "does not count). Similarity = mean of the two shares: the fraction of each student's own code "
             "found in the other's. A high value is a reason to look, not a verdict.</p>"]
    if shown:
        rows = "".join(
            f"<tr><td class=\"num\">{i}</td><td><a href=\"#pair-{i}\">{esc(p.student_a)}</a></td>"
            f"<td>{esc(p.student_b)}</td><td class=\"num\">{100 * p.similarity:.0f}%</td>"
            f"<td class=\"num\">{100 * p.share_a:.0f}%</td><td class=\"num\">{100 * p.share_b:.0f}%</td></tr>"
            for i, p in enumerate(shown, 1))
        parts.append("<table><tr><th>#</th><th>student A</th><th>student B</th><th>similarity</th>"
                     f"<th>share of A</th><th>share of B</th></tr>{rows}</table>")
        for i, p in enumerate(shown, 1):
            parts.append(
                f"<h2 id=\"pair-{i}\">{i}. {esc(p.student_a)} and {esc(p.student_b)}: {100 * p.similarity:.0f}%</h2>"
                f"<div class=\"side\"><div><b>{esc(p.student_a)}</b> ({100 * p.share_a:.0f}% matched)"
                f"<pre>{_highlight(codes.get(p.student_a, ''), p.slices_a)}</pre></div>"
                f"<div><b>{esc(p.student_b)}</b> ({100 * p.share_b:.0f}% matched)"
                f"<pre>{_highlight(codes.get(p.student_b, ''), p.slices_b)}</pre></div></div>")
    else:
        parts.append("<p>No pair shares code beyond the template.</p>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{esc(assignment)} "
            f"code similarity</title><style>{_CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def write_similarity(assignment: str, codes: dict[str, str], out_dir: Path | str, *, template: str = "",
                     top: int = 20, notes=()) -> dict:
    """Compare ``codes``, write ``pairs.csv`` and ``similarity.html`` into ``out_dir``;
    return ``{"pairs": [...], "csv": path, "html": path}``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = compare(codes, template)
    csv_path = out_dir / "pairs.csv"
    csv_path.write_text(pairs_csv_text(pairs), encoding="utf-8", errors="replace")
    html_path = out_dir / "similarity.html"
    html_path.write_text(similarity_html(assignment, pairs, codes, top=top, notes=notes), encoding="utf-8",
                         errors="replace")
    return {"pairs": pairs, "csv": csv_path, "html": html_path}
