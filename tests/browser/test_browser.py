"""The instructor's pages as a browser shows them (Playwright driving Debian's Chromium).

One tiny course (tests/browser/browser_course.py: the toy assignment plus a written answer; ada
correct, bob half wrong, eve hostile), released and graded by ``cnn-course grade`` once for the
module, then:

* report.html and feedback.html, opened from disk: self-contained (no request leaves the file),
  no script error, the histogram decodes, every student link opens that student's feedback,
  public test code unfolds on a click, hidden test code is never there, and nothing a student
  wrote (HTML in an answer or in an error message) runs;
* formgrader, in a Jupyter server started on a free local port: open ada's submission from the
  assignment's list, score the written answer and comment on it, and find both in the gradebook
  (and in grades.csv after ``cnn-course report``).

Without Chromium (``/usr/bin/chromium``) or the ``playwright`` package the module is skipped
with one line saying how to install them; ``playwright install`` is never needed.
"""
from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
HOW = ("browser tests skipped: no Chromium at /usr/bin/chromium or no playwright package; install them with "
       "`apt-get install -y chromium` (Debian) and `pip install -c requirements.lock playwright`")
try:
    from playwright.sync_api import sync_playwright
except ImportError:                                   # pragma: no cover - depends on the machine
    pytest.skip(HOW, allow_module_level=True)
if not CHROMIUM.is_file():                            # pragma: no cover
    pytest.skip(HOW, allow_module_level=True)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_course as C  # noqa: E402

pytestmark = pytest.mark.xdist_group(name="browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
TOY = C.TOY_NAME


@pytest.fixture(scope="module")
def course(shared_dir) -> Path:
    """The graded course, built once per test session (xdist workers share it): read only."""
    return shared_dir("browser_course", C.build)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Page:
    """A fresh page that refuses every request leaving ``allowed`` (recorded in ``outside``) and
    records script errors."""

    def __init__(self, browser, allowed=("file:", "data:"), stubs=None):
        self.context = browser.new_context()
        self.outside: list[str] = []
        self.errors: list[str] = []

        def route(r):
            if r.request.url.startswith(allowed):
                r.continue_()
            elif any(key in r.request.url for key in (stubs or {})):
                r.fulfill(status=200, content_type="text/javascript",
                          body=next(v for k, v in stubs.items() if k in r.request.url))
            else:
                self.outside.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("dialog", lambda d: (self.errors.append(f"dialog: {d.message}"), d.dismiss()))

    def pwned(self):
        return self.page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")


@pytest.fixture()
def page(browser):
    p = Page(browser)
    yield p
    p.context.close()


# ---------------------------------------------------------------- report.html and feedback.html


def test_report_page(course, page):
    report = course / "out" / "report.html"
    page.page.goto(report.as_uri())
    pg = page.page
    assert pg.title() == f"{TOY} grading report"
    width = pg.eval_on_selector('img[alt="score histogram"]', "img => img.complete ? img.naturalWidth : 0")
    assert width > 100, "the histogram image does not decode"
    row = pg.locator("tr", has_text="test_scale_public")
    assert row.count() == 1 and "33%" in row.inner_text()          # ada passes, bob and eve fail
    written = pg.locator("tr", has_text="written_why_slide").inner_text()
    assert "not graded yet" in written
    body = pg.inner_text("body")
    assert "secret_factor_hidden" not in body and C.MODEL_ANSWER not in body
    # every student's link opens their own feedback page
    for student in ("ada", "bob", "eve"):
        pg.goto(report.as_uri())
        pg.get_by_role("link", name=student, exact=True).click()
        pg.wait_for_load_state()
        assert pg.url.endswith(f"students/{student}/feedback.html") and pg.title() == f"{TOY} feedback: {student}"
    assert page.outside == [] and page.errors == [] and page.pwned() is None


def test_feedback_pages(course, page):
    pg = page.page
    pg.goto((course / "out" / "students" / "bob" / "feedback.html").as_uri())
    assert "3 / 8 points" in pg.inner_text("body")
    failed = pg.locator("tr", has_text="test_scale_public")
    assert "got 1, expected 2" in failed.inner_text()                  # a public failure teaches
    code = failed.locator("details")
    assert not code.locator("pre, code").first.is_visible()            # folded until asked for
    code.locator("summary").click()
    assert "scale(" in code.inner_text() and code.locator("pre, code").first.is_visible()
    hidden = pg.locator("tr", has_text="test_scale_hidden")
    assert hidden.locator("details").count() == 0                     # hidden code is never shown
    assert "which is not right" in hidden.inner_text()
    assert "secret_factor_hidden" not in pg.content() and C.MODEL_ANSWER not in pg.content()
    # eve's answer and error message are HTML: shown as text, never run
    pg.goto((course / "out" / "students" / "eve" / "feedback.html").as_uri())
    assert 'onerror="window.__pwned = 3"' in pg.inner_text("body")
    assert pg.locator("img").count() == 0
    assert page.outside == [] and page.errors == [] and page.pwned() is None


# ---------------------------------------------------------------- formgrader


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def own_course(course, tmp_path_factory) -> Path:
    """A copy of the course that formgrader and ``cnn-course report`` may write to (its
    nbgrader_config.py finds the course root from where it lies)."""
    folder = tmp_path_factory.mktemp("formgrader") / "course"
    shutil.copytree(course, folder, ignore=shutil.ignore_patterns(".done"))
    return folder


@pytest.fixture(scope="module")
def formgrader(own_course):
    """A Jupyter server with nbgrader's formgrader, in the course folder, on a free local port."""
    course = own_course
    port = _free_port()
    runtime = course / "build" / "jupyter-runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime))
    log = open(course / "build" / "jupyter-server.log", "w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyter"), "server", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--IdentityProvider.token=",
         "--ServerApp.password=", "--ServerApp.allow_root=True",
         "--ServerApp.jpserver_extensions={'jupyterlab': False, 'notebook': False, 'jupyter_lsp': False}"],
        cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/formgrader/api/assignments", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("the Jupyter server did not start: "
                            + (course / "build" / "jupyter-server.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# Any property of it is another stub, any call returns it: MathJax.Hub.Startup.signal.Interest(...)
MATHJAX_STUB = """(function () {
  function stub() {
    var f = function () { return p; };
    var p = new Proxy(f, {get: function (t, k) { if (k === "then") return undefined;
                                                 if (!(k in t)) t[k] = stub(); return t[k]; }});
    return p;
  }
  window.MathJax = stub();
})();"""


# formgrader's page is ready for input once its grades and comments are loaded (formgrade.js)
READY = "() => window.formgrader && formgrader.loaded && formgrader.grades.loaded && formgrader.comments.loaded"


def test_formgrader_scores_a_written_answer_into_the_gradebook(own_course, formgrader, browser):
    from nbgrader.api import Gradebook

    course = own_course
    with Gradebook(f"sqlite:///{course}/build/gradebook.db") as gb:
        sid = {s: gb.find_submission_notebook(TOY, TOY, s).id for s in ("ada", "eve")}
    # Formgrader's page loads MathJax from a CDN, and its script stops where MathJax is missing
    # (nothing is saved): the test answers with a do-nothing MathJax; any other outside request
    # is refused.
    local = Page(browser, allowed=(formgrader,), stubs={"/mathjax/": MATHJAX_STUB})
    pg = local.page
    try:
        pg.goto(f"{formgrader}/formgrader/gradebook/{TOY}/{TOY}")
        pg.locator(f'a.name-hidden[href*="/formgrader/submissions/{sid["ada"]}"]').click()   # its row in the list
        pg.wait_for_function(READY)
        assert C.STUDENT_ANSWERS["ada"] in pg.inner_text("body")
        assert local.errors == [], local.errors
        with pg.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
            pg.fill("#written_why_slide", "1.5")
            pg.locator("#written_why_slide").blur()
        assert saved.value.ok
        with pg.expect_response(lambda r: "/formgrader/api/comment/" in r.url and r.request.method == "PUT") as saved:
            pg.fill("#written_why_slide-comment", "Right idea: say *weight sharing*.")
            pg.locator("#written_why_slide-comment").blur()
        assert saved.value.ok
        # eve's submission: her HTML answer shows as text in the grader's page, nothing runs
        pg.goto(f"{formgrader}/formgrader/gradebook/{TOY}/{TOY}")
        pg.locator(f'a.name-hidden[href*="/formgrader/submissions/{sid["eve"]}"]').click()   # its row in the list
        pg.wait_for_function(READY)
        assert local.pwned() is None and not [e for e in local.errors if "pwned" in e]
    finally:
        local.context.close()

    with Gradebook(f"sqlite:///{course}/build/gradebook.db") as gb:
        grade = gb.find_grade("written_why_slide", TOY, TOY, "ada")
        comment = gb.find_comment("written_why_slide", TOY, TOY, "ada")
        assert grade.manual_score == 1.5 and comment.manual_comment == "Right idea: say *weight sharing*."
        assert gb.find_grade("written_why_slide", TOY, TOY, "bob").manual_score is None
    # and cnn-course reads it back: ada 6 autograded + 1.5 by hand
    C._run(["report", TOY, "--out", str(course / "out")], course)
    rows = {r["student_id"]: r for r in csv.DictReader((course / "out" / "grades.csv").open())}
    assert (rows["ada"]["manual_score"], rows["ada"]["score"]) == ("1.5", "7.5"), rows["ada"]
