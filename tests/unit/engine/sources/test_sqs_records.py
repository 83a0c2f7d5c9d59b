"""A queue message as the SQS event record Lambda hands a function (the Developer Guide's
example event), made from messages a real queue service sent and received."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

from engine.model.arns import ACCOUNT_ID
from engine.sources.sqs_records import sqs_record
from engine.sqs.message import Message
from engine.sqs.message_attributes import parse_message_attributes, parse_system_attributes
from engine.sqs.queue import Queue
from engine.sqs.sending import SendRequest
from engine.sqs.service import QueueService
from tests.unit.engine.sources.helpers import QUEUE_PREFIX

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"


async def send_and_receive(queues: QueueService, queue: Queue, request: SendRequest) -> Message:
    await queues.send(queue, [request])
    (message,) = await queues.receive(queue, count=1, visibility_s=None, wait_s=0)
    return message


def record_of(queue: Queue, message: Message) -> dict[str, Any]:
    return sqs_record(
        message, queue_name=queue.name, queue_arn=queue.arn, region="eu-west-1", fifo=queue.fifo
    )


async def test_a_standard_queues_message_with_attributes(queues: QueueService) -> None:
    queue = await queues.catalog.create("q", {}, {})
    attributes = parse_message_attributes(
        {
            "Color": {"DataType": "String", "StringValue": "red"},
            "Count": {"DataType": "Number", "StringValue": "3"},
            "Blob": {"DataType": "Binary", "BinaryValue": base64.b64encode(b"\x00\x01").decode()},
        }
    )
    system = parse_system_attributes(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": TRACE}}
    )
    message = await send_and_receive(
        queues, queue, SendRequest(body="Test message.", attributes=attributes, system=system)
    )
    record = record_of(queue, message)
    assert record == {
        "messageId": message.id,
        "receiptHandle": record["receiptHandle"],
        "body": "Test message.",
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": str(message.sent_ms),
            "SenderId": ACCOUNT_ID,
            "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
            "AWSTraceHeader": TRACE,
        },
        "messageAttributes": {
            "Color": {
                "stringValue": "red",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            },
            "Count": {
                "stringValue": "3",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Number",
            },
            "Blob": {
                "binaryValue": "AAE=",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "Binary",
            },
        },
        "md5OfBody": hashlib.md5(b"Test message.").hexdigest(),
        "md5OfMessageAttributes": message.md5_attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_PREFIX + "q",
        "awsRegion": "eu-west-1",
    }
    uuid.UUID(message.id)
    # the receipt handle is the receive's: deleting with it removes the message
    assert await queues.delete(queue, [str(record["receiptHandle"])]) == [None]
    assert queue.messages == {}


async def test_a_plain_message_has_no_attribute_digest(queues: QueueService) -> None:
    queue = await queues.catalog.create("q", {}, {})
    message = await send_and_receive(queues, queue, SendRequest(body="plain"))
    record = record_of(queue, message)
    assert record["messageAttributes"] == {}
    assert "md5OfMessageAttributes" not in record
    assert set(record["attributes"]) == {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }


async def test_a_fifo_queues_message_shows_its_sequence_group_and_deduplication_ids(
    queues: QueueService,
) -> None:
    queue = await queues.catalog.create("q.fifo", {"FifoQueue": "true"}, {})
    request = SendRequest(body="first", group_id="g-1", dedup_id="d-1")
    message = await send_and_receive(queues, queue, request)
    record = record_of(queue, message)
    assert record["attributes"] == {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": str(message.sent_ms),
        "SenderId": ACCOUNT_ID,
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
        "SequenceNumber": message.sequence_number,
        "MessageGroupId": "g-1",
        "MessageDeduplicationId": "d-1",
    }
    assert len(message.sequence_number) == 20
    assert record["eventSourceARN"] == QUEUE_PREFIX + "q.fifo"
