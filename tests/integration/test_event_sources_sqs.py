"""SQS event source mappings against a real daemon, with the real boto3 clients: batches and
windows, partial batch failures, visibility and redrive, filters, FIFO order per group,
disable and enable, and no CPU while idle.

What a function saw is read from its log: each invocation prints one JSON line per batch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Daemon, wait_until

SCALE = 0.02
RECORDER = """
import json, os, time
def handler(event, context):
    records = event["Records"]
    bodies = [r["body"] for r in records]
    print("BATCH " + json.dumps({"t": time.time(), "bodies": bodies,
          "ids": [r["messageId"] for r in records],
          "groups": [r["attributes"].get("MessageGroupId") for r in records],
          "source": records[0]["eventSource"], "arn": records[0]["eventSourceARN"],
          "receives": [r["attributes"]["ApproximateReceiveCount"] for r in records]}))
    failed = [r["messageId"] for r in records if "fail" in r["body"]]
    if "crash" in "".join(bodies):
        raise RuntimeError("crash requested")
    return {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
"""


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")
    yield d
    d.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{time.time_ns() % 10**10}"


def batches(daemon: Daemon, function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((daemon.state_dir / "logs" / function).glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("BATCH "):
                found.append(json.loads(line[6:]))
    return sorted(found, key=lambda batch: batch["t"])  # environments log to their own files


def bodies(daemon: Daemon, function: str) -> list[str]:
    return [b for batch in batches(daemon, function) for b in batch["bodies"]]


def make_queue(daemon: Daemon, name: str, **attributes: str) -> tuple[str, str]:
    sqs = daemon.sqs_client()
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def deploy(daemon: Daemon, name: str) -> None:
    resp = daemon.create(name, RECORDER, Timeout=30)
    assert resp.status == 201, resp.body


def map_queue(daemon: Daemon, function: str, queue_arn: str, **settings: Any) -> str:
    client = daemon.lambda_client()
    answer = client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=queue_arn, **settings
    )
    uuid: str = answer["UUID"]
    assert wait_until(
        lambda: client.get_event_source_mapping(UUID=uuid)["State"] in ("Enabled", "Disabled"),
        10,
    )
    return uuid


def queue_counts(daemon: Daemon, url: str) -> tuple[int, int]:
    attributes = daemon.sqs_client().get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def test_messages_reach_the_function_in_batches_and_are_deleted(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(daemon, unique("q"))
    name = unique("batches")
    deploy(daemon, name)
    sqs = daemon.sqs_client()
    for start in range(0, 30, 10):  # 30 messages waiting before the mapping exists
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(start, start + 10)],
        )
    uuid = map_queue(daemon, name, arn, BatchSize=10)
    assert wait_until(lambda: len(bodies(daemon, name)) >= 30, 30)
    assert sorted(bodies(daemon, name)) == sorted(f"m{i}" for i in range(30))
    seen = batches(daemon, name)
    assert all(len(b["bodies"]) <= 10 for b in seen)
    assert seen[0]["source"] == "aws:sqs" and seen[0]["arn"] == arn
    assert wait_until(lambda: queue_counts(daemon, url) == (0, 0), 10)  # all deleted
    mapping = daemon.lambda_client().get_event_source_mapping(UUID=uuid)
    assert mapping["State"] == "Enabled"
    assert mapping["EventSourceArn"] == arn


def test_a_batching_window_gathers_messages_sent_apart(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(daemon, unique("window"))
    name = unique("window-fn")
    deploy(daemon, name)
    map_queue(daemon, name, arn, BatchSize=50, MaximumBatchingWindowInSeconds=2)
    sqs = daemon.sqs_client()
    for i in range(5):  # five messages over ~1 s: one batch when the 2 s window closes
        sqs.send_message(QueueUrl=url, MessageBody=f"w{i}")
        time.sleep(0.2)
    assert wait_until(lambda: len(bodies(daemon, name)) >= 5, 20)
    assert [len(b["bodies"]) for b in batches(daemon, name)] == [5]


def test_reported_failures_stay_on_the_queue_and_the_rest_is_deleted(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(daemon, unique("partial"), VisibilityTimeout="2")
    name = unique("partial-fn")
    deploy(daemon, name)
    sqs = daemon.sqs_client()
    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "1", "MessageBody": "ok-1"},
            {"Id": "2", "MessageBody": "fail-2"},
            {"Id": "3", "MessageBody": "ok-3"},
        ],
    )
    map_queue(daemon, name, arn, FunctionResponseTypes=["ReportBatchItemFailures"])
    # The failed message comes back after its 2 s visibility timeout, received again.
    assert wait_until(lambda: bodies(daemon, name).count("fail-2") >= 2, 30)
    seen = bodies(daemon, name)
    assert seen.count("ok-1") == 1 and seen.count("ok-3") == 1
    later = [b for b in batches(daemon, name) if b["bodies"] == ["fail-2"]]
    assert later and int(later[0]["receives"][0]) >= 2


def test_a_failing_batch_returns_and_the_redrive_policy_moves_it(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    dlq_url, dlq_arn = make_queue(daemon, unique("poison-dlq"))
    url, arn = make_queue(
        daemon,
        unique("poison"),
        VisibilityTimeout="1",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
    )
    name = unique("poison-fn")
    deploy(daemon, name)
    daemon.sqs_client().send_message(QueueUrl=url, MessageBody="crash me")
    map_queue(daemon, name, arn)
    assert wait_until(lambda: queue_counts(daemon, dlq_url)[0] == 1, 30)
    assert bodies(daemon, name).count("crash me") == 2  # received twice, then moved
    assert queue_counts(daemon, url) == (0, 0)


def test_filters_decide_which_messages_invoke_and_the_rest_are_deleted(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(daemon, unique("filtered"))
    name = unique("filtered-fn")
    deploy(daemon, name)
    pattern = json.dumps({"body": {"kind": ["order"], "total": [{"numeric": [">", 100]}]}})
    map_queue(daemon, name, arn, FilterCriteria={"Filters": [{"Pattern": pattern}]})
    sqs = daemon.sqs_client()
    sent = [
        json.dumps({"kind": "order", "total": 250}),  # matches
        json.dumps({"kind": "order", "total": 5}),  # too small
        json.dumps({"kind": "refund", "total": 500}),  # another kind
        "plain text",  # not JSON: cannot match a pattern on body fields
    ]
    for body in sent:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert wait_until(lambda: queue_counts(daemon, url) == (0, 0), 20)  # all consumed
    time.sleep(0.5)
    assert bodies(daemon, name) == [sent[0]]


def test_a_malformed_filter_is_refused_with_aws_message(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    _, arn = make_queue(daemon, unique("badfilter"))
    name = unique("badfilter-fn")
    deploy(daemon, name)
    client = daemon.lambda_client()
    with pytest.raises(client.exceptions.InvalidParameterValueException) as caught:
        client.create_event_source_mapping(
            FunctionName=name,
            EventSourceArn=arn,
            FilterCriteria={"Filters": [{"Pattern": '{"body": "not-a-list"}'}]},
        )
    assert caught.value.response["Error"]["Message"] == "Invalid filter pattern definition."


def test_fifo_messages_keep_their_order_per_group(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(
        daemon, unique("ordered") + ".fifo", FifoQueue="true", ContentBasedDeduplication="true"
    )
    name = unique("fifo-fn")
    deploy(daemon, name)
    sqs = daemon.sqs_client()
    for i in range(20):
        for group in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=f"{group}{i}", MessageGroupId=group)
    map_queue(daemon, name, arn, BatchSize=4)
    assert wait_until(lambda: len(bodies(daemon, name)) >= 60, 30)
    seen = bodies(daemon, name)
    for group in ("a", "b", "c"):
        assert [b for b in seen if b[0] == group] == [f"{group}{i}" for i in range(20)]


def test_disabling_stops_polling_within_a_second_and_enabling_resumes(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    url, arn = make_queue(daemon, unique("toggle"))
    name = unique("toggle-fn")
    deploy(daemon, name)
    uuid = map_queue(daemon, name, arn)
    client = daemon.lambda_client()
    sqs = daemon.sqs_client()
    sqs.send_message(QueueUrl=url, MessageBody="before")
    assert wait_until(lambda: bodies(daemon, name) == ["before"], 20)
    client.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert wait_until(lambda: client.get_event_source_mapping(UUID=uuid)["State"] == "Disabled", 1)
    sqs.send_message(QueueUrl=url, MessageBody="while disabled")
    time.sleep(1.5)
    assert bodies(daemon, name) == ["before"]
    assert queue_counts(daemon, url) == (1, 0)  # waiting, not taken
    client.update_event_source_mapping(UUID=uuid, Enabled=True)
    assert wait_until(lambda: bodies(daemon, name) == ["before", "while disabled"], 20)


def test_a_deleted_mapping_stops_and_goes(daemon: Daemon, unique: Callable[[str], str]) -> None:
    url, arn = make_queue(daemon, unique("gone"))
    name = unique("gone-fn")
    deploy(daemon, name)
    uuid = map_queue(daemon, name, arn)
    client = daemon.lambda_client()
    assert client.delete_event_source_mapping(UUID=uuid)["State"] == "Deleting"

    def gone() -> bool:
        try:
            client.get_event_source_mapping(UUID=uuid)
        except client.exceptions.ResourceNotFoundException:
            return True
        return False

    assert wait_until(gone, 10)
    daemon.sqs_client().send_message(QueueUrl=url, MessageBody="nobody listens")
    time.sleep(1)
    assert bodies(daemon, name) == []


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_an_idle_mapping_costs_no_cpu(daemon: Daemon, unique: Callable[[str], str]) -> None:
    _, arn = make_queue(daemon, unique("idle"))
    name = unique("idle-fn")
    deploy(daemon, name)
    map_queue(daemon, name, arn, BatchSize=100, MaximumBatchingWindowInSeconds=1)
    time.sleep(0.5)
    assert daemon.process is not None
    before = cpu_ticks(daemon.process.pid)
    time.sleep(3)
    spent = cpu_ticks(daemon.process.pid) - before
    assert spent <= 10, f"an idle mapping cost the daemon {spent} ticks in 3 s"
