"""CwLogsApp end to end over ASGI: groups, streams, events, and errors in CloudWatch Logs'
shapes and words."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

from engine.cwlogs.api import CwLogsApp
from engine.runtime.log_store import LogStore
from engine.runtime.logs import now_ms

GROUP_ARN = "arn:aws:logs:us-east-1:000000000000:log-group:"


async def call(
    app: CwLogsApp, operation: str, body: dict[str, Any] | None = None, *, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    payload = raw if raw is not None else json.dumps(body or {}).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"x-amz-target", f"Logs_20140328.{operation}".encode())],
    }
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body_message = sent
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/x-amz-json-1.1"
    assert headers[b"x-amzn-requestid"]
    return start["status"], json.loads(body_message["body"])


async def ok(app: CwLogsApp, operation: str, body: dict[str, Any] | None = None) -> Any:
    status, answer = await call(app, operation, body)
    assert status == 200, answer
    return answer


async def fails(app: CwLogsApp, operation: str, body: dict[str, Any] | None = None) -> Any:
    status, answer = await call(app, operation, body)
    assert status == 400 and set(answer) == {"__type", "message"}, answer
    return answer


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path)


@pytest.fixture
def app(store: LogStore) -> CwLogsApp:
    return CwLogsApp(store, region="us-east-1")


async def test_groups_paging_prefix_pattern_and_retention(app: CwLogsApp) -> None:
    for name in ("/aws/lambda/b", "/aws/lambda/a", "/app/x", "/aws/lambda/c"):
        assert await ok(app, "CreateLogGroup", {"logGroupName": name}) == {}
    await ok(app, "PutRetentionPolicy", {"logGroupName": "/aws/lambda/a", "retentionInDays": 14})
    first = await ok(app, "DescribeLogGroups", {"logGroupNamePrefix": "/aws/lambda/", "limit": 2})
    assert [g["logGroupName"] for g in first["logGroups"]] == ["/aws/lambda/a", "/aws/lambda/b"]
    group = first["logGroups"][0]
    assert group["retentionInDays"] == 14 and group["storedBytes"] == 0
    assert group["arn"] == GROUP_ARN + "/aws/lambda/a:*"
    assert group["logGroupArn"] == GROUP_ARN + "/aws/lambda/a"
    assert "retentionInDays" not in first["logGroups"][1]
    body = {"logGroupNamePrefix": "/aws/lambda/", "nextToken": first["nextToken"]}
    rest = await ok(app, "DescribeLogGroups", body)
    assert [g["logGroupName"] for g in rest["logGroups"]] == ["/aws/lambda/c"]
    assert "nextToken" not in rest
    brief = await ok(app, "DescribeLogGroups", {"logGroupNamePattern": "lambda/c"})
    assert brief["logGroups"] == [
        {
            "logGroupName": "/aws/lambda/c",
            "creationTime": brief["logGroups"][0]["creationTime"],
            "arn": GROUP_ARN + "/aws/lambda/c:*",
        }
    ]
    await ok(app, "DeleteRetentionPolicy", {"logGroupName": "/aws/lambda/a"})
    await ok(app, "DeleteLogGroup", {"logGroupName": "/aws/lambda/b"})
    names = [g["logGroupName"] for g in (await ok(app, "DescribeLogGroups"))["logGroups"]]
    assert names == ["/app/x", "/aws/lambda/a", "/aws/lambda/c"]


async def test_group_errors(app: CwLogsApp) -> None:
    missing = {
        "__type": "ResourceNotFoundException",
        "message": "The specified log group does not exist.",
    }
    assert await fails(app, "DeleteLogGroup", {"logGroupName": "nope"}) == missing
    assert await fails(app, "DescribeLogStreams", {"logGroupName": "nope"}) == missing
    arn = {"logGroupIdentifier": GROUP_ARN + "nope"}
    assert await fails(app, "FilterLogEvents", arn) == missing
    await ok(app, "CreateLogGroup", {"logGroupName": "g"})
    assert await fails(app, "CreateLogGroup", {"logGroupName": "g"}) == {
        "__type": "ResourceAlreadyExistsException",
        "message": "The specified log group already exists.",
    }
    bad_days = await fails(app, "PutRetentionPolicy", {"logGroupName": "g", "retentionInDays": 2})
    assert bad_days == {
        "__type": "InvalidParameterException",
        "message": "1 validation error detected: Value '2' at 'retentionInDays' failed to "
        "satisfy constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, 60, 90, "
        "120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]",
    }
    assert await fails(app, "DescribeLogGroups", {"limit": 51}) == {
        "__type": "InvalidParameterException",
        "message": "1 validation error detected: Value '51' at 'limit' failed to satisfy "
        "constraint: Member must have value less than or equal to 50",
    }
    both = {"logGroupNamePrefix": "a", "logGroupNamePattern": "b"}
    assert (await fails(app, "DescribeLogGroups", both))["message"] == (
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
    )
    name_and_arn = {"logGroupName": "g", "logGroupIdentifier": GROUP_ARN + "g"}
    assert await fails(app, "DescribeLogStreams", name_and_arn) == {
        "__type": "ValidationException",
        "message": "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
    }
    assert (await fails(app, "CreateLogGroup", {"logGroupName": "bad name!"}))["message"] == (
        "1 validation error detected: Value 'bad name!' at 'logGroupName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
    )


async def test_protocol_errors(app: CwLogsApp) -> None:
    assert await fails(app, "DescribeLogGroups", {"limit": "ten"}) == {
        "__type": "SerializationException",
        "message": "Value of limit cannot be read as a JSON integer.",
    }
    status, answer = await call(app, "DescribeLogGroups", raw=b"{not json")
    assert status == 400 and answer["__type"] == "SerializationException"
    assert (await fails(app, "Frobnicate"))["__type"] == "UnknownOperationException"
    query = {"logGroupName": "g", "startTime": 0, "endTime": 1, "queryString": "x"}
    assert await fails(app, "StartQuery", query) == {
        "__type": "InvalidParameterException",
        "message": "lambdalet does not implement the CloudWatch Logs operation StartQuery.",
    }


async def put(app: CwLogsApp, stream: str, messages: list[str], start: int) -> None:
    events = [{"timestamp": start + i, "message": m} for i, m in enumerate(messages)]
    body = {"logGroupName": "g", "logStreamName": stream, "logEvents": events}
    answer = await ok(app, "PutLogEvents", body)
    assert "rejectedLogEventsInfo" not in answer


async def test_streams_and_get_log_events_tokens(app: CwLogsApp) -> None:
    await ok(app, "CreateLogGroup", {"logGroupName": "g"})
    for name in ("s2", "s1"):
        await ok(app, "CreateLogStream", {"logGroupName": "g", "logStreamName": name})
    now = now_ms()
    await put(app, "s1", ["a", "b", "c"], now - 1000)
    await put(app, "s2", ["z"], now - 500)
    by_name = await ok(app, "DescribeLogStreams", {"logGroupName": "g", "limit": 1})
    assert [s["logStreamName"] for s in by_name["logStreams"]] == ["s1"]
    stream = by_name["logStreams"][0]
    assert stream["firstEventTimestamp"] == now - 1000 and stream["lastEventTimestamp"] == now - 998
    assert stream["arn"] == GROUP_ARN + "g:log-stream:s1"
    following = {"logGroupName": "g", "limit": 1, "nextToken": by_name["nextToken"]}
    after = await ok(app, "DescribeLogStreams", following)
    assert [s["logStreamName"] for s in after["logStreams"]] == ["s2"]
    latest = {"logGroupName": "g", "orderBy": "LastEventTime", "descending": True}
    ordered = await ok(app, "DescribeLogStreams", latest)
    assert [s["logStreamName"] for s in ordered["logStreams"]] == ["s2", "s1"]
    assert (await fails(app, "DescribeLogStreams", {**latest, "logStreamNamePrefix": "s"})) == {
        "__type": "InvalidParameterException",
        "message": "Cannot order by LastEventTime with a logStreamNamePrefix.",
    }

    read = {"logGroupName": "g", "logStreamName": "s1", "startFromHead": True, "limit": 2}
    first = await ok(app, "GetLogEvents", read)
    assert [e["message"] for e in first["events"]] == ["a", "b"]
    rest = await ok(app, "GetLogEvents", {**read, "nextToken": first["nextForwardToken"]})
    assert [e["message"] for e in rest["events"]] == ["c"]
    end = await ok(app, "GetLogEvents", {**read, "nextToken": rest["nextForwardToken"]})
    assert end["events"] == [] and end["nextForwardToken"] == rest["nextForwardToken"]
    await put(app, "s1", ["d"], now)
    more = await ok(app, "GetLogEvents", {**read, "nextToken": end["nextForwardToken"]})
    assert [e["message"] for e in more["events"]] == ["d"]
    back = await ok(app, "GetLogEvents", {**read, "nextToken": first["nextBackwardToken"]})
    assert back["events"] == [] and back["nextBackwardToken"] == first["nextBackwardToken"]

    other = await ok(app, "GetLogEvents", {"logGroupName": "g", "logStreamName": "s2"})
    invalid = {
        "__type": "InvalidParameterException",
        "message": "The specified nextToken is invalid.",
    }
    token_of_another_stream = {**read, "nextToken": other["nextForwardToken"]}
    assert await fails(app, "GetLogEvents", token_of_another_stream) == invalid
    assert await fails(app, "GetLogEvents", {**read, "nextToken": "f/123"}) == invalid
    assert await fails(app, "GetLogEvents", {"logGroupName": "g", "logStreamName": "s9"}) == {
        "__type": "ResourceNotFoundException",
        "message": "The specified log stream does not exist.",
    }


async def test_filter_log_events_and_put_rules(app: CwLogsApp) -> None:
    await ok(app, "CreateLogGroup", {"logGroupName": "g"})
    await ok(app, "CreateLogStream", {"logGroupName": "g", "logStreamName": "s"})
    now = now_ms()
    await put(app, "s", ['{"level": "ERROR"}', '{"level": "INFO"}', "plain ERROR"], now)
    found = await ok(app, "FilterLogEvents", {"logGroupName": "g", "filterPattern": "ERROR"})
    assert [e["message"] for e in found["events"]] == ['{"level": "ERROR"}', "plain ERROR"]
    event = found["events"][0]
    assert event["logStreamName"] == "s" and len(event["eventId"]) == 56
    assert event["timestamp"] == now and event["ingestionTime"] >= now
    paged = await ok(app, "FilterLogEvents", {"logGroupName": "g", "limit": 2})
    rest = await ok(app, "FilterLogEvents", {"logGroupName": "g", "nextToken": paged["nextToken"]})
    assert [e["message"] for e in rest["events"]] == ["plain ERROR"]
    json_filter = {"logGroupName": "g", "filterPattern": '{ $.level = "INFO" }'}
    assert len((await ok(app, "FilterLogEvents", json_filter))["events"]) == 1
    assert await fails(app, "FilterLogEvents", {"logGroupName": "g", "filterPattern": "{ $.x"}) == {
        "__type": "InvalidParameterException",
        "message": "If a filter pattern starts with '{' it must end with '}'",
    }
    both = {"logGroupName": "g", "logStreamNames": ["s"], "logStreamNamePrefix": "s"}
    assert (await fails(app, "FilterLogEvents", both))["__type"] == "InvalidParameterException"

    unordered = [{"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}]
    body = {"logGroupName": "g", "logStreamName": "s", "logEvents": unordered}
    assert await fails(app, "PutLogEvents", body) == {
        "__type": "InvalidParameterException",
        "message": "Log events in a single PutLogEvents request must be in chronological order.",
    }
    old_and_new = [
        {"timestamp": now - 14 * 86_400_000 - 60_000, "message": "too old"},
        {"timestamp": now - 14 * 86_400_000 + 60_000, "message": "kept"},
        {"timestamp": now + 3 * 3_600_000, "message": "too new"},
    ]
    body = {"logGroupName": "g", "logStreamName": "s", "logEvents": old_and_new[:2]}
    answer = await ok(app, "PutLogEvents", body)
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    body = {"logGroupName": "g", "logStreamName": "s", "logEvents": old_and_new[2:]}
    answer = await ok(app, "PutLogEvents", body)
    assert answer["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 0}
    everything = await ok(app, "FilterLogEvents", {"logGroupName": "g", "startTime": 0})
    assert "kept" in [e["message"] for e in everything["events"]]
    assert "too new" not in [e["message"] for e in everything["events"]]
