"""A queue message as the SQS event record Lambda hands a function (Developer Guide, "Using
Lambda with Amazon SQS", the example event). Pure.

    {"Records": [{"messageId", "receiptHandle", "body", "attributes": {...strings},
                  "messageAttributes": {name: {"stringValue" | "binaryValue",
                                               "stringListValues": [], "binaryListValues": [],
                                               "dataType"}},
                  "md5OfBody", ["md5OfMessageAttributes"], "eventSource": "aws:sqs",
                  "eventSourceARN", "awsRegion"}]}
"""

from __future__ import annotations

from typing import Any

from engine.sqs.message import Message, receipt_handle, system_attributes

_SYSTEM = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
)
_FIFO = ("SequenceNumber", "MessageGroupId", "MessageDeduplicationId")


def sqs_record(
    message: Message, *, queue_name: str, queue_arn: str, region: str, fifo: bool
) -> dict[str, Any]:
    names = _SYSTEM + _FIFO if fifo else (*_SYSTEM, "AWSTraceHeader")
    record: dict[str, Any] = {
        "messageId": message.id,
        "receiptHandle": receipt_handle(queue_name, message),
        "body": message.body,
        "attributes": system_attributes(message, names, fifo=fifo),
        "messageAttributes": {
            name: _attribute(value) for name, value in message.attributes.items()
        },
        "md5OfBody": message.md5_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.md5_attributes:
        record["md5OfMessageAttributes"] = message.md5_attributes
    return record


def _attribute(value: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = value["BinaryValue"]
    out["stringListValues"] = []
    out["binaryListValues"] = []
    out["dataType"] = value["DataType"]
    return out
