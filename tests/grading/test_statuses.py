"""Statuses are one closed set each (results.Outcome, SubmissionStatus, Visibility), plain JSON
strings in results.json; the store's parser refuses anything else."""
import json

import pytest

from autograder.results import (CRASH, ERROR, PASSED, SUBMISSION_STATUSES, TEST_STATUSES, Outcome, SubmissionResult,
                                SubmissionStatus, Visibility)
from autograder.results import TestResult as TR
from autograder.store import parse_result


def _result(**kw):
    r = SubmissionResult("ada", "toy", kw.pop("status", "graded"), 1.0, 2.0,
                         tests=[TR("t1", 1.0, 1.0, PASSED, "", "hidden"), TR("t2", 0.0, 1.0, ERROR, "x")])
    return json.loads(json.dumps(r.to_dict()))


def test_statuses_are_plain_strings_on_disk_and_enums_after_parsing():
    data = _result()
    assert data["status"] == "graded" and [t["status"] for t in data["tests"]] == ["passed", "error"]
    assert '"passed"' in json.dumps(TR("t", 1, 1, PASSED, "").__dict__)
    back = parse_result(data)
    assert back.status is SubmissionStatus.GRADED and back.tests[0].status is Outcome.PASSED
    assert back.tests[0].visibility is Visibility.HIDDEN and back.tests[1].visibility == "public"


def test_crash_is_a_submission_status():
    """distributed.crash_result writes status crash: it is one of the submission statuses."""
    assert CRASH in SUBMISSION_STATUSES and CRASH in TEST_STATUSES
    assert parse_result(_result(status="crash")).status is SubmissionStatus.CRASH


@pytest.mark.parametrize("where, value", [("status", "graded!"), ("status", "passed"),
                                          ("test", "graded"), ("test", "PASSED"), ("visibility", "secret")])
def test_the_parser_refuses_unknown_statuses(where, value):
    data = _result()
    if where == "status":
        data["status"] = value
    elif where == "test":
        data["tests"][0]["status"] = value
    else:
        data["tests"][0]["visibility"] = value
    with pytest.raises(ValueError, match="must be"):
        parse_result(data)
