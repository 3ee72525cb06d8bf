"""One roster reader (autograder/roster.py) for `grade --roster` and `export --roster`."""
import pytest

from autograder.roster import ROSTER_COLUMNS, RosterError, read_roster, roster_ids


def _csv(tmp_path, text, name="roster.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_headers_are_matched_loosely_and_every_row_has_every_column(tmp_path):
    rows = read_roster(_csv(tmp_path, "\ufeffStudent ID,Name,SIS Login ID,ID\nada, Ada L ,ada1,17\n,,,\nbob,Bob,,\n"))
    assert [set(r) for r in rows] == [set(ROSTER_COLUMNS)] * 2, "blank rows left out, missing columns empty"
    assert rows[0] == {"student_id": "ada", "name": "Ada L", "sis_user_id": "", "sis_login_id": "ada1",
                       "section": "", "canvas_id": "17"}
    assert roster_ids(rows) == ["ada", "bob"]


@pytest.mark.parametrize("header, expected", [
    ("student_id,login\n b ,x\na,y\na,z\n", ["a", "b"]),     # student_id first, each id once, sorted
    ("id,name\n7,Ann\n3,Ben\n", ["3", "7"]),                # only an id column: those ids (batch's rule)
    ("username,name\nann,Ann\n", ["ann"]),
    ("login\nben\n", ["ben"]),
])
def test_who_is_in_the_class(tmp_path, header, expected):
    assert roster_ids(read_roster(_csv(tmp_path, header))) == expected


@pytest.mark.parametrize("data, words", [
    (b"", "empty file"),
    (b"name,section\nAnn,1\n", "no id column"),
    (b"student_id\n\xff\xfe\n", "not UTF-8"),
])
def test_unreadable_rosters_say_why(tmp_path, data, words):
    p = tmp_path / "r.csv"
    p.write_bytes(data)
    with pytest.raises(RosterError, match=words):
        read_roster(p)
    with pytest.raises(RosterError, match="cannot be read"):
        read_roster(tmp_path / "absent.csv")


def test_grade_and_export_read_the_roster_the_same_way():
    """Before: batch.read_roster (ids) and export.read_roster (rows) parsed the file twice, differently."""
    from autograder import batch, cli, export

    assert not hasattr(batch, "read_roster")
    assert export.read_roster is read_roster and cli.roster_ids is roster_ids
