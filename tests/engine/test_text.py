"""autograder/text.py: one function per idea about text a submission influences."""
from autograder import text as T


def test_safe_text_bounds_and_cleans_no_surrogates_only_cleans():
    hostile = "a\ud800b\x00" + "x" * 50
    assert T.safe_text(hostile, 10).startswith("a?bxxxxxxx") and "[... cut" in T.safe_text(hostile, 10)
    assert "\x00" not in T.safe_text(hostile, 100)
    assert T.no_surrogates(hostile) == "a\ufffdb\x00" + "x" * 50          # nothing cut, NUL kept
    assert T.no_surrogates("plain") == "plain"


def test_first_line_names_a_cell_as_jupyter_shows_it():
    assert T.first_line("\n\n   def relu(x):  \n    return x\n") == "def relu(x):"
    assert T.first_line("") == "" and T.first_line(None) == "" and len(T.first_line("y" * 100)) == 60


def test_cells_a_spreadsheet_would_run_are_text():
    assert [T.safe_cell(v) for v in ("=1+1", "-2", "@x", "ok", 2.5, None, True)] == \
        ["'=1+1", "'-2", "'@x", "ok", "2.5", "", "true"]
    assert T.visible("\x1b[2J") == "\\x1b[2J" and T.esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
