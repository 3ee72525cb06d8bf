"""HTML feedback for one student, the class report, and the score histogram.

Everything is self-contained HTML (inline CSS, the PNG embedded as base64) and every piece
of text that a student could influence (ids, messages, file names) is HTML-escaped.
Hidden tests show their name, result and message, never their code; public tests may show
their code (students have it anyway).
"""
from __future__ import annotations

import base64
import io
import statistics
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from autograder.results import (HIDDEN, INVALID, MANUAL, MISSING, TEST_STATUSES, Outcome, SubmissionResult,
                                SubmissionStatus, safe_dirname)
from autograder.text import esc, fmt_num, fmt_stat

STATUS_HELP = {      # what each test status means (and two submission statuses), for the student
    Outcome.PASSED: "the test ran without an error.",
    Outcome.FAILED: "an assertion failed: the message says what was expected and what your code returned.",
    Outcome.ERROR: "your code raised an exception (or returned something the test could not use).",
    Outcome.TIMEOUT: "the test used more CPU time than allowed: look for an endless loop, or a Python loop "
                     "where a numpy operation would do.",
    Outcome.MEMORY: "the memory limit was exceeded: avoid building huge intermediate arrays.",
    Outcome.CRASH: "the process running your code died (os._exit, a segfault, or it was killed); the other "
                   "tests were still graded.",
    Outcome.FORBIDDEN: "the function uses an API this exercise does not allow (see the notebook's "
                       "instructions); it earns no points.",
    Outcome.MANUAL: "a written answer graded by hand: its points count once a grader has entered them.",
    SubmissionStatus.INVALID: "the submission could not be read as a notebook.",
    SubmissionStatus.MISSING: "nothing was submitted.",
}
_COLORS = {Outcome.MANUAL: "#0969da", Outcome.PASSED: "#1a7f37", Outcome.FAILED: "#cf222e", Outcome.ERROR: "#bc4c00",
           Outcome.TIMEOUT: "#8250df", Outcome.MEMORY: "#8250df", Outcome.CRASH: "#a40e26", Outcome.FORBIDDEN: "#6e7781",
           SubmissionStatus.GRADED: "#0969da", SubmissionStatus.INVALID: "#a40e26", SubmissionStatus.MISSING: "#57606a"}
_FAULTS = (Outcome.TIMEOUT, Outcome.MEMORY, Outcome.CRASH)     # test statuses the slowest-submissions table names

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 .45rem;border-radius:1rem;color:#fff;font-size:.85em}
pre{white-space:pre-wrap;background:#f6f8fa;padding:.5rem;border-radius:.3rem;margin:.2rem 0;font-size:.9em}
.muted{color:#656d76;font-size:.9em}.score{font-size:1.3rem;font-weight:600}
"""


_num = fmt_num


def badge(status: str) -> str:
    return f'<span class="badge" style="background:{_COLORS.get(status, "#57606a")}">{esc(status)}</span>'


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")


def _specs(assignment) -> dict:
    return {t.grade_id: t for t in getattr(assignment, "tests", [])} if assignment is not None else {}


# ---------------------------------------------------------------- one student

REDACTED = "[hidden test code]"


def redact_hidden(result: SubmissionResult, assignment=None) -> int:
    """Replace, in place, any line of a hidden test's code quoted in a test message (a
    traceback, an assertion's source) by ``[hidden test code]``; return how many were replaced."""
    secrets = set()
    for spec in _specs(assignment).values():
        if getattr(spec, "visibility", "") != HIDDEN:
            continue
        for line in getattr(spec, "source", "").split("\n"):
            line = line.strip()
            if len(line) >= 8 and "HIDDEN TESTS" not in line and not line.startswith("#"):
                secrets.add(line)
    count = 0
    for t in result.tests:
        for line in sorted(secrets, key=len, reverse=True):
            if line in t.message:
                count += t.message.count(line)
                t.message = t.message.replace(line, REDACTED)
    if result.message:
        for line in sorted(secrets, key=len, reverse=True):
            if line in result.message:
                count += result.message.count(line)
                result.message = result.message.replace(line, REDACTED)
    return count



def feedback_html(result: SubmissionResult, assignment=None) -> str:
    """The feedback page of one submission."""
    specs = _specs(assignment)
    parts = [f"<h1>{esc(result.assignment)}: feedback for {esc(result.student_id)}</h1>",
             f'<p class="score">{_num(result.score)} / {_num(result.max_score)} points {badge(result.status)}</p>']
    breakdown = []
    if result.manual_max:
        breakdown.append(f"autograded {_num(result.auto_score)}; graded by hand "
                         + (f"{_num(result.manual_score)}" if result.manual_score is not None else "-")
                         + f" of {_num(result.manual_max)}"
                         + (" (some answers still await grading: this score may rise)" if result.needs_manual_grading
                            else ""))
    if result.late:
        breakdown.append(f"submitted {result.submitted_at} UTC ({_source(result)}), "
                         f"{float(result.late_by_s) / 3600:.1f} h after the due date: {_num(result.late_penalty)} "
                         "point(s) off")
    if breakdown:
        parts.append("<p>" + "<br>".join(esc(b) for b in breakdown) + "</p>")
    if result.status == MISSING:
        parts.append("<p>Nothing was submitted for this assignment.</p>")
    if result.message:
        parts.append(f"<p><b>Note:</b></p><pre>{esc(result.message)}</pre>")
    if result.status == INVALID:
        parts.append(f"<p>{esc(STATUS_HELP['invalid'])} Open it in Jupyter, save it, and check that the file "
                     f"is the notebook of this assignment.</p>")
    if result.tests:
        rows = []
        for t in result.tests:
            code = ""
            spec = specs.get(t.name)
            if t.visibility != HIDDEN and spec is not None and getattr(spec, "source", "").strip():
                code = f"<details><summary class=\"muted\">test code</summary><pre>{esc(spec.source)}</pre></details>"
            msg = f"<pre>{esc(t.message)}</pre>" if t.message else ""
            if t.comment:
                msg += f"<p class=\"comment\"><b>Grader's comment:</b></p><pre>{esc(t.comment)}</pre>"
            rows.append(
                f"<tr><td><code>{esc(t.name)}</code><br><span class=\"muted\">{esc(t.visibility)}</span></td>"
                f"<td class=\"num\">{_num(t.points)} / {_num(t.max_points)}</td><td>{badge(t.status)}</td>"
                f"<td>{msg}{code}</td></tr>")
        parts.append("<h2>Tests</h2><table><tr><th>test</th><th>points</th><th>result</th><th>message</th></tr>"
                     + "".join(rows) + "</table>")
        seen = [s for s in TEST_STATUSES if any(t.status == s for t in result.tests)]
        parts.append("<h2>What the results mean</h2><ul>"
                     + "".join(f"<li>{badge(s)} {esc(STATUS_HELP[s])}</li>" for s in seen) + "</ul>")
        n_hidden = sum(t.visibility == HIDDEN for t in result.tests)
        if n_hidden:
            parts.append(f"<p class=\"muted\">{n_hidden} hidden test(s) were run at grading time; their code "
                         f"is not shown. Their messages say what went wrong.</p>")
    when = f"{result.submitted_at} UTC" if result.submitted_at else "unknown"
    meta = [f"graded notebook: {esc(result.notebook or '-')}", f"sha256: <code>{esc(result.sha256 or '-')}</code>",
            f"submitted: {esc(when)} (source: {esc(_source(result))})",
            f"grader {esc(result.grader_version or '-')}, seed {esc(result.seed)}",
            f"isolation: {esc(result.isolation or '-')}"]
    parts.append("<p class=\"muted\">" + "<br>".join(meta) + "</p>")
    return _page(f"{result.assignment} feedback: {result.student_id}", "\n".join(parts))


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n] + " ..."


def _source(result: SubmissionResult) -> str:
    """Which evidence dated the submission (autograder.lateness.TIME_SOURCES); ``none`` if nothing did."""
    return str(result.submitted_at_source or "none")


# ---------------------------------------------------------------- the class


def histogram_png(scores: list[float], max_score: float, *, title: str = "") -> bytes:
    """A PNG histogram of ``scores`` on the range ``[0, max_score]`` (one bar per point when small)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    top = max(float(max_score), max(scores, default=0.0), 1.0)
    nbins = int(min(20, max(5, np.ceil(top))))
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    ax.hist(scores, bins=np.linspace(0, top, nbins + 1), color="#0969da", edgecolor="white")
    ax.set_xlim(0, top)
    ax.set_xlabel("score")
    ax.set_ylabel("submissions")
    ax.set_title(f"{title}: {len(scores)} submissions" if title else f"{len(scores)} submissions")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def per_test_stats(results: list[SubmissionResult]) -> list[dict]:
    """Per test: name, visibility, max points, pass rate among graded submissions, status counts."""
    order: list[str] = []
    stats: dict[str, dict] = {}
    for r in results:
        for t in r.tests:
            if t.name not in stats:
                order.append(t.name)
                stats[t.name] = {"name": t.name, "visibility": t.visibility, "max_points": t.max_points,
                                 "counts": Counter(), "points": 0.0}
            stats[t.name]["counts"][t.status] += 1
            stats[t.name]["points"] += t.points
            if t.status == MANUAL:
                stats[t.name]["manual"] = True
                if not t.awaiting:
                    stats[t.name].setdefault("scored", []).append(t.points / t.max_points if t.max_points else 0.0)
    out = []
    for name in order:
        s = stats[name]
        n = sum(s["counts"].values())
        s["n"] = n
        if s.get("manual"):     # graded by hand: its score, among the answers graded so far
            scored = s.get("scored", [])
            s["pass_rate"] = sum(scored) / len(scored) if scored else None
        else:
            s["pass_rate"] = s["counts"]["passed"] / n if n else 0.0
        s["mean_points"] = s["points"] / n if n else 0.0
        out.append(s)
    return out


def _rate(s: dict) -> str:
    if s["pass_rate"] is None:
        return "not graded yet"
    return f"{100 * s['pass_rate']:.0f}%" + (" (score)" if s.get("manual") else "")


FORMGRADER_HINT = ("open formgrader from Jupyter (<code>jupyter lab</code> or <code>jupyter notebook</code> in the "
                   "course folder, then its Formgrader tab or menu)")


def _split_notes(results: list[SubmissionResult]) -> tuple[list[str], dict[str, str]]:
    """The parts of the students' notes (``; ``-separated) every one of them has, listed once,
    and each student's own parts."""
    parts = {r.student_id: [p for p in (r.message or "").split("; ") if p] for r in results}
    common: list[str] = []
    if len(results) > 1:
        first = parts[results[0].student_id]
        common = [p for p in first if all(p in parts[r.student_id] for r in results)]
    # "no submission time known..." is what the time source column's `none` already says.
    own = {sid: "; ".join(p for p in ps if p not in common and not p.startswith("no submission time known"))
           for sid, ps in parts.items()}
    return common, own


def off_roster_ids(results: list[SubmissionResult], roster) -> list[str]:
    """The students of ``results`` who handed in (not ``missing``) but are not in ``roster``;
    ``[]`` without a roster."""
    if not roster:
        return []
    return sorted(r.student_id for r in results if r.status != MISSING and r.student_id not in roster)


def report_html(results: list[SubmissionResult], assignment=None, png: bytes | None = None, *, notes=(),
                off_roster=()) -> str:
    """The class report: summary, histogram, per-test pass rates, slowest and invalid submissions."""
    name = results[0].assignment if results else getattr(assignment, "name", "")
    missing = [r for r in results if r.status == MISSING]
    all_results, results = results, [r for r in results if r.status != MISSING]   # missing: not in the statistics
    scores = [r.score for r in results]
    max_score = max((r.max_score for r in all_results), default=0)
    graded = [r for r in results if r.status != INVALID]
    invalid = [r for r in results if r.status == INVALID]
    waiting = [r for r in graded if r.needs_manual_grading]
    late = [r for r in graded if r.late]
    parts = [f"<h1>{esc(name)}: grading report</h1>"]
    summary = [("submissions", len(results)), ("graded", len(graded)), ("invalid", len(invalid)),
               ("missing (not in the statistics)", len(missing)), ("late", len(late)),
               ("submission times from", ", ".join(f"{k}: {v}" for k, v in
                                                   sorted(Counter(_source(r) for r in results).items())) or "-"),
               ("max score", _num(max_score))]
    if waiting:
        n_answers = sum(sum(1 for t in r.tests if t.status == MANUAL and t.awaiting) for r in waiting)
        parts.append(f"<p><strong>{n_answers} answers await grading</strong> by hand ({len(waiting)} students): "
                     f"grade them in formgrader ({FORMGRADER_HINT}), then run "
                     "<code>cnn-course report</code> or <code>cnn-course grade</code> again to include the scores.</p>")
    if scores:
        summary += [("mean", fmt_stat(statistics.fmean(scores))), ("median", fmt_stat(statistics.median(scores))),
                    ("min", _num(min(scores))), ("max", _num(max(scores))),
                    ("full marks", sum(s >= max_score for s in scores) if max_score else 0)]
    parts.append("<table>" + "".join(f"<tr><th>{esc(k)}</th><td class=\"num\">{esc(v)}</td></tr>" for k, v in summary)
                 + "</table>")
    if png:
        b64 = base64.b64encode(png).decode("ascii")
        parts.append(f'<h2>Scores</h2><img alt="score histogram" src="data:image/png;base64,{b64}">'
                     f'<p class="muted">Also saved as score_histogram.png.</p>')
    stats = per_test_stats(results)
    if stats:
        statuses = [s for s in TEST_STATUSES if any(st["counts"][s] for st in stats)]
        head = "".join(f"<th>{esc(s)}</th>" for s in statuses)
        rows = "".join(
            f"<tr><td><code>{esc(s['name'])}</code></td><td>{esc(s['visibility'])}</td>"
            f"<td class=\"num\">{_num(s['max_points'])}</td><td class=\"num\">{_rate(s)}</td>"
            f"<td class=\"num\">{fmt_stat(s['mean_points'])}</td>"
            + "".join(f"<td class=\"num\">{s['counts'][st] or ''}</td>" for st in statuses) + "</tr>"
            for s in stats)
        parts.append("<h2>Tests</h2><p class=\"muted\">Pass rates among graded submissions; a low rate points at "
                     "a hard step or at a test to review.</p><table><tr><th>test</th><th>visibility</th><th>points</th>"
                     f"<th>pass rate</th><th>mean points</th>{head}</tr>{rows}</table>")

    def _dur(r):
        d = r.durations or {}
        return float(d.get("total_s", d.get("batch_wall_s", 0.0)) or 0.0)

    slow = sorted(graded, key=lambda r: (-_dur(r), r.student_id))[:10]
    if slow:
        rows = "".join(f"<tr><td>{esc(r.student_id)}</td><td class=\"num\">{_dur(r):.2f}</td>"
                       f"<td>{esc(', '.join(sorted({t.status for t in r.tests if t.status in _FAULTS})))}</td></tr>"
                       for r in slow)
        parts.append("<h2>Slowest submissions</h2><table><tr><th>student</th><th>seconds</th><th>faults</th></tr>"
                     + rows + "</table>")
    if missing:
        parts.append("<h2>Missing</h2><p class=\"muted\">On the roster, nothing submitted; left out of the "
                     "statistics above.</p><p>" + ", ".join(esc(r.student_id) for r in missing) + "</p>")
    if late:
        rows = "".join(f"<tr><td>{esc(r.student_id)}</td><td>{esc(r.submitted_at)}</td><td>{esc(_source(r))}</td>"
                       f"<td class=\"num\">{float(r.late_by_s) / 3600:.1f}</td>"
                       f"<td class=\"num\">{_num(r.late_penalty)}</td></tr>" for r in late)
        parts.append("<h2>Late submissions</h2><table><tr><th>student</th><th>submitted (UTC)</th><th>source</th>"
                     "<th>hours late</th><th>penalty</th></tr>" + rows + "</table>")
    if invalid:
        rows = "".join(f"<tr><td>{esc(r.student_id)}</td><td><pre>{esc(r.message)}</pre></td></tr>" for r in invalid)
        parts.append("<h2>Invalid submissions</h2><table><tr><th>student</th><th>why</th></tr>" + rows + "</table>")
    if off_roster:
        parts.append("<h2>Not on the roster</h2><p class=\"muted\">Handed in and graded, but not on the roster "
                     "(the one the last <code>grade --roster</code> was given; without one, the gradebook's students): "
                     "check the id, or add them to the roster.</p><p>"
                     + ", ".join(esc(s) for s in off_roster) + "</p>")
    common, own = _split_notes([r for r in all_results if r.status != MISSING])
    notes = list(notes) + [f"every submission: {c}" for c in common]
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    rows = "".join(
        f"<tr><td><a href=\"students/{quote(safe_dirname(r.student_id))}/feedback.html\">{esc(r.student_id)}</a></td>"
        f"<td class=\"num\">{_num(r.score)} / {_num(r.max_score)}</td><td>{badge(r.status)}</td>"
        f"<td>{esc(r.submitted_at or '-')}</td><td>{esc(_source(r))}</td>"
        f"<td>{esc(_cut(own.get(r.student_id, r.message), 400))}</td></tr>" for r in all_results)
    parts.append("<h2>Students</h2><p class=\"muted\">Submission times (UTC) come only from the instructor's "
                 "evidence: <code>--submitted-at</code>, nbgrader's timestamp.txt in its submitted/ folder, or the "
                 "entry dates of the LMS's zip; <code>none</code>: not checked for lateness.</p>"
                 "<table><tr><th>student</th><th>score</th><th>status</th><th>submitted</th><th>time source</th>"
                 "<th>note</th></tr>" + rows + "</table>")
    iso = sorted({r.isolation for r in graded if r.isolation})
    vers = sorted({r.grader_version for r in results if r.grader_version})
    parts.append(f"<p class=\"muted\">grader {esc(', '.join(vers) or '-')}; isolation: {esc('; '.join(iso) or '-')}</p>")
    return _page(f"{name} grading report", "\n".join(parts))
