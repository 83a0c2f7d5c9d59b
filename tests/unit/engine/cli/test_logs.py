"""`lambdalet logs`: --since, the line format of `aws logs tail`, and --follow's polling."""

from __future__ import annotations

import io
from typing import Any

import pytest

from engine.cli.logs import LogsApi, LogsError, follow, format_event, parse_since

NOW_S = 1_800_000_000.0


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("10m", (NOW_S - 600) * 1000),
        ("2h", (NOW_S - 7200) * 1000),
        ("1d", (NOW_S - 86400) * 1000),
        ("30s", (NOW_S - 30) * 1000),
        ("2026-01-02T03:04:05Z", 1767323045000),
        ("2026-01-02T03:04:05", 1767323045000),
        ("2026-01-02T05:04:05+02:00", 1767323045000),
    ],
)
def test_since(text: str, expected_ms: float) -> None:
    assert parse_since(text, NOW_S) == int(expected_ms)


def test_since_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="--since 'yesterday'"):
        parse_since("yesterday", NOW_S)


def test_the_line_is_aws_logs_tails() -> None:
    event = {"timestamp": 1767323045678, "logStreamName": "2026/01/02/[$LATEST]ab",
             "message": "REPORT RequestId: x\tDuration: 1 ms\t\n"}  # fmt: skip
    assert format_event(event) == (
        "2026-01-02T03:04:05.678000+00:00 2026/01/02/[$LATEST]ab "
        "REPORT RequestId: x\tDuration: 1 ms\n"
    )


class FakeApi(LogsApi):
    """Answers each FilterLogEvents poll from a script, recording the requests."""

    def __init__(self, polls: list[list[dict[str, Any]] | str]) -> None:
        self.polls = polls
        self.requests: list[dict[str, Any]] = []

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        assert operation == "FilterLogEvents"
        self.requests.append(body)
        answer = self.polls.pop(0)
        if isinstance(answer, str):
            raise LogsError(answer, "The specified log group does not exist.")
        return {"events": answer}


def ev(ts: int, event_id: str, message: str) -> dict[str, Any]:
    return {"timestamp": ts, "eventId": event_id, "message": message, "logStreamName": "s"}


def test_follow_polls_from_the_newest_time_and_prints_each_event_once() -> None:
    api = FakeApi(
        [
            "ResourceNotFoundException",  # not invoked yet: wait for the group
            [ev(1000, "a", "one"), ev(2000, "b", "two")],
            [ev(2000, "b", "two"), ev(2000, "c", "three")],  # "two" again: same ms, seen
            [ev(2000, "b", "two"), ev(2000, "c", "three"), ev(3000, "d", "four")],
        ]
    )
    out = io.StringIO()
    body = {"logGroupName": "/aws/lambda/f", "startTime": 500}
    follow(api, body, out=out, sleep=lambda _s: None, rounds=4)
    assert [line.split(" ", 2)[2] for line in out.getvalue().splitlines()] == [
        "one", "two", "three", "four",
    ]  # fmt: skip
    assert [r["startTime"] for r in api.requests] == [500, 500, 2000, 2000]


def test_follow_stops_on_other_errors() -> None:
    api = FakeApi(["InvalidParameterException"])
    with pytest.raises(LogsError, match="InvalidParameterException"):
        follow(api, {"logGroupName": "g"}, out=io.StringIO(), sleep=lambda _s: None, rounds=1)
