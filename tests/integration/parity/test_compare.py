"""The comparer itself (pure; no daemon): what it accepts and what it reports."""

from __future__ import annotations

from collections.abc import Mapping

from tests.integration.parity.compare import Answer, Bindings, compare, match_text


def diffs(
    recorded: Mapping[str, object], actual: Mapping[str, object], status: int = 200
) -> list[str]:
    return compare(Answer(200, recorded), Answer(status, actual), bindings=Bindings())


def test_identical_answers_have_no_differences() -> None:
    assert diffs({"A": 1, "B": [{"C": "x"}]}, {"A": 1, "B": [{"C": "x"}]}) == []


def test_status_keys_and_values_are_all_compared() -> None:
    found = diffs({"A": 1, "B": "x"}, {"A": 2, "C": "y"}, status=404)
    assert found[0] == "status: AWS 200, lambdalet 404"
    assert any(d.startswith("A: AWS 1, lambdalet 2") for d in found)
    assert any(d.startswith("B: missing") for d in found)
    assert any(d.startswith("C: not in AWS's answer") for d in found)


def test_a_placeholder_matches_any_value_but_always_the_same_one() -> None:
    bindings = Bindings()
    arn = "arn:<partition>:lambda:<region>:111111111111:function:<function-name:1>"
    assert match_text(arn, "arn:aws:lambda:us-east-1:111111111111:function:f1", bindings) is None
    assert match_text("<function-name:1>", "f1", bindings) is None
    problem = match_text("<function-name:1>", "f2", bindings)
    assert problem is not None and "stood for 'f1'" in problem
    assert match_text(arn + ":$LATEST", "arn:aws:lambda:x:111111111111:function:f1", bindings)


def test_a_whole_value_placeholder_takes_any_type_and_date_any_timestamp() -> None:
    recorded = {"CodeSize": "<code-size>", "LastModified": "date"}
    actual = {"CodeSize": 276, "LastModified": "2026-12-04T18:00:00.000+0000"}
    assert diffs(recorded, actual) == []


def test_kept_paths_are_not_reported() -> None:
    found = compare(
        Answer(200, {"State": "Pending", "Items": [{"State": "Pending"}]}),
        Answer(200, {"State": "Active", "Items": [{"State": "Active"}]}),
        bindings=Bindings(),
        kept={"State": "sync", "*.State": "sync"},
    )
    assert found == []


def test_long_texts_are_shown_from_where_they_part() -> None:
    rec = "Value 'x' at 'runtime' failed to satisfy constraint: " + "a" * 200
    act = "Value 'x' at 'runtime' failed to satisfy constraint: " + "a" * 150 + "b" * 50
    (problem,) = diffs({"M": rec}, {"M": act})
    assert problem.startswith("M: from character 203:")
