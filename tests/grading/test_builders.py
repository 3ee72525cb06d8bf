"""Every committed instructor notebook is exactly what its builder writes.

An exercise written as Python (``solutions/<ps>/build_notebook.py`` on
``autograder.authoring.NotebookSource``) must be regenerated after each edit: ``make release``
does it. An exercise edited in Jupyter instead has no builder (delete it): then the notebook
itself is the source and this test skips it. The toy fixture and the sample toy use the same
builder dialect.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILDERS = sorted(ROOT.glob("solutions/*/build_notebook.py"))


@pytest.mark.parametrize("builder", BUILDERS, ids=[b.parent.name for b in BUILDERS])
def test_committed_source_is_what_its_builder_writes(builder, tmp_path):
    name = builder.parent.name
    out = tmp_path / f"{name}.ipynb"
    subprocess.run([sys.executable, str(builder), str(out)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    committed = builder.parent / f"{name}.ipynb"
    assert out.read_bytes() == committed.read_bytes(), (
        f"{committed.relative_to(ROOT)} differs from what {builder.relative_to(ROOT)} writes: run `make release` "
        "(or delete the builder if you now edit the notebook in Jupyter)")


@pytest.mark.parametrize("builder", BUILDERS, ids=[b.parent.name for b in BUILDERS])
def test_every_cell_has_an_explicit_stable_id(builder):
    nb = nbformat.read(str(builder.parent / f"{builder.parent.name}.ipynb"), as_version=4)
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        assert gid is None or gid == c.id, (c.id, gid)
        assert not re.fullmatch(r"[a-z]+-\d+", c.id), f"{c.id}: a position-based id (inserting a cell renames it)"


def test_toy_fixture_is_what_make_toy_writes():
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    import make_toy
    assert nbformat.writes(make_toy.build()) + "\n" == (ROOT / "tests" / "fixtures" / "toy" / "toy.ipynb").read_text()


def test_builder_refuses_duplicate_or_mismatched_ids():
    from autograder.authoring import NotebookSource, nbgrader_meta
    nb = NotebookSource()
    nb.md("intro", "hi")
    with pytest.raises(ValueError, match="already used"):
        nb.md("intro", "again")
    with pytest.raises(ValueError, match="differs"):
        nb.code("a", "x = 1", nbgrader_meta("b"))
