"""Asynchronous invocation against a real daemon: 202s, retries as Lambda schedules them,
the request id of every attempt, and the counters.

The daemon runs with `events.time_scale` = 0.02: Lambda's 1- and 2-minute retry delays become
1.2 s and 2.4 s, and event ages shrink by the same factor.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Daemon, wait_until

SCALE = 0.02
FAILS_TWICE = """
import json
seen = {}
def handler(event, context):
    n = seen.get(context.aws_request_id, 0) + 1
    seen[context.aws_request_id] = n
    print("attempt", n, "of", context.aws_request_id, json.dumps(event))
    if n <= event.get("fail", 0):
        raise RuntimeError("attempt %d fails" % n)
    return {"attempt": n}
"""


@pytest.fixture(scope="module")
def events_daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")
    yield d
    d.stop()


def starts(daemon: Daemon, name: str, request_id: str) -> list[float]:
    """When each attempt of `request_id` started (the START lines' file times, in order)."""
    found: list[float] = []
    for path in sorted((daemon.state_dir / "logs" / name).glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(f"START RequestId: {request_id} "):
                found.append(path.stat().st_mtime)
    return found


def attempt_lines(daemon: Daemon, name: str, request_id: str) -> list[str]:
    lines: list[str] = []
    for path in sorted((daemon.state_dir / "logs" / name).glob("*.log")):
        text = path.read_text(errors="replace")
        lines += re.findall(rf"attempt \d+ of {request_id}.*", text)
    return lines


def counters(daemon: Daemon) -> dict[str, Any]:
    resp = daemon.client.request("GET", "/lambdalet/v1/async-events")
    assert resp.status == 200, resp.body
    result: dict[str, Any] = json.loads(resp.body)
    return result


def deploy_on(daemon: Daemon, name: str, code: str, **settings: Any) -> None:
    resp = daemon.create(name, code, Handler="lambda_function.handler", **settings)
    assert resp.status == 201, resp.body


def test_event_invoke_answers_202_once_stored_and_retries_a_failing_function(
    events_daemon: Daemon,
) -> None:
    name = f"async-{int(time.time() * 1000) % 10**8}"
    deploy_on(events_daemon, name, FAILS_TWICE)
    before = counters(events_daemon)
    client = events_daemon.lambda_client()
    answer = client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": 2}).encode()
    )
    assert answer["StatusCode"] == 202
    assert answer["Payload"].read() == b""
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert wait_until(lambda: len(attempt_lines(events_daemon, name, request_id)) >= 3, 30)
    lines = attempt_lines(events_daemon, name, request_id)
    assert [line.split()[1] for line in lines[:3]] == ["1", "2", "3"]  # same id every time
    after = counters(events_daemon)
    assert after["AsyncEventsReceived"] == before["AsyncEventsReceived"] + 1
    assert wait_until(
        lambda: (
            counters(events_daemon)["AsyncEventsSucceeded"] == before["AsyncEventsSucceeded"] + 1
        ),
        10,
    )
    assert len(attempt_lines(events_daemon, name, request_id)) == 3  # no fourth attempt


def test_retry_delays_follow_lambdas_schedule(events_daemon: Daemon) -> None:
    name = f"async-d-{int(time.time() * 1000) % 10**8}"
    deploy_on(events_daemon, name, FAILS_TWICE + "\nimport time\n")
    client = events_daemon.lambda_client()
    stamps: list[float] = []
    answer = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": 5}')
    request_id = answer["ResponseMetadata"]["RequestId"]
    log_dir = events_daemon.state_dir / "logs" / name

    def seen() -> int:
        count = len(attempt_lines(events_daemon, name, request_id))
        while len(stamps) < count:
            stamps.append(time.monotonic())
        return count

    assert wait_until(lambda: seen() >= 3, 30)
    time.sleep(60 * SCALE * 2)
    assert seen() == 3  # MaximumRetryAttempts defaults to 2: three attempts, no more
    first, second = stamps[1] - stamps[0], stamps[2] - stamps[1]
    assert log_dir.exists()
    # ~60 s then ~120 s, scaled (sampling adds at most the poll interval)
    assert 60 * SCALE * 0.8 <= first <= 60 * SCALE + 1.0, first
    assert 120 * SCALE * 0.8 <= second <= 120 * SCALE + 1.0, second
    assert second > first


def test_event_invoke_errors_as_lambda(events_daemon: Daemon) -> None:
    client = events_daemon.lambda_client()
    missing = client.exceptions.ResourceNotFoundException
    with pytest.raises(missing) as caught:
        client.invoke(FunctionName="no-such-fn", InvocationType="Event", Payload=b"{}")
    assert "Function not found" in caught.value.response["Error"]["Message"]
    name = f"async-e-{int(time.time() * 1000) % 10**8}"
    deploy_on(events_daemon, name, FAILS_TWICE)
    with pytest.raises(client.exceptions.RequestTooLargeException) as too_large:
        client.invoke(
            FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * (1 << 20) + b'"'
        )
    assert "1048576 bytes" in too_large.value.response["Error"]["Message"]
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{not json")


def test_invoke_async_the_deprecated_api(events_daemon: Daemon) -> None:
    name = f"async-l-{int(time.time() * 1000) % 10**8}"
    deploy_on(events_daemon, name, FAILS_TWICE)
    client = events_daemon.lambda_client()
    answer = client.invoke_async(FunctionName=name, InvokeArgs=b'{"legacy": true}')
    assert answer["Status"] == 202
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert wait_until(lambda: len(attempt_lines(events_daemon, name, request_id)) == 1, 30)
    assert '"legacy": true' in attempt_lines(events_daemon, name, request_id)[0]


_ = Path
