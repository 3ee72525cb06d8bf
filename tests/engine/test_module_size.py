"""Size as a symptom: no module of ``autograder/`` grows past 700 lines. A module that long
holds more than one job; split it where the jobs are (docs/design.md names each module's)."""
from pathlib import Path

LIMIT = 700
PKG = Path(__file__).resolve().parents[2] / "autograder"


def test_no_module_is_over_700_lines():
    sizes = {str(f.relative_to(PKG.parent)): len(f.read_text().splitlines()) for f in sorted(PKG.rglob("*.py"))}
    assert len(sizes) > 30, f"autograder/ should hold the package's modules, found {len(sizes)}"
    over = {f: n for f, n in sizes.items() if n > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them where their jobs are): {over}"
