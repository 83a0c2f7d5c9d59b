"""Filter patterns as CloudWatch Logs reads them: terms, phrases, alternatives, exclusions,
regular expressions, JSON and space-delimited patterns, and the malformed ones refused."""

from __future__ import annotations

import pytest

from engine.cwlogs.filter_pattern import FilterPatternError, compile_filter_pattern


def matching(pattern: str, messages: list[str]) -> list[str]:
    matcher = compile_filter_pattern(pattern)
    assert matcher is not None
    return [m for m in messages if matcher(m)]


LINES = [
    "[ERROR] Exception: database timeout\n",
    "[ERROR] retrying\n",
    "[WARN] slow: 900 ms\n",
    "[INFO] Failed to process order 7\n",
    "error in lower case\n",
]


@pytest.mark.parametrize("pattern", [None, "", "   ", '" "'])
def test_empty_and_blank_patterns_match_everything(pattern: str | None) -> None:
    assert compile_filter_pattern(pattern) is None


def test_terms_all_appear_case_sensitively() -> None:
    assert matching("ERROR", LINES) == LINES[:2]
    assert matching("ERROR Exception", LINES) == LINES[:1]
    assert matching("error", LINES) == LINES[4:]


def test_phrases_alternatives_and_exclusions() -> None:
    assert matching('"Failed to process"', LINES) == [LINES[3]]
    assert matching('"to process" order', LINES) == [LINES[3]]
    assert matching("?WARN ?Exception", LINES) == [LINES[0], LINES[2]]
    assert matching("ERROR -retrying", LINES) == [LINES[0]]
    assert matching('-"[ERROR]"', LINES) == LINES[2:]
    assert matching('"say \\"hi\\""', ['she said "hi"', 'say "hi" now']) == ['say "hi" now']


def test_regular_expressions_between_percent_signs() -> None:
    assert matching("%[0-9]{3} ms%", LINES) == [LINES[2]]
    assert matching("%^error%", LINES) == [LINES[4]]
    assert matching("ERROR %retr[a-z]+%", LINES) == [LINES[1]]


JSON_LINES = [
    '{"level": "ERROR", "latency": 812, "user": {"id": 7, "tags": ["a", "b"]}, "ok": false}',
    '{"level": "INFO", "latency": 12.5, "user": {"id": 8}, "ok": true, "note": null}',
    '{"level": "ERROR-ish", "latency": "slow"}',
    "not json at all",
    '["a", "list"]',
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.level = "ERROR" }', [0]),
        ("{ $.level = ERROR }", [0]),
        ('{ $.level = "ERROR*" }', [0, 2]),
        ('{ $.level != "ERROR" }', [1, 2]),
        ("{ $.latency > 500 }", [0]),
        ("{ $.latency <= 12.5 }", [1]),
        ("{ $.latency = 812 }", [0]),
        ("{ $.user.id >= 8 }", [1]),
        ('{ $.user.tags[1] = "b" }', [0]),
        ("{ $.ok IS TRUE }", [1]),
        ("{ $.ok IS FALSE }", [0]),
        ("{ $.note IS NULL }", [1]),
        ("{ $.note NOT EXISTS }", [0, 2]),
        ("{ $.user EXISTS }", [0, 1]),
        ('{ $.level = "ERROR" && $.latency > 900 }', []),
        ('{ $.level = "INFO" || $.latency > 800 }', [0, 1]),
        ('{ ($.level = "INFO" || $.level = "ERROR") && $.ok IS FALSE }', [0]),
        ('{$.level="ERROR"}', [0]),
    ],
)
def test_json_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern, JSON_LINES) == [JSON_LINES[i] for i in expected]


ACCESS = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /a.gif HTTP/1.0" 200 2280',
    "too short",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ip, user, username, timestamp, request, status_code, bytes]", [0, 1]),
        ("[ip, user, username, timestamp, request, status_code = 404, bytes]", [0]),
        ("[ip, user, username, timestamp, request, status_code = 4*, bytes > 1000]", [0]),
        ('[..., request = "*gif*", status_code, bytes]', [1]),
        ("[ip, ..., bytes < 2000]", [0]),
        ("[ip, ..., status_code = 200 || status_code = 404, bytes]", [0, 1]),
        ("[a, b]", [2]),
    ],
)
def test_space_delimited_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern, ACCESS) == [ACCESS[i] for i in expected]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ('{ $.level = "ERROR"', "If a filter pattern starts with '{' it must end with '}'"),
        ("{ $.level = }", "Invalid filter pattern"),
        ("{ level = 1 }", "Invalid filter pattern"),
        ('{ $.a > "x" }', "Invalid filter pattern"),
        ("{ $.a IS MAYBE }", "Invalid filter pattern"),
        ("{ ($.a = 1 }", "Invalid filter pattern"),
        ('"unfinished phrase', "Invalid filter pattern"),
        ('"glued"term', "Invalid filter pattern"),
        ("caf\u00e9", "Invalid character(s) in term 'caf\u00e9'"),
        ('a"b', "Invalid character(s) in term 'a\"b'"),
        ("ERROR ?", "Invalid character(s) in term '?'"),
        ("%(a)%", "Invalid filter pattern"),
        ("%%", "Invalid filter pattern"),
        ("[a, , b]", "Invalid filter pattern"),
        ("[a, b > x]", "Invalid filter pattern"),
        ("[a, b", "Invalid filter pattern"),
    ],
)
def test_malformed_patterns_are_refused_in_aws_words(pattern: str, message: str) -> None:
    with pytest.raises(FilterPatternError) as caught:
        compile_filter_pattern(pattern)
    assert str(caught.value) == message
