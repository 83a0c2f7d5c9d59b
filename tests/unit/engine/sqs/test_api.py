"""SqsApp end to end over ASGI: queues, messages, errors in AWS's shapes."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from engine.sqs.api import SqsApp
from tests.unit.engine.sqs.helpers import Answer, call

URL = "http://sqs.test:1234/000000000000/"


async def ok(app: SqsApp, operation: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = await call(app, operation, body)
    assert answer.status == 200, answer.body
    assert answer.headers["x-amzn-requestid"]
    return answer.body


async def fails(app: SqsApp, operation: str, body: dict[str, Any] | None = None) -> Answer:
    answer = await call(app, operation, body)
    assert answer.status >= 400, answer.body
    assert answer.headers["x-amzn-requestid"]
    return answer


async def test_queue_lifecycle(app: SqsApp) -> None:
    created = await ok(
        app, "CreateQueue", {"QueueName": "jobs", "Attributes": {"DelaySeconds": "1"}}
    )
    assert created == {"QueueUrl": URL + "jobs"}
    assert await ok(app, "CreateQueue", {"QueueName": "jobs"}) == created
    await ok(app, "CreateQueue", {"QueueName": "other"})
    assert await ok(app, "GetQueueUrl", {"QueueName": "jobs"}) == created
    assert await ok(app, "ListQueues", {"QueueNamePrefix": "jo"}) == {"QueueUrls": [URL + "jobs"]}
    page = await ok(app, "ListQueues", {"MaxResults": 1})
    assert page["QueueUrls"] == [URL + "jobs"] and page["NextToken"]
    rest = await ok(app, "ListQueues", {"MaxResults": 1, "NextToken": page["NextToken"]})
    assert rest == {"QueueUrls": [URL + "other"]}

    again = await fails(
        app, "CreateQueue", {"QueueName": "jobs", "Attributes": {"DelaySeconds": "2"}}
    )
    assert again.code == "QueueAlreadyExists"
    assert again.body == {
        "__type": "com.amazonaws.sqs#QueueNameExists",
        "message": "A queue already exists with the same name and a different value for "
        "attribute DelaySeconds",
    }
    await ok(app, "DeleteQueue", {"QueueUrl": URL + "jobs"})
    gone = await fails(app, "GetQueueUrl", {"QueueName": "jobs"})
    assert gone.status == 400
    assert gone.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert gone.body == {
        "__type": "com.amazonaws.sqs#QueueDoesNotExist",
        "message": "The specified queue does not exist.",
    }


async def test_attributes_and_tags_round_trip(app: SqsApp) -> None:
    url = (await ok(app, "CreateQueue", {"QueueName": "q", "tags": {"a": "1"}}))["QueueUrl"]
    await ok(
        app, "SetQueueAttributes", {"QueueUrl": url, "Attributes": {"VisibilityTimeout": "45"}}
    )
    got = await ok(
        app,
        "GetQueueAttributes",
        {"QueueUrl": url, "AttributeNames": ["VisibilityTimeout", "QueueArn"]},
    )
    assert got == {
        "Attributes": {
            "VisibilityTimeout": "45",
            "QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
        }
    }
    assert await ok(app, "GetQueueAttributes", {"QueueUrl": url}) == {}
    every = (await ok(app, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]}))[
        "Attributes"
    ]
    assert every["ApproximateNumberOfMessages"] == "0" and every["CreatedTimestamp"].isdigit()
    bad = await fails(app, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["Nope"]})
    assert bad.code == "InvalidAttributeName"
    await ok(app, "TagQueue", {"QueueUrl": url, "Tags": {"b": "2"}})
    await ok(app, "UntagQueue", {"QueueUrl": url, "TagKeys": ["a"]})
    assert await ok(app, "ListQueueTags", {"QueueUrl": url}) == {"Tags": {"b": "2"}}


async def test_send_receive_delete_with_digests(app: SqsApp) -> None:
    url = (await ok(app, "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
    attributes = {
        "Foo": {"DataType": "String", "StringValue": "Bar"},
        "trace.id": {"DataType": "Number", "StringValue": "7"},
    }
    sent = await ok(
        app, "SendMessage", {"QueueUrl": url, "MessageBody": "msg", "MessageAttributes": attributes}
    )
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"msg").hexdigest()
    assert "MD5OfMessageAttributes" in sent and "SequenceNumber" not in sent
    got = await ok(
        app,
        "ReceiveMessage",
        {
            "QueueUrl": url,
            "MessageAttributeNames": ["Foo"],
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SenderId"],
        },
    )
    (message,) = got["Messages"]
    assert message["Body"] == "msg" and message["MessageId"] == sent["MessageId"]
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"] == {"Foo": attributes["Foo"]}
    assert message["MD5OfMessageAttributes"] == "ae7155c6026991b6d54b11589678bf9c"
    assert set(message["Attributes"]) == {"ApproximateReceiveCount", "SenderId"}
    await ok(app, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
    await ok(app, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": message["ReceiptHandle"]})
    assert await ok(app, "ReceiveMessage", {"QueueUrl": url}) == {}
    bad = await fails(app, "DeleteMessage", {"QueueUrl": url, "ReceiptHandle": "garbage"})
    assert bad.code == "ReceiptHandleIsInvalid"


async def test_prefix_filter_of_message_attributes(app: SqsApp) -> None:
    url = (await ok(app, "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
    attributes = {
        name: {"DataType": "String", "StringValue": "v"} for name in ("trace.a", "trace.b", "other")
    }
    await ok(
        app, "SendMessage", {"QueueUrl": url, "MessageBody": "m", "MessageAttributes": attributes}
    )
    got = await ok(app, "ReceiveMessage", {"QueueUrl": url, "MessageAttributeNames": ["trace.*"]})
    assert set(got["Messages"][0]["MessageAttributes"]) == {"trace.a", "trace.b"}


async def test_batches(app: SqsApp) -> None:
    url = (await ok(app, "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
    entries = [
        {"Id": "ok", "MessageBody": "a"},
        {"Id": "bad", "MessageBody": "b", "DelaySeconds": 901},
    ]
    answer = await ok(app, "SendMessageBatch", {"QueueUrl": url, "Entries": entries})
    assert [e["Id"] for e in answer["Successful"]] == ["ok"]
    assert answer["Failed"][0]["Id"] == "bad" and answer["Failed"][0]["SenderFault"] is True
    assert answer["Failed"][0]["Code"] == "InvalidParameterValue"
    got = await ok(app, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})
    handles = [
        {"Id": f"e{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got["Messages"])
    ]
    handles.append({"Id": "junk", "ReceiptHandle": "x"})
    deleted = await ok(app, "DeleteMessageBatch", {"QueueUrl": url, "Entries": handles})
    assert [e["Id"] for e in deleted["Successful"]] == ["e0"]
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"

    cases = [
        ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
        (
            [{"Id": str(i), "MessageBody": "x"} for i in range(11)],
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        ([{"Id": "a", "MessageBody": "x"}] * 2, "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        ([{"Id": "a b", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
        (
            [{"Id": "a", "MessageBody": "x" * 600_000}, {"Id": "b", "MessageBody": "x" * 600_000}],
            "AWS.SimpleQueueService.BatchRequestTooLong",
        ),
    ]
    for batch, code in cases:
        assert (
            await fails(app, "SendMessageBatch", {"QueueUrl": url, "Entries": batch})
        ).code == code


@pytest.mark.parametrize(
    ("operation", "body", "status", "code", "message"),
    [
        (
            "SendMessage",
            {"QueueUrl": URL + "q"},
            400,
            "MissingParameter",
            "The request must contain the parameter MessageBody.",
        ),
        (
            "ReceiveMessage",
            {"QueueUrl": URL + "q", "MaxNumberOfMessages": 11},
            400,
            "InvalidParameterValue",
            "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 "
            "and 10, if provided.",
        ),
        (
            "ReceiveMessage",
            {"QueueUrl": URL + "q", "WaitTimeSeconds": 21},
            400,
            "InvalidParameterValue",
            "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, "
            "if provided.",
        ),
        (
            "SendMessage",
            {"QueueUrl": URL + "q", "MessageBody": "x" * 1_048_577},
            400,
            "InvalidParameterValue",
            "One or more parameters are invalid. Reason: Message must be shorter than 1048576 "
            "bytes.",
        ),
        (
            "SendMessage",
            {"QueueUrl": URL + "q", "MessageBody": "\x00"},
            400,
            "InvalidMessageContents",
            None,
        ),
        (
            "SendMessage",
            {
                "QueueUrl": URL + "q",
                "MessageBody": "m",
                "MessageAttributes": {"E": {"DataType": "String", "StringValue": ""}},
            },
            400,
            "InvalidParameterValue",
            "Message (user) attribute 'E' must contain a non-empty value of type 'String'.",
        ),
        (
            "SendMessage",
            {"QueueUrl": URL + "nope", "MessageBody": "m"},
            400,
            "AWS.SimpleQueueService.NonExistentQueue",
            "The specified queue does not exist.",
        ),
        (
            "SendMessage",
            {"QueueUrl": URL + "q", "MessageBody": 5},
            400,
            "SerializationException",
            None,
        ),
        ("Frobnicate", {}, 400, "UnknownOperationException", None),
        ("AddPermission", {}, 400, "AWS.SimpleQueueService.UnsupportedOperation", None),
    ],
)
async def test_errors_in_aws_shapes(
    app: SqsApp, operation: str, body: dict[str, Any], status: int, code: str, message: str | None
) -> None:
    await ok(app, "CreateQueue", {"QueueName": "q"})
    answer = await fails(app, operation, body)
    assert (answer.status, answer.code) == (status, code)
    assert answer.headers["x-amzn-query-error"].endswith(";Sender")
    if message is not None:
        assert answer.body["message"] == message


async def test_invalid_json_body(app: SqsApp) -> None:
    answer = await call(app, "ListQueues", raw=b"{nope")
    assert answer.status == 400 and answer.body["__type"].endswith("#SerializationException")


async def test_purge_twice_within_a_minute(app: SqsApp) -> None:
    url = (await ok(app, "CreateQueue", {"QueueName": "q"}))["QueueUrl"]
    await ok(app, "SendMessage", {"QueueUrl": url, "MessageBody": "m"})
    await ok(app, "PurgeQueue", {"QueueUrl": url})
    answer = await fails(app, "PurgeQueue", {"QueueUrl": url})
    assert (answer.status, answer.code) == (403, "AWS.SimpleQueueService.PurgeQueueInProgress")
    assert await ok(app, "ReceiveMessage", {"QueueUrl": url}) == {}
