"""Where an asynchronous event ends, against a real daemon: destinations (a queue, a function),
dead-letter queues, maximum event age, reserved concurrency 0, and the counters of each.

Each test reads what arrived with the real boto3 SQS client on the daemon's one endpoint. The
daemon runs with `events.time_scale` = 0.02 (Lambda's minutes become seconds).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Daemon, wait_until

SCALE = 0.02
HANDLER = """
import json, time
def handler(event, context):
    print("got", context.aws_request_id, json.dumps(event))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail: " + str(event["fail"]))
    return {"echo": event}
"""


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")
    yield d
    d.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    def make(prefix: str) -> str:
        return f"{prefix}-{time.time_ns() % 10**10}"

    return make


def counters(daemon: Daemon) -> dict[str, Any]:
    resp = daemon.client.request("GET", "/lambdalet/v1/async-events")
    assert resp.status == 200, resp.body
    result: dict[str, Any] = json.loads(resp.body)
    return result


def make_queue(daemon: Daemon, name: str) -> tuple[str, str]:
    """(url, arn) of a new queue."""
    sqs = daemon.sqs_client()
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attributes["Attributes"]["QueueArn"]


def receive_one(daemon: Daemon, url: str, wait_s: float = 20) -> dict[str, Any]:
    sqs = daemon.sqs_client()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        got = sqs.receive_message(
            QueueUrl=url, WaitTimeSeconds=2, MessageAttributeNames=["All"], MaxNumberOfMessages=1
        ).get("Messages", [])
        if got:
            message: dict[str, Any] = got[0]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            return message
    raise AssertionError(f"nothing arrived on {url} within {wait_s} s")


def nothing_on(daemon: Daemon, url: str) -> bool:
    got = daemon.sqs_client().receive_message(QueueUrl=url, WaitTimeSeconds=1)
    return not got.get("Messages")


def deploy(daemon: Daemon, name: str, **settings: Any) -> str:
    resp = daemon.create(name, HANDLER, **settings)
    assert resp.status == 201, resp.body
    arn: str = json.loads(resp.body)["FunctionArn"]
    return arn


def test_retries_exhausted_go_to_the_failure_queue_and_the_dead_letter_queue(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    failure_url, failure_arn = make_queue(daemon, unique("on-failure"))
    dlq_url, dlq_arn = make_queue(daemon, unique("dlq"))
    name = unique("fails")
    deploy(daemon, name, DeadLetterConfig={"TargetArn": dlq_arn})
    client = daemon.lambda_client()
    client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failure_arn}},
    )
    before = counters(daemon)
    event = {"fail": "always", "n": 7}
    answer = client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    request_id = answer["ResponseMetadata"]["RequestId"]

    record = json.loads(receive_one(daemon, failure_url)["Body"])
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["requestPayload"] == event
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "asked to fail: always"

    dead = receive_one(daemon, dlq_url)
    assert json.loads(dead["Body"]) == event  # the original event, unchanged
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes == {
        "RequestID": request_id,
        "ErrorCode": "200",
        "ErrorMessage": "asked to fail: always",
    }
    after = counters(daemon)
    assert after["AsyncEventsDroppedByReason"]["RetriesExhausted"] == (
        before["AsyncEventsDroppedByReason"].get("RetriesExhausted", 0) + 1
    )
    assert after["DestinationDeliveryFailures"] == before["DestinationDeliveryFailures"]
    assert after["DeadLetterErrors"] == before["DeadLetterErrors"]


def test_success_goes_to_a_function_destination_as_an_async_invoke(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    receiver = unique("receiver")
    receiver_arn = deploy(daemon, receiver)
    name = unique("succeeds")
    deploy(daemon, name)
    client = daemon.lambda_client()
    client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": receiver_arn}}
    )
    answer = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"hello": 1}')
    request_id = answer["ResponseMetadata"]["RequestId"]

    def received() -> list[dict[str, Any]]:
        found = []
        for path in (daemon.state_dir / "logs" / receiver).glob("*.log"):
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("got ") and request_id in line:
                    found.append(json.loads(line.split(" ", 2)[2]))
        return found

    assert wait_until(lambda: bool(received()), 30)
    (record,) = received()
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"hello": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"hello": 1}}


def test_an_event_older_than_its_maximum_age_is_not_attempted(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    failure_url, failure_arn = make_queue(daemon, unique("aged"))
    name = unique("busy")
    deploy(daemon, name, Timeout=30)
    client = daemon.lambda_client()
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=60,  # 1.2 s at this daemon's scale
        DestinationConfig={"OnFailure": {"Destination": failure_arn}},
    )
    # The one unit of concurrency is held by a synchronous invoke for 3 s (2.5 times the age).
    blocker = threading.Thread(target=daemon.invoke, args=(name, {"sleep": 3}))
    blocker.start()
    try:
        time.sleep(0.5)
        answer = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"late": 1}')
        request_id = answer["ResponseMetadata"]["RequestId"]
        record = json.loads(receive_one(daemon, failure_url)["Body"])
    finally:
        blocker.join(30)
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in record
    assert "responsePayload" not in record
    logs = "".join(
        p.read_text(errors="replace") for p in (daemon.state_dir / "logs" / name).glob("*.log")
    )
    assert request_id not in logs  # never attempted


def test_reserved_concurrency_zero_sends_events_straight_to_the_failure_target(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    failure_url, failure_arn = make_queue(daemon, unique("zero"))
    dlq_url, dlq_arn = make_queue(daemon, unique("zero-dlq"))
    name = unique("throttled")
    deploy(daemon, name, DeadLetterConfig={"TargetArn": dlq_arn})
    client = daemon.lambda_client()
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": failure_arn}}
    )
    started = time.monotonic()
    answer = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"z": 0}')
    request_id = answer["ResponseMetadata"]["RequestId"]
    record = json.loads(receive_one(daemon, failure_url)["Body"])
    assert time.monotonic() - started < 60 * SCALE  # no retry delay was waited out
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestContext"]["condition"] == "ZeroReservedConcurrency"
    dead = receive_one(daemon, dlq_url)
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == request_id
    assert not (daemon.state_dir / "logs" / name).exists() or request_id not in "".join(
        p.read_text(errors="replace") for p in (daemon.state_dir / "logs" / name).glob("*.log")
    )


def test_an_undeliverable_destination_is_counted(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(daemon, unique("gone"))
    name = unique("orphan")
    deploy(daemon, name)
    client = daemon.lambda_client()
    client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn}}
    )
    daemon.sqs_client().delete_queue(QueueUrl=url)
    before = counters(daemon)
    client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert wait_until(
        lambda: (
            counters(daemon)["DestinationDeliveryFailures"]
            == before["DestinationDeliveryFailures"] + 1
        ),
        20,
    )
    assert counters(daemon)["AsyncEventsSucceeded"] == before["AsyncEventsSucceeded"] + 1


def test_a_backlog_of_one_function_does_not_starve_another(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    slow, quick = unique("backlog"), unique("quick")
    deploy(daemon, slow, Timeout=30)
    deploy(daemon, quick)
    client = daemon.lambda_client()
    client.put_function_concurrency(FunctionName=slow, ReservedConcurrentExecutions=1)
    for _ in range(20):  # 20 of 0.3 s queued behind one unit of concurrency: 6 s of backlog
        client.invoke(FunctionName=slow, InvocationType="Event", Payload=b'{"sleep": 0.3}')
    started = time.monotonic()
    answer = client.invoke(FunctionName=quick, InvocationType="Event", Payload=b'{"q": 1}')
    request_id = answer["ResponseMetadata"]["RequestId"]

    def ran() -> bool:
        return any(
            request_id in p.read_text(errors="replace")
            for p in (daemon.state_dir / "logs" / quick).glob("*.log")
        )

    assert wait_until(ran, 20)
    assert time.monotonic() - started < 3.0  # well before the 6 s backlog has drained
    assert counters(daemon)["Backlog"] > 0  # the slow function's events still wait


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_idle_queues_and_a_waiting_long_poll_cost_no_cpu(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    """No polling loops: with queues, a delayed retry pending and a client in a long poll, the
    daemon sleeps. A 1 ms poll loop would cost hundreds of ticks in these 3 s."""
    url, _ = make_queue(daemon, unique("idle"))
    name = unique("idle-fn")
    deploy(daemon, name)
    client = daemon.lambda_client()
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": "once"}')
    assert wait_until(lambda: counters(daemon)["Backlog"] == 1, 10)  # its retry is 1.2 s away
    poller = threading.Thread(
        target=lambda: daemon.sqs_client().receive_message(QueueUrl=url, WaitTimeSeconds=5)
    )
    poller.start()
    time.sleep(0.5)
    assert daemon.process is not None
    before = cpu_ticks(daemon.process.pid)
    time.sleep(3)
    spent = cpu_ticks(daemon.process.pid) - before
    print(f"idle daemon: {spent} ticks in 3 s")
    poller.join(10)
    # The retry ran once in that time (an attempt costs a few ticks); nothing else did.
    assert spent <= 15, f"the idle daemon used {spent} ticks of CPU in 3 s"
