"""The service over time (trio's autojump clock drives its clock) and across reopening."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from engine.sqs.api import SqsApp
from engine.sqs.errors import QueueDoesNotExist
from engine.sqs.service import QueueService, open_queues
from tests.unit.engine.sqs.conftest import trio_clock
from tests.unit.engine.sqs.helpers import call

ARN = "arn:aws:sqs:us-east-1:000000000000:"


async def ok(app: SqsApp, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await call(app, operation, body)
    assert answer.status == 200, answer.body
    return answer.body


async def make(app: SqsApp, name: str, **attributes: str) -> str:
    url: str = (await ok(app, "CreateQueue", {"QueueName": name, "Attributes": attributes}))[
        "QueueUrl"
    ]
    return url


async def receive(app: SqsApp, url: str, **extra: Any) -> list[dict[str, Any]]:
    body = {"QueueUrl": url, "MessageSystemAttributeNames": ["All"], **extra}
    messages: list[dict[str, Any]] = (await ok(app, "ReceiveMessage", body)).get("Messages", [])
    return messages


async def test_delay_per_queue_and_per_message(
    app: SqsApp, autojump_clock: trio.testing.MockClock
) -> None:
    url = await make(app, "q", DelaySeconds="5")
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "queue-delay"})
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "now", "DelaySeconds": 0})
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "later", "DelaySeconds": 10})
    assert [m["Body"] for m in await receive(app, url, MaxNumberOfMessages=10)] == ["now"]
    attrs = await ok(app, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]})
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "2"
    await trio.sleep(5)
    assert [m["Body"] for m in await receive(app, url)] == ["queue-delay"]
    # a long poll returns when the delayed message becomes visible, woken by the timer
    start = trio.current_time()
    assert [m["Body"] for m in await receive(app, url, WaitTimeSeconds=20)] == ["later"]
    assert trio.current_time() - start == pytest.approx(5, abs=0.01)


async def test_visibility_expiry_redelivers_and_change_visibility(
    app: SqsApp, autojump_clock: trio.testing.MockClock
) -> None:
    url = await make(app, "q", VisibilityTimeout="30")
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "m"})
    (first,) = await receive(app, url)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert await receive(app, url) == []
    await trio.sleep(30)
    (second,) = await receive(app, url, VisibilityTimeout=100)
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    body = {"QueueUrl": url, "ReceiptHandle": second["ReceiptHandle"], "VisibilityTimeout": 0}
    await ok(app, "ChangeMessageVisibility", body)
    (third,) = await receive(app, url)
    assert third["Attributes"]["ApproximateReceiveCount"] == "3"
    stale = await call(app, "ChangeMessageVisibility", {**body, "VisibilityTimeout": 5})
    assert stale.code == "InvalidParameterValue"


async def test_long_poll_wakes_on_send_and_times_out(
    app: SqsApp, service: QueueService, autojump_clock: trio.testing.MockClock
) -> None:
    url = await make(app, "q", ReceiveMessageWaitTimeSeconds="20")
    start = trio.current_time()
    assert await receive(app, url) == []  # the queue's wait time
    assert trio.current_time() - start == pytest.approx(20, abs=0.01)
    got: list[dict[str, Any]] = []

    async def poll() -> None:
        got.extend(await receive(app, url, WaitTimeSeconds=20))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(poll)
        await trio.sleep(3)
        start = trio.current_time()
        await service.send_message(ARN + "q", "wake")
    assert [m["Body"] for m in got] == ["wake"]
    assert trio.current_time() - start < 0.01


async def test_redrive_moves_to_the_dead_letter_queue(
    app: SqsApp, autojump_clock: trio.testing.MockClock
) -> None:
    dlq = await make(app, "dlq")
    policy = f'{{"deadLetterTargetArn": "{ARN}dlq", "maxReceiveCount": 2}}'
    url = await make(app, "q", RedrivePolicy=policy, VisibilityTimeout="1")
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "poison"})
    for _ in range(2):
        assert len(await receive(app, url)) == 1
        await trio.sleep(1)
    assert await receive(app, url) == []
    (moved,) = await receive(app, dlq)
    assert moved["Body"] == "poison"
    assert moved["Attributes"]["DeadLetterQueueSourceArn"] == ARN + "q"
    sources = await ok(app, "ListDeadLetterSourceQueues", {"QueueUrl": dlq})
    assert sources == {"queueUrls": [url]}


async def test_fifo_order_dedup_and_sequence_numbers(
    app: SqsApp, autojump_clock: trio.testing.MockClock
) -> None:
    url = await make(app, "f.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sent = []
    for body in ["1", "2", "3"]:
        sent.append(
            await ok(
                app, "SendMessage", {"QueueUrl": url, "MessageBody": body, "MessageGroupId": "g"}
            )
        )
    numbers = [int(s["SequenceNumber"]) for s in sent]
    assert numbers == sorted(numbers) and all(len(s["SequenceNumber"]) == 20 for s in sent)
    dup = await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "1", "MessageGroupId": "g"})
    assert dup["MessageId"] == sent[0]["MessageId"]
    explicit = {
        "QueueUrl": url,
        "MessageBody": "x",
        "MessageGroupId": "h",
        "MessageDeduplicationId": "d",
    }
    first = await ok(app, "SendMessage", explicit)
    assert (await ok(app, "SendMessage", explicit))["MessageId"] == first["MessageId"]
    got = await receive(app, url, MaxNumberOfMessages=10)
    assert [m["Body"] for m in got] == ["1", "2", "3", "x"]
    assert got[0]["Attributes"]["MessageGroupId"] == "g"
    await trio.sleep(301)  # the five minutes are over: the same id is a new message
    assert (await ok(app, "SendMessage", explicit))["MessageId"] != first["MessageId"]
    bad = await call(app, "SendMessage", {"QueueUrl": url, "MessageBody": "m"})
    assert bad.code == "MissingParameter"
    delayed = {"QueueUrl": url, "MessageBody": "m", "MessageGroupId": "g", "DelaySeconds": 2}
    assert (await call(app, "SendMessage", delayed)).code == "InvalidParameterValue"


async def test_fifo_expired_receipt_handle(
    app: SqsApp, autojump_clock: trio.testing.MockClock
) -> None:
    url = await make(app, "f.fifo", FifoQueue="true", VisibilityTimeout="1")
    body = {
        "QueueUrl": url,
        "MessageBody": "m",
        "MessageGroupId": "g",
        "MessageDeduplicationId": "1",
    }
    await ok(app, "SendMessage", body)
    (message,) = await receive(app, url)
    await trio.sleep(2)
    answer = await call(
        app, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]}
    )
    assert answer.code == "InvalidParameterValue"
    assert answer.body["message"].endswith("Reason: The receipt handle has expired.")


async def test_messages_survive_reopening(tmp_path: Path) -> None:
    async with open_queues(tmp_path, region="us-east-1", clock=trio_clock) as service:
        app = SqsApp(service, region="us-east-1")
        url = await make(app, "q", VisibilityTimeout="0")
        fifo = await make(app, "f.fifo", FifoQueue="true")
        await ok(
            app,
            "SendMessage",
            {
                "QueueUrl": url,
                "MessageBody": "kept",
                "MessageAttributes": {"A": {"DataType": "Binary", "BinaryValue": "AAE="}},
            },
        )
        await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "deleted"})
        for message in await receive(app, url, MaxNumberOfMessages=10):
            if message["Body"] == "deleted":
                await ok(
                    app,
                    "DeleteMessage",
                    {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]},
                )
        dedup = {
            "QueueUrl": fifo,
            "MessageBody": "f",
            "MessageGroupId": "g",
            "MessageDeduplicationId": "d",
        }
        first = await ok(app, "SendMessage", dedup)
    async with open_queues(tmp_path, region="us-east-1", clock=trio_clock) as service:
        app = SqsApp(service, region="us-east-1")
        (message,) = await receive(app, url, MessageAttributeNames=["All"])
        assert message["Body"] == "kept"
        assert message["Attributes"]["ApproximateReceiveCount"] == "2"
        assert message["MessageAttributes"] == {"A": {"DataType": "Binary", "BinaryValue": "AAE="}}
        assert (await ok(app, "SendMessage", dedup))["MessageId"] == first["MessageId"]
        assert service.queue_exists(ARN + "f.fifo")


async def test_interface_for_the_engine(service: QueueService) -> None:
    assert not service.queue_exists(ARN + "dest")
    with pytest.raises(QueueDoesNotExist):
        await service.send_message(ARN + "dest", "{}")
    await service.catalog.create("dest", {}, {})
    attributes = {"RequestID": {"DataType": "String", "StringValue": "r-1"}}
    message_id = await service.send_message(ARN + "dest", '{"a": 1}', attributes)
    (message,) = await service.receive(
        service.catalog.get("dest"), count=1, visibility_s=None, wait_s=0
    )
    assert message.id == message_id and message.attributes == attributes


async def test_an_idle_service_does_no_work(
    app: SqsApp, service: QueueService, autojump_clock: trio.testing.MockClock
) -> None:
    url = await make(app, "q", VisibilityTimeout="1")
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "m"})
    (message,) = await receive(app, url)
    await ok(app, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
    await trio.sleep(5)  # the stale visibility deadline passes once
    batches = service.journal.stats.batches
    await trio.sleep(3600)
    assert service.journal.stats.batches == batches
    assert service._deadlines == []
