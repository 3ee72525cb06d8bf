"""docs/design.md is the map of the code: every module and every ``cnn-course`` command is on it.

The lists are read at run time (the files under ``autograder/``, the subcommands of the real
argparse parser), so a new module or command fails here until design.md names it.
"""
import argparse
import re
from pathlib import Path

from autograder.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "docs" / "design.md"


def modules() -> list[str]:
    return sorted(str(f.relative_to(ROOT)) for f in (ROOT / "autograder").rglob("*.py"))


def commands() -> list[str]:
    parser = build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subs) == 1, "cnn-course has one level of subcommands"
    return sorted(subs[0].choices)


def test_the_lists_are_read():
    """Known entries are present, so empty lists cannot pass the tests below vacuously."""
    assert {"autograder/engine.py", "autograder/tools/checks.py", "autograder/__init__.py"} <= set(modules())
    assert {"release", "check", "grade", "report", "demo", "export"} <= set(commands())


def test_every_module_is_in_design_md():
    text = DESIGN.read_text()
    missing = [m for m in modules() if f"`{m}`" not in text]
    assert not missing, ("docs/design.md does not name these modules (add one line each saying its one "
                         "job, under 'Grading engine'): " + ", ".join(missing))


def test_every_command_is_in_design_md():
    text = DESIGN.read_text()
    missing = [c for c in commands() if not re.search(rf"`cnn-course {re.escape(c)}[` ]", text)]
    assert not missing, ("docs/design.md does not describe these cnn-course commands: " + ", ".join(missing))


def test_design_md_names_no_module_that_is_gone():
    text = DESIGN.read_text()
    named = set(re.findall(r"`(autograder/[\w/]+\.py)`", text))
    gone = sorted(named - set(modules()))
    assert not gone, "docs/design.md names modules that do not exist: " + ", ".join(gone)
