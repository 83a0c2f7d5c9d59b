"""The SQS service through the real boto3 client (and the AWS CLI) against a real daemon:
queues, messages and their digests, delays, visibility, dead letters, FIFO groups under
concurrent consumers, long polls, AWS's error codes, and messages kept across a restart."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Daemon

pytestmark = pytest.mark.privileged

ACCOUNT = "000000000000"
ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
AWS = Path(sys.executable).parent / "aws"


@pytest.fixture(scope="module")
def sqs_daemon(daemon_factory: Callable[[], Daemon]) -> Daemon:
    """A daemon of this module's own: the restart test stops and starts it."""
    d = daemon_factory()
    d.start()
    return d


@pytest.fixture
def sqs(sqs_daemon: Daemon) -> Any:
    return sqs_daemon.sqs_client()


@pytest.fixture
def queue(sqs: Any) -> Iterator[Callable[..., str]]:
    """Make queues with unique names; deleted after the test."""
    urls: list[str] = []

    def make(suffix: str = "", **attributes: str) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}{suffix}"
        url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        urls.append(url)
        return url

    yield make
    for url in urls:
        try:
            sqs.delete_queue(QueueUrl=url)
        except botocore.exceptions.ClientError:
            pass


def name_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def receive(sqs: Any, url: str, **extra: Any) -> list[dict[str, Any]]:
    got = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["All"], **extra)
    messages: list[dict[str, Any]] = got.get("Messages", [])
    return messages


def test_queue_lifecycle(sqs: Any, sqs_daemon: Daemon, queue: Callable[..., str]) -> None:
    url = queue()
    name = name_of(url)
    assert url == f"{sqs_daemon.endpoint}/{ACCOUNT}/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    sqs.send_message(QueueUrl=url, MessageBody="m")
    sqs.purge_queue(QueueUrl=url)
    assert receive(sqs, url) == []
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as caught:
        sqs.get_queue_url(QueueName=name)
    error = caught.value.response["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["Message"] == "The specified queue does not exist."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_attributes_round_trip(sqs: Any, queue: Callable[..., str]) -> None:
    url = queue(DelaySeconds="2", VisibilityTimeout="45")
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "600"})
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["DelaySeconds"] == "2" and attrs["VisibilityTimeout"] == "45"
    assert attrs["MessageRetentionPeriod"] == "600"
    assert attrs["QueueArn"] == ARN + name_of(url)
    assert attrs["MaximumMessageSize"] == "1048576"
    sqs.tag_queue(QueueUrl=url, Tags={"team": "a"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert "Tags" not in sqs.list_queue_tags(QueueUrl=url)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sqs.create_queue(QueueName=name_of(url), Attributes={"DelaySeconds": "3"})
    assert caught.value.response["Error"]["Code"] == "QueueAlreadyExists"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "43201"})
    assert caught.value.response["Error"]["Code"] == "InvalidAttributeValue"


def test_send_receive_delete_with_digests(sqs: Any, queue: Callable[..., str]) -> None:
    url = queue()
    attributes = {"Foo": {"DataType": "String", "StringValue": "Bar"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="msg", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"msg").hexdigest()
    assert sent["MD5OfMessageAttributes"] == "ae7155c6026991b6d54b11589678bf9c"  # AWS's
    (message,) = receive(sqs, url, MessageAttributeNames=["All"])
    assert message["MessageId"] == sent["MessageId"] and message["Body"] == "msg"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["MessageAttributes"] == attributes
    system = message["Attributes"]
    assert system["ApproximateReceiveCount"] == "1" and system["SentTimestamp"].isdigit()
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    batch = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"b{i}"} for i in range(3)]
    )
    assert len(batch["Successful"]) == 3 and not batch.get("Failed")
    got = receive(sqs, url, MaxNumberOfMessages=10)
    assert sorted(m["Body"] for m in got) == ["b0", "b1", "b2"]
    deleted = sqs.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
    )
    assert len(deleted["Successful"]) == 3
    assert receive(sqs, url) == []


def test_delay_seconds(sqs: Any, queue: Callable[..., str]) -> None:
    url = queue()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
    assert receive(sqs, url) == []
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )
    assert attrs["Attributes"] == {"ApproximateNumberOfMessagesDelayed": "1"}
    started = time.monotonic()
    (message,) = receive(sqs, url, WaitTimeSeconds=10)
    assert message["Body"] == "later"
    assert 1.0 < time.monotonic() - started < 4.0


def test_visibility_expiry_and_change(sqs: Any, queue: Callable[..., str]) -> None:
    url = queue(VisibilityTimeout="1")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    assert len(receive(sqs, url)) == 1
    assert receive(sqs, url) == []
    time.sleep(1.2)
    (second,) = receive(sqs, url, VisibilityTimeout=60)
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(
        QueueUrl=url, ReceiptHandle=second["ReceiptHandle"], VisibilityTimeout=0
    )
    (third,) = receive(sqs, url)
    assert third["Attributes"]["ApproximateReceiveCount"] == "3"
    answer = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "a", "ReceiptHandle": third["ReceiptHandle"], "VisibilityTimeout": 30}],
    )
    assert [e["Id"] for e in answer["Successful"]] == ["a"]


def test_redrive_to_a_dead_letter_queue(sqs: Any, queue: Callable[..., str]) -> None:
    dlq = queue()
    policy = json.dumps({"deadLetterTargetArn": ARN + name_of(dlq), "maxReceiveCount": 2})
    url = queue(VisibilityTimeout="1", RedrivePolicy=policy)
    sent = sqs.send_message(QueueUrl=url, MessageBody="poison")
    for _ in range(2):
        assert len(receive(sqs, url)) == 1
        time.sleep(1.1)
    assert receive(sqs, url) == []
    (moved,) = receive(sqs, dlq)
    assert moved["MessageId"] == sent["MessageId"] and moved["Body"] == "poison"
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [url]


def test_fifo_order_per_group_with_concurrent_consumers(
    sqs: Any, sqs_daemon: Daemon, queue: Callable[..., str]
) -> None:
    url = queue(".fifo", FifoQueue="true", ContentBasedDeduplication="true")
    groups = ["a", "b", "c"]
    for i in range(8):
        entries = [{"Id": g, "MessageBody": f"{g}-{i}", "MessageGroupId": g} for g in groups]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    dup = sqs.send_message(QueueUrl=url, MessageBody="a-0", MessageGroupId="a")
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consume() -> None:
        client = sqs_daemon.sqs_client()
        try:
            idle = 0
            while idle < 3:
                got = client.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=3, MessageSystemAttributeNames=["All"]
                ).get("Messages", [])
                if not got:
                    idle += 1
                    time.sleep(0.05)
                    continue
                with lock:  # recorded before the delete that lets the group go on
                    for m in got:
                        group, index = m["Body"].split("-")
                        seen.append((group, int(index)))
                for m in got:
                    client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for g in groups:
        assert [i for group, i in seen if group == g] == list(range(8))
    assert len(seen) == 24  # the duplicate of a-0 was not enqueued again
    assert dup["SequenceNumber"].isdigit() and len(dup["SequenceNumber"]) >= 20


def test_fifo_deduplication_id(sqs: Any, queue: Callable[..., str]) -> None:
    url = queue(".fifo", FifoQueue="true")
    first = sqs.send_message(
        QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    again = sqs.send_message(
        QueueUrl=url, MessageBody="y", MessageGroupId="g", MessageDeduplicationId="d1"
    )
    assert again["MessageId"] == first["MessageId"]
    assert [m["Body"] for m in receive(sqs, url, MaxNumberOfMessages=10)] == ["x"]
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        sqs.send_message(QueueUrl=url, MessageBody="z", MessageGroupId="g")
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_long_poll_wakes_on_a_send_from_another_client(
    sqs: Any, sqs_daemon: Daemon, queue: Callable[..., str]
) -> None:
    url = queue()
    result: dict[str, Any] = {}

    def poll() -> None:
        started = time.monotonic()
        result["messages"] = (
            sqs_daemon.sqs_client()
            .receive_message(QueueUrl=url, WaitTimeSeconds=20)
            .get("Messages", [])
        )
        result["returned"] = time.monotonic()
        result["waited"] = result["returned"] - started

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(1.0)
    sent_at = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody="wake")
    poller.join(25)
    assert [m["Body"] for m in result["messages"]] == ["wake"]
    assert result["returned"] - sent_at < 0.5
    assert result["waited"] < 5


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda s, u: s.send_message(QueueUrl=u, MessageBody="x" * 1_048_577),
            "InvalidParameterValue",
        ),
        (
            lambda s, u: s.receive_message(QueueUrl=u, MaxNumberOfMessages=11),
            "InvalidParameterValue",
        ),
        (lambda s, u: s.delete_message(QueueUrl=u, ReceiptHandle="nope"), "ReceiptHandleIsInvalid"),
        (
            lambda s, u: s.send_message_batch(
                QueueUrl=u,
                Entries=[{"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}],
            ),
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        ),
        (
            lambda s, u: s.get_queue_attributes(QueueUrl=u, AttributeNames=["Nope"]),
            "InvalidAttributeName",
        ),
        (
            lambda s, u: s.send_message(QueueUrl=u + "-missing", MessageBody="x"),
            "AWS.SimpleQueueService.NonExistentQueue",
        ),
    ],
)
def test_errors_carry_aws_codes(
    sqs: Any, queue: Callable[..., str], call: Callable[[Any, str], Any], code: str
) -> None:
    url = queue()
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(sqs, url)
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["RequestId"]


def test_empty_and_oversized_batches(sqs: Any, queue: Callable[..., str]) -> None:
    url = queue()
    with pytest.raises(sqs.exceptions.TooManyEntriesInBatchRequest) as caught:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "m"} for i in range(11)]
        )
    assert caught.value.response["Error"]["Code"] == (
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    )


def test_messages_survive_a_restart(
    sqs: Any, sqs_daemon: Daemon, queue: Callable[..., str]
) -> None:
    url = queue(VisibilityTimeout="1")
    fifo = queue(".fifo", FifoQueue="true")
    sent = sqs.send_message(QueueUrl=url, MessageBody="kept")
    sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="1")
    sqs_daemon.stop(9)  # SIGKILL: an acknowledged send must already be on disk
    sqs_daemon.start()
    client = sqs_daemon.sqs_client()
    (message,) = receive(client, url)
    assert message["MessageId"] == sent["MessageId"]
    assert [m["Body"] for m in receive(client, fifo)] == ["f"]
    again = client.send_message(
        QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="1"
    )
    assert receive(client, fifo) == []  # deduplicated: the id was kept across the restart
    assert again["MessageId"]


def test_aws_cli_receive_message(
    sqs: Any, sqs_daemon: Daemon, queue: Callable[..., str], tmp_path: Path
) -> None:
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed in the venv")
    url = queue()
    sqs.send_message(QueueUrl=url, MessageBody="from boto3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "HOME": str(tmp_path),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }
    )
    done = subprocess.run(
        [str(AWS), "--endpoint-url", sqs_daemon.endpoint, "--output", "json",
         "sqs", "receive-message", "--queue-url", url, "--wait-time-seconds", "1"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (message,) = json.loads(done.stdout)["Messages"]
    assert message["Body"] == "from boto3"
