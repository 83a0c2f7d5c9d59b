"""Function logs through the CloudWatch-Logs-compatible API of the real daemon, read with a
real boto3 client: the group and stream an invoke makes, START/END/REPORT as events, the
Tail header's bytes, GetLogEvents' pages and tokens, FilterLogEvents' patterns across
streams, errors in AWS's shapes, DeleteLogGroup, and retention removing old streams."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from engine.cli.client import Client
from engine.runtime.log_format import RECORD, decode_header
from engine.runtime.log_retention import DAY_MS
from tests.integration.conftest import FUNCTIONS, Daemon, log_of, wait_until

pytestmark = pytest.mark.privileged

PRINTER = """
import json, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    for line in event.get("lines", []):
        print(line if isinstance(line, str) else json.dumps(line))
    return "ok"
"""
STREAM_NAME = re.compile(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}")


def group_of(name: str) -> str:
    return f"/aws/lambda/{name}"


def all_events(logs: Any, group: str, stream: str) -> list[dict[str, Any]]:
    page = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    events: list[dict[str, Any]] = page["events"]
    return events


def only_stream(logs: Any, group: str) -> str:
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1, streams
    name: str = streams[0]["logStreamName"]
    return name


def error_of(call: Callable[[], Any]) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_invokes_write_a_group_a_stream_and_lambdas_events(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(PRINTER)
    first = daemon.invoke(name, {"lines": ["hello", "world"]}, tail=True)
    second = daemon.invoke(name, {"lines": ["again"]}, tail=True)
    assert first.status == 200 and second.status == 200
    logs = daemon.logs_client()
    group = group_of(name)
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert groups[0]["storedBytes"] > 0 and "retentionInDays" not in groups[0]
    stream = only_stream(logs, group)  # one environment served both invokes: one stream
    assert STREAM_NAME.fullmatch(stream), stream

    events = all_events(logs, group, stream)
    messages = [e["message"] for e in events]
    first_id = first.headers["x-amzn-requestid"]
    second_id = second.headers["x-amzn-requestid"]
    assert messages[0] == f"START RequestId: {first_id} Version: $LATEST\n"
    assert messages[1:3] == ["hello\n", "world\n"]
    assert messages[3] == f"END RequestId: {first_id}\n"
    assert messages[4].startswith(f"REPORT RequestId: {first_id}\tDuration: ")
    assert "\tInit Duration: " in messages[4] and messages[4].endswith("\t\n")
    assert messages[5:8] == [
        f"START RequestId: {second_id} Version: $LATEST\n",
        "again\n",
        f"END RequestId: {second_id}\n",
    ]
    assert "Init Duration" not in messages[8] and len(messages) == 9
    # X-Amz-Log-Result carries the same bytes as the invocation's events.
    assert log_of(first) == "".join(messages[:5])
    assert log_of(second) == "".join(messages[5:])
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time() * 1000) < 60_000
    assert all(e["ingestionTime"] >= e["timestamp"] for e in events)


def test_get_log_events_pages_and_tokens(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(PRINTER)
    daemon.invoke(name, {"lines": [f"line {i}" for i in range(5)]})
    logs = daemon.logs_client()
    group = group_of(name)
    stream = only_stream(logs, group)
    read = {"logGroupName": group, "logStreamName": stream, "limit": 3, "startFromHead": True}
    seen: list[str] = []
    page = logs.get_log_events(**read)
    while page["events"]:
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
        page = logs.get_log_events(**read, nextToken=token)
    assert seen[1:6] == [f"line {i}\n" for i in range(5)] and len(seen) == 8
    assert page["nextForwardToken"] == token  # nothing new: the same token back
    again = logs.get_log_events(**read, nextToken=token)
    assert again["events"] == [] and again["nextForwardToken"] == token

    daemon.invoke(name, {"lines": ["later"]})
    newer = logs.get_log_events(**read, nextToken=token)
    assert [e["message"] for e in newer["events"]][1:2] == ["later\n"]

    latest = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2)
    assert [e["message"][:6] for e in latest["events"]] == ["END Re", "REPORT"]
    before = logs.get_log_events(
        logGroupName=group, logStreamName=stream, limit=2, nextToken=latest["nextBackwardToken"]
    )
    assert [e["message"] for e in before["events"]][1] == "later\n"

    events = all_events(logs, group, stream)
    middle = events[3]["timestamp"]
    window = logs.get_log_events(
        logGroupName=group, logStreamName=stream, startFromHead=True,
        startTime=middle, endTime=middle + 1,
    )  # fmt: skip
    assert window["events"] and all(e["timestamp"] == middle for e in window["events"])


def test_filter_log_events_across_streams(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(PRINTER)
    lines: list[Any] = [
        {"level": "ERROR", "code": 500, "msg": "db down"},
        {"level": "INFO", "code": 200},
        "WARN disk at 91%",
        "an exact phrase here",
    ]
    errors: list[BaseException] = []

    def invoke_slowly() -> None:
        client = Client(daemon.socket_path, timeout_s=60)
        try:
            body = json.dumps({"sleep": 1.0, "lines": lines}).encode()
            resp = client.request("POST", f"{FUNCTIONS}/{name}/invocations", body)
            assert resp.status == 200, resp.body
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=invoke_slowly) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    logs = daemon.logs_client()
    group = group_of(name)
    streams = [
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    ]
    assert len(streams) == 2  # two invokes at once: two environments, two streams

    def filtered(pattern: str, **extra: Any) -> list[dict[str, Any]]:
        paginator = logs.get_paginator("filter_log_events")
        pages = paginator.paginate(logGroupName=group, filterPattern=pattern, **extra)
        return [e for page in pages for e in page["events"]]

    found = filtered('{ $.level = "ERROR" }')
    assert [e["message"] for e in found] == [
        '{"level": "ERROR", "code": 500, "msg": "db down"}\n'
    ] * 2
    assert {e["logStreamName"] for e in found} == set(streams)
    assert len({e["eventId"] for e in found}) == 2
    assert len(filtered("{ $.code >= 200 }")) == 4
    assert len(filtered("?WARN ?ERROR")) == 4
    assert [e["message"] for e in filtered('"exact phrase"')] == ["an exact phrase here\n"] * 2
    everything = filtered("")
    assert len(everything) == 2 * 7  # START, 4 lines, END, REPORT in each
    stamps = [e["timestamp"] for e in everything]
    assert stamps == sorted(stamps)  # interleaved across the streams by time
    one_at_a_time = filtered("-START -END -REPORT", limit=1)
    assert len(one_at_a_time) == 8
    in_one = filtered("REPORT", logStreamNames=[streams[0]])
    assert len(in_one) == 1 and in_one[0]["logStreamName"] == streams[0]


def test_errors_answer_in_aws_shapes(daemon: Daemon) -> None:
    logs = daemon.logs_client()
    missing = ("ResourceNotFoundException", "The specified log group does not exist.")
    assert error_of(lambda: logs.describe_log_streams(logGroupName="/no/such")) == missing
    assert error_of(lambda: logs.filter_log_events(logGroupName="/no/such")) == missing
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName="/no/such")
    group = "/test/errors-" + str(time.monotonic_ns())
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    try:
        assert error_of(lambda: logs.create_log_group(logGroupName=group)) == (
            "ResourceAlreadyExistsException",
            "The specified log group already exists.",
        )
        assert error_of(
            lambda: logs.filter_log_events(logGroupName=group, filterPattern="{ $.")
        ) == (
            "InvalidParameterException",
            "If a filter pattern starts with '{' it must end with '}'",
        )
        assert error_of(
            lambda: logs.filter_log_events(logGroupName=group, filterPattern="{ $.a = }")
        ) == ("InvalidParameterException", "Invalid filter pattern")
        code, message = error_of(
            lambda: logs.put_retention_policy(logGroupName=group, retentionInDays=2)
        )
        assert code == "InvalidParameterException"
        assert message.startswith(
            "1 validation error detected: Value '2' at 'retentionInDays' failed to satisfy "
            "constraint: Member must satisfy enum value set: [1, 3, 5, 7, 14, 30, "
        )
        assert error_of(
            lambda: logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="f/1")
        ) == ("InvalidParameterException", "The specified nextToken is invalid.")
        assert error_of(lambda: logs.get_log_events(logGroupName=group, logStreamName="nope")) == (
            "ResourceNotFoundException",
            "The specified log stream does not exist.",
        )
        logs.put_retention_policy(logGroupName=group, retentionInDays=14)
        described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        assert described["retentionInDays"] == 14
        logs.delete_retention_policy(logGroupName=group)
        described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
        assert "retentionInDays" not in described
    finally:
        logs.delete_log_group(logGroupName=group)
    wrong_key = daemon.logs_client(key="LKIAWRONGWRONGWRONG2", secret="nope")
    code, _ = error_of(lambda: wrong_key.describe_log_groups())
    assert code in ("UnrecognizedClientException", "InvalidSignatureException")


def test_a_deleted_group_comes_back_with_the_next_invoke(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(PRINTER)
    daemon.invoke(name, {"lines": ["before"]})
    logs = daemon.logs_client()
    group = group_of(name)
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    after = daemon.invoke(name, {"lines": ["after"]}, tail=True)  # the same warm environment
    stream = only_stream(logs, group)
    messages = [e["message"] for e in all_events(logs, group, stream)]
    assert messages[1] == "after\n" and "before\n" not in messages
    assert "after\n" in log_of(after)
    # The function's group outlives the function, as on AWS.
    daemon.client.request("DELETE", f"{FUNCTIONS}/{name}")
    assert [
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    ] == [group]


def age_stream_on_disk(events_path: Path, by_ms: int) -> None:
    """Make every event of a stream `by_ms` older, as if written that long ago."""
    raw = bytearray(events_path.read_bytes())
    header = decode_header(bytes(raw[:4096]))
    assert header is not None
    for offset in range(header.size, len(raw), RECORD.size):
        stamp, delta, end = RECORD.unpack_from(raw, offset)
        RECORD.pack_into(raw, offset, stamp - by_ms, delta, end)
    events_path.write_bytes(bytes(raw))


def test_retention_and_the_size_bound_remove_old_streams(
    daemon_factory: Callable[[], Daemon],
) -> None:
    d = daemon_factory()
    settings = "[logs]\nsweep_interval_s = 0.2\nmax_group_bytes = 100000\n"
    d.start(extra_toml=settings)
    try:
        name = "retained"
        assert d.create(name, PRINTER).status == 201
        d.invoke(name, {"lines": ["old news"]})
        logs = d.logs_client()
        group = group_of(name)
        stream = only_stream(logs, group)

        # PutRetentionPolicy: a stream whose events are older than it goes; a fresh one stays.
        api_group = "/test/retention"
        logs.create_log_group(logGroupName=api_group)
        for s in ("old", "new"):
            logs.create_log_stream(logGroupName=api_group, logStreamName=s)
        now = int(time.time() * 1000)
        put = logs.put_log_events(
            logGroupName=api_group, logStreamName="old",
            logEvents=[{"timestamp": now - 2 * DAY_MS, "message": "two days ago"}],
        )  # fmt: skip
        assert "rejectedLogEventsInfo" not in put
        logs.put_log_events(
            logGroupName=api_group, logStreamName="new",
            logEvents=[{"timestamp": now, "message": "just now"}],
        )  # fmt: skip
        logs.put_retention_policy(logGroupName=api_group, retentionInDays=1)

        def names(g: str) -> list[str]:
            return [
                s["logStreamName"] for s in logs.describe_log_streams(logGroupName=g)["logStreams"]
            ]

        assert wait_until(lambda: names(api_group) == ["new"], 10), names(api_group)

        # The size bound: past 100 kB the streams with the oldest events go first.
        size_group = "/test/size"
        logs.create_log_group(logGroupName=size_group)
        for i, s in enumerate(("s1", "s2", "s3")):
            logs.create_log_stream(logGroupName=size_group, logStreamName=s)
            logs.put_log_events(
                logGroupName=size_group, logStreamName=s,
                logEvents=[{"timestamp": now + i, "message": "x" * 40_000}],
            )  # fmt: skip
        assert wait_until(lambda: names(size_group) == ["s2", "s3"], 10), names(size_group)

        # A function's stream whose events are older than the retention: after a restart with
        # retention_days = 1, the sweep removes it (the group stays).
        d.stop()
        directory = d.state_dir / "logs" / name
        (events_file,) = directory.glob("*.events")
        age_stream_on_disk(events_file, 3 * DAY_MS)
        d.start(extra_toml=settings + "retention_days = 1\n")
        logs = d.logs_client()
        assert wait_until(lambda: names(group) == [], 10), names(group)
        assert not events_file.exists() and not events_file.with_suffix(".log").exists()
        assert [
            g["logGroupName"]
            for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        ] == [group]
        assert stream not in names(group)
        # The groups made through the API survived the restart too.
        assert names(api_group) == ["new"]
    finally:
        d.stop()
