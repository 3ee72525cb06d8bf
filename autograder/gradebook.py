"""The nbgrader adapter: configuration, the gradebook, and the one compatibility patch.

Everything cnn-course asks of nbgrader goes through here (release, grade, export and the
``report`` command depend on this module; it depends on none of them):

- :func:`nbgrader_config`: the course's ``nbgrader_config.py`` (the caller's
  :class:`autograder.course.Course` names it) with the folders the caller needs;
- :func:`record_cells`: every source, solution, grade and task cell of a source notebook,
  recorded by ``release`` *and* by ``grade``, so the commands work in any order on a fresh
  gradebook (``nbgrader autograde``, ``generate_feedback`` and formgrader need these rows);
- :func:`record_results`: each student's autograded points as the ``auto_score`` of the
  matching grade cell, grade rows awaiting hand grading for written answers, the submission
  time and the late penalty; manual scores entered in formgrader are never overwritten;
- :func:`manual_scores`: the scores and comments entered by hand, read back by ``grade``,
  ``report`` and ``export`` so there is one final score everywhere and each comment reaches
  the feedback; written answers left as released score 0 (``auto_score``), as nbgrader's
  autograde does;
- :func:`duedate`, :func:`set_duedate`: the assignment's due date (formgrader's "Due Date"),
  stored by ``grade --due`` and reused by later runs;
- :func:`use_in_process_alembic_head`: the compatibility patch (see its docstring).
"""
from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

from autograder.cells import nbgrader_of
from autograder.results import MISSING, SubmissionResult
from autograder.text import esc, fmt_num

from autograder.course import COURSE_ID  # noqa: E402


# ---------------------------------------------------------------- configuration


def nbgrader_config(course_root: Path, source: str, release: str, db_url: str, *, config_file: Path | None):
    """nbgrader's config: the course's ``nbgrader_config.py`` (``config_file``, the caller's
    ``Course.config_file``; None: none is read) with the folders pointed at ``course_root``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.cells import BEGIN_HIDDEN, CODE_STUB, END_HIDDEN, TEXT_STUB

    cfg = Config()
    if config_file is not None and Path(config_file).is_file():
        cfg.merge(PyFileConfigLoader(Path(config_file).name, path=str(Path(config_file).parent)).load_config())
    cfg.CourseDirectory.root = str(course_root)
    cfg.CourseDirectory.source_directory = source
    cfg.CourseDirectory.release_directory = release
    cfg.CourseDirectory.db_url = db_url
    cfg.CourseDirectory.course_id = cfg.CourseDirectory.get("course_id", COURSE_ID) or COURSE_ID
    cfg.ClearSolutions.code_stub = {"python": CODE_STUB}
    cfg.ClearSolutions.text_stub = TEXT_STUB
    cfg.ClearHiddenTests.begin_test_delimeter = BEGIN_HIDDEN
    cfg.ClearHiddenTests.end_test_delimeter = END_HIDDEN
    cfg.GenerateAssignment.force = True
    cfg.GenerateAssignment.create_assignment = True
    cfg.Exchange.root = str(course_root / "exchange")
    return cfg


def use_in_process_alembic_head() -> None:
    """Compatibility patch: make nbgrader's gradebook open from any shell, and fast.

    Why: opening a gradebook makes nbgrader run the ``alembic`` *script* (``alembic heads``)
    in a subprocess to learn its schema's migration head. That fails when the venv's
    ``bin/`` is not on PATH (a cron job, an IDE) and costs ~1 s per gradebook opened. We put
    this Python's ``bin/`` on PATH, and answer the question in-process from nbgrader's own
    migration scripts (the head of the installed nbgrader does not change), once per process.
    """
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in parts if p])
    import nbgrader.api as nbapi

    if getattr(nbapi.get_alembic_version, "_cnn_course", False):
        return
    original = nbapi.get_alembic_version
    cache: list[str] = []

    def get_alembic_version() -> str:
        if not cache:
            try:
                from alembic.script import ScriptDirectory

                head = ScriptDirectory(str(Path(nbapi.__file__).parent / "alembic")).get_current_head()
            except Exception:  # an unexpected alembic layout: nbgrader's own way
                head = None
            cache.append(head or original())
        return cache[0]

    get_alembic_version._cnn_course = True
    nbapi.get_alembic_version = get_alembic_version


def open_gradebook(db_url: str, course_id: str = COURSE_ID):
    """nbgrader's ``Gradebook`` (patched, the sqlite folder created)."""
    from nbgrader.api import Gradebook

    use_in_process_alembic_head()
    if db_url.startswith("sqlite:///"):
        Path(db_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return Gradebook(db_url, course_id)


# ---------------------------------------------------------------- cells


def record_cells(db_url: str, assignment: str, notebook: str, nb, *, course_id: str = COURSE_ID) -> int:
    """Record every nbgrader cell of the source notebook ``nb`` (an nbformat notebook) in the
    gradebook: source cells, solution cells, grade cells (tests and answers graded by hand)
    and task cells; give existing submissions the grade and comment rows of cells added since.
    Returns the number of cells recorded."""
    from nbgrader.api import Comment, Grade
    from nbgrader.utils import compute_checksum

    count = 0
    with open_gradebook(db_url, course_id) as gb:
        gb.update_or_create_assignment(assignment)
        gb.update_or_create_notebook(notebook, assignment)
        for cell in nb.cells:
            meta = nbgrader_of(cell)
            gid = meta.get("grade_id")
            if not isinstance(gid, str) or not gid:
                continue
            count += 1
            try:
                checksum = compute_checksum(cell)
            except Exception:  # noqa: BLE001 - a cell nbgrader cannot checksum still gets its rows
                checksum = None
            gb.update_or_create_source_cell(gid, notebook, assignment, cell_type=cell.cell_type,
                                            locked=bool(meta.get("locked")), source=cell.source, checksum=checksum)
            if meta.get("task"):
                gb.update_or_create_task_cell(gid, notebook, assignment, max_score=float(meta.get("points", 0) or 0),
                                              cell_type="markdown")
            elif meta.get("grade"):
                gb.update_or_create_grade_cell(gid, notebook, assignment, max_score=float(meta.get("points", 0) or 0),
                                               cell_type=cell.cell_type)
            if meta.get("solution"):
                gb.update_or_create_solution_cell(gid, notebook, assignment)
        nbrow = gb.find_notebook(notebook, assignment)
        for snb in nbrow.submissions:
            have_g = {g.cell_id for g in snb.grades}
            have_c = {c.cell_id for c in snb.comments}
            for cell in list(nbrow.grade_cells) + list(nbrow.task_cells):
                if cell.id not in have_g:
                    gb.db.add(Grade(cell_id=cell.id, notebook=snb))
            for cell in list(nbrow.solution_cells) + list(nbrow.task_cells):
                if cell.id not in have_c:
                    gb.db.add(Comment(cell_id=cell.id, notebook=snb))
        gb.db.commit()
    return count


def sync_grade_cells(db_url: str, assignment: str, notebook: str, cells: list[tuple[str, float]], *,
                     course_id: str = COURSE_ID, retire_missing: bool = True) -> list[str]:
    """Make the gradebook's grade cells of ``assignment`` match ``cells`` (``(grade_id, points)``)
    even when submissions exist (nbgrader itself refuses then): new cells are added, points
    updated, and (``retire_missing``: ``cells`` lists every grade cell of the source notebook,
    manually graded ones included) cells that no longer exist get ``max_score`` 0 and every
    grade 0 (nbgrader cannot delete a cell with grades), so totals and ``nbgrader export``
    stay right."""
    from nbgrader.api import MissingEntry

    notes = []
    wanted = dict(cells)
    with open_gradebook(db_url, course_id) as gb:
        gb.update_or_create_assignment(assignment)
        gb.update_or_create_notebook(notebook, assignment)
        for gid, points in cells:
            try:
                cell = gb.find_grade_cell(gid, notebook, assignment)
                if float(cell.max_score) != float(points):
                    cell.max_score = float(points)
                    notes.append(f"grade cell {gid}: max score now {fmt_num(points)}")
            except MissingEntry:
                gb.update_or_create_grade_cell(gid, notebook, assignment, max_score=float(points), cell_type="code")
                notes.append(f"grade cell {gid} added ({fmt_num(points)} points)")
        for cell in gb.find_notebook(notebook, assignment).grade_cells if retire_missing else []:
            if cell.name not in wanted and float(cell.max_score) != 0.0:
                cell.max_score = 0.0
                for g in cell.grades:
                    g.auto_score = 0.0
                    g.manual_score = None
                notes.append(f"grade cell {cell.name} no longer exists: it now counts 0 points")
        gb.db.commit()
    if notes:
        notes.append("re-run `cnn-course grade` to update the scores")
    return notes


def _notebook_name(assignment) -> str:
    return Path(getattr(assignment, "notebook_name", None) or f"{assignment.name}.ipynb").stem


def _ensure_cells(db_url: str, assignment, course_id: str) -> list[str]:
    """The assignment's cells, from its source notebook when there is one, else from its tests."""
    notebook = _notebook_name(assignment)
    path = getattr(assignment, "path", None)
    if path is not None and Path(path).is_file() and not getattr(assignment, "released", False):
        import nbformat

        record_cells(db_url, assignment.name, notebook, nbformat.read(str(path), as_version=4), course_id=course_id)
        return []
    cells = [(t.grade_id, float(t.points)) for t in assignment.tests]
    cells += [(m.grade_id, float(m.points)) for m in getattr(assignment, "manual", [])]
    return [n for n in sync_grade_cells(db_url, assignment.name, notebook, cells, course_id=course_id,
                                        retire_missing=False) if not n.startswith("re-run")]


# ---------------------------------------------------------------- results


def _utc_naive(iso: str):
    if not iso:
        return None
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(timezone.utc).replace(tzinfo=None)
    return when


def record_results(assignment, results: list[SubmissionResult], db_url: str, *, course_id: str = COURSE_ID) -> list[str]:
    """Record ``results`` in the gradebook (see the module docstring); return notes.

    Grade cells are matched by ``grade_id``; an invalid submission scores 0 on every cell; a
    missing one gets no submission row (nbgrader export shows 0); manual scores are kept.
    """
    from nbgrader.api import Grade, MissingEntry

    notebook = _notebook_name(assignment)
    notes = _ensure_cells(db_url, assignment, course_id)
    auto_ids = {t.grade_id for t in assignment.tests}
    manual_ids = {m.grade_id for m in getattr(assignment, "manual", [])}
    with open_gradebook(db_url, course_id) as gb:
        nbrow = gb.find_notebook(notebook, assignment.name)
        cells = {c.name: c for c in nbrow.grade_cells}
        for r in results:
            gb.update_or_create_student(r.student_id)
            if r.status == MISSING:
                continue
            try:
                sub = gb.find_submission(assignment.name, r.student_id)
            except MissingEntry:
                with gb.db.no_autoflush:
                    sub = gb.add_submission(assignment.name, r.student_id)
            # The submission time only from the instructor's evidence (autograder.lateness.TIME_SOURCES);
            # without any, none: nbgrader's own late plugins then see no lateness either.
            sub.timestamp = _utc_naive(r.submitted_at) if r.submitted_at_source != "none" else None
            snb = next((n for n in sub.notebooks if n.name == notebook), None)
            if snb is None:  # the notebook was added to the assignment after this submission
                from nbgrader.api import SubmittedNotebook

                snb = SubmittedNotebook(assignment=sub, notebook=nbrow)
                gb.db.add(snb)
            snb.late_submission_penalty = float(r.late_penalty or 0.0)
            grades = {g.name: g for g in snb.grades}
            blank = set(r.blank_answers or [])
            points = {t.name: float(t.points) for t in r.tests if t.name in auto_ids}
            for name, cell in cells.items():
                g = grades.get(name)
                if g is None:  # a grade cell added after this submission was first recorded
                    g = Grade(cell_id=cell.id, notebook=snb)
                    gb.db.add(g)
                if name in auto_ids:
                    g.auto_score = points.get(name, 0.0)
                    g.needs_manual_grade = False
                elif name in manual_ids:                  # an answer graded by hand: never overwritten
                    if name in blank:                     # left as released: 0, as nbgrader's autograde
                        g.auto_score = 0.0
                        g.needs_manual_grade = False
                    else:
                        g.auto_score = None
                        g.needs_manual_grade = g.manual_score is None
        gb.db.commit()
    return notes


def manual_scores(db_url: str | None, assignment: str, notebook: str | None = None, *,
                  course_id: str = COURSE_ID) -> dict[str, dict]:
    """``{student_id: {"manual": {grade_id: points}, "comments": {grade_id: text},
    "late_penalty": float}}``: every score and comment entered by hand (formgrader, or
    nbgrader's API) for ``assignment`` and the late penalty the gradebook holds; ``{}`` when
    there is no gradebook (none is created)."""
    if not db_url or (db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file()):
        return {}
    from nbgrader.api import MissingEntry

    out: dict[str, dict] = {}
    with open_gradebook(db_url, course_id) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return {}
        for sub in a.submissions:
            entry = out.setdefault(sub.student_id, {"manual": {}, "comments": {}, "late_penalty": 0.0})
            for snb in sub.notebooks:
                if notebook and snb.name != notebook:
                    continue
                entry["late_penalty"] += float(snb.late_submission_penalty or 0.0)
                for g in snb.grades:
                    if g.manual_score is not None:
                        entry["manual"][g.name] = float(g.manual_score)
                for c in snb.comments:
                    text = c.manual_comment
                    if isinstance(text, str) and text.strip():
                        entry["comments"][c.name] = text[:4_000]
    return out


def roster(db_url: str | None, *, course_id: str = COURSE_ID) -> list[str]:
    """The gradebook's student ids (``[]`` when there is no gradebook)."""
    if not db_url or (db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file()):
        return []
    with open_gradebook(db_url, course_id) as gb:
        return sorted(s.id for s in gb.students)


def duedate(db_url: str | None, assignment: str, *, course_id: str = COURSE_ID) -> datetime | None:
    """nbgrader's due date of ``assignment`` (timezone-aware UTC), or None."""
    if not db_url or (db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).is_file()):
        return None
    from nbgrader.api import MissingEntry

    with open_gradebook(db_url, course_id) as gb:
        try:
            due = gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None
    return due.replace(tzinfo=timezone.utc) if due is not None else None


def set_duedate(db_url: str, assignment: str, due: datetime | None, *, course_id: str = COURSE_ID) -> None:
    """Store ``due`` (aware, or None) as nbgrader's ``Assignment.duedate`` (naive UTC), so
    formgrader shows it and later runs reuse it."""
    naive = due.astimezone(timezone.utc).replace(tzinfo=None) if due is not None else None
    with open_gradebook(db_url, course_id) as gb:
        gb.update_or_create_assignment(assignment, duedate=naive)


# ---------------------------------------------------------------- the autograded notebook (formgrader)
#
# formgrader and `nbgrader generate_feedback` render the autograded notebook on the Jupyter
# server's origin, in the instructor's session; their templates render markdown without
# nbconvert's sanitizer (HTMLExporter.sanitize_html only reaches outputs). So nothing of the
# submission may reach that notebook as live HTML: outputs, execution counts, attachments and
# metadata are cleared (as nbgrader's own ClearOutput and ClearMetadata do), raw cells are
# escaped, and every markdown cell the student could have written is made inert.

_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
# MathJax commands that make links, classes, styles or load code (`$\href{javascript:...}{x}$`).
_MATH_COMMANDS = re.compile(r"\\(?=(?:href|url|class|cssId|style|unicode|require|data|html|mmlToken)\b)", re.I)
_SAFE_TAGS = {"p", "a", "img", "em", "strong", "b", "i", "code", "pre", "ul", "ol", "li", "blockquote", "hr", "br",
              "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "del", "s", "span",
              "div", "sup", "sub", "dl", "dt", "dd"}
_SAFE_ATTRS = {"href", "src", "alt", "title", "id", "class", "align", "start", "style"}
_SAFE_SCHEMES = {"http", "https", "mailto"}


def _url_is_safe(tag: str, value: str) -> bool:
    v = "".join(ch for ch in value if ch > " " and ch != "\x7f").lower()
    m = re.match(r"([a-z][a-z0-9+.-]*):", v)
    if m is None:
        return True                          # relative: a page of the same server, no script
    if m.group(1) in _SAFE_SCHEMES:
        return True
    return tag == "img" and re.match(r"data:image/(png|jpeg|gif|webp)[;,]", v) is not None


def html_is_inert(page: str) -> bool:
    """Whether the HTML fragment ``page`` (what markdown2html made of a cell) has only plain
    tags and attributes: no script, event handler, frame, form, style sheet or script URL."""
    from html.parser import HTMLParser

    ok = [True]

    class Check(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in _SAFE_TAGS:
                ok[0] = False
            for name, value in attrs:
                value = value or ""
                if name not in _SAFE_ATTRS:
                    ok[0] = False
                elif name in ("href", "src") and not _url_is_safe(tag, value):
                    ok[0] = False
                elif name == "style" and not re.fullmatch(r"text-align:\s*(left|right|center);?", value.strip()):
                    ok[0] = False

        handle_startendtag = handle_starttag

        def handle_pi(self, data):
            ok[0] = False

        def handle_decl(self, decl):
            ok[0] = False

        def unknown_decl(self, data):
            ok[0] = False

    parser = Check(convert_charrefs=True)
    parser.feed(page)
    parser.close()
    return ok[0]


def _render_markdown(text: str, attachments: dict) -> str | None:
    """What nbconvert's HTMLExporter (formgrader's, generate_feedback's) makes of a markdown cell."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    try:
        return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments)).render(text)
    except Exception:  # noqa: BLE001 - e.g. a missing attachment: nbconvert would fail on the page
        return None


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
MAX_ATTACHMENT_CHARS = 8 * 2**20


def safe_attachments(value) -> dict:
    """The pasted images of a markdown cell that can be shown safely: PNG, JPEG or GIF as base64
    (nbconvert writes them into an ``<img src="data:...">``), at most 8 MiB in all; nothing else."""
    out, total = {}, 0
    if not isinstance(value, dict):
        return out
    for name, bundle in list(value.items())[:50]:
        if not isinstance(name, str) or not _CELL_ID.fullmatch(name.replace(".", "_")) or not isinstance(bundle, dict):
            continue
        kept = {}
        for mime in _IMAGE_TYPES:
            data = bundle.get(mime)
            if isinstance(data, list):
                data = "".join(x for x in data if isinstance(x, str))
            if isinstance(data, str) and total + len(data) <= MAX_ATTACHMENT_CHARS and _BASE64.fullmatch(data):
                kept[mime] = data
                total += len(data)
                break
        if kept:
            out[name] = kept
    return out


def inert_markdown(text: str, attachments: dict | None = None) -> str:
    """A markdown cell's text that renders to inert HTML (see :func:`html_is_inert`): raw HTML
    shown as text (every ``<`` that could open a tag is followed by a zero-width space, so
    neither markdown nor a browser reads a tag, and ``x<y`` in code still reads ``x<y``),
    MathJax's link and style commands broken (``\\ href``); when the rendered cell still has
    anything else (a ``javascript:`` link), the whole text is shown as a code block."""
    attachments = attachments or {}
    text = _MATH_COMMANDS.sub(r"\\ ", text)
    inert = _TAG_START.sub("<\u200b", text)
    page = _render_markdown(inert, attachments)
    if page is not None and html_is_inert(page):
        return inert
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    shown = f"(shown as text: this answer held links or HTML that cannot be shown safely)\n\n{fence}text\n{text}\n{fence}\n"
    page = _render_markdown(shown, {})
    return shown if page is not None and html_is_inert(page) else "(this answer could not be shown safely)"


def clean_submitted_notebook(nb, source_nb):
    """Make the student's notebook ``nb`` safe to render in formgrader, in place (see above):
    ``source_nb`` is the instructor's source notebook; a cell of ``nb`` whose ``nbgrader``
    metadata names one of its cells gets that cell's metadata, other ``nbgrader`` metadata is
    dropped, and markdown cells identical to one of the instructor's are kept as they are."""
    import nbformat

    src_meta = {nbgrader_of(c).get("grade_id"): nbgrader_of(c) for c in source_nb.cells
                if nbgrader_of(c).get("grade_id")}
    trusted_md = {c.source for c in source_nb.cells if c.cell_type == "markdown"}
    nb.metadata = nbformat.from_dict({k: source_nb.metadata[k] for k in ("kernelspec", "language_info")
                                      if k in source_nb.metadata})
    for i, cell in enumerate(nb.cells):
        gid = nbgrader_of(cell).get("grade_id")
        meta = {}
        if isinstance(gid, str) and gid in src_meta:
            meta["nbgrader"] = src_meta[gid]
        tags = cell.metadata.get("tags")
        if isinstance(tags, list) and all(isinstance(t, str) and _CELL_ID.fullmatch(t) for t in tags[:50]):
            meta["tags"] = tags[:50]
        cell.metadata = nbformat.from_dict(meta)
        images = safe_attachments(cell.pop("attachments", None)) if cell.cell_type == "markdown" else {}
        if images:
            cell.attachments = nbformat.from_dict(images)
        if "id" in cell and not (isinstance(cell.id, str) and _CELL_ID.fullmatch(cell.id)):
            cell.id = f"cell-{i}"
        if not isinstance(cell.source, str):
            cell.source = "".join(cell.source) if isinstance(cell.source, list) else str(cell.source)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            if cell.source not in trusted_md or images:
                cell.source = inert_markdown(cell.source, images)
        else:                                     # raw (rendered verbatim as HTML) or unknown
            cell.cell_type = "raw"
            cell.source = esc(cell.source)
    return nb
