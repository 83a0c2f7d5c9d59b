"""The Kinesis event record a function receives and the record an OnFailure destination
receives, against the Developer Guide's examples."""

from __future__ import annotations

import json

from engine.kinesis.records import StreamRecord
from engine.sources.kinesis_records import (
    RECORD_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    failure_record,
    kinesis_record,
)

SHARD = "shardId-000000000006"
STREAM = "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream"
ROLE = "arn:aws:iam::123456789012:role/lambda-role"
FUNCTION = "arn:aws:lambda:us-east-2:123456789012:function:myfunction"
FIRST = StreamRecord(
    sequence_number="49590338271490256608559692538361571095921575989136588898",
    partition_key="1",
    data=b"Hello, this is a test.",
    arrival_s=1607497475.0004,
)
LAST = StreamRecord(
    sequence_number="49590338271490256608559692540925702759324208523137515618",
    partition_key="1",
    data=b"\x00\xffbinary",
    arrival_s=1607497476.5678,
)


def test_a_stream_record_as_the_event_record_lambda_hands_a_function() -> None:
    record = kinesis_record(
        FIRST, shard_id=SHARD, stream_arn=STREAM, region="us-east-2", identity_arn=ROLE
    )
    assert record == {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "1",
            "sequenceNumber": FIRST.sequence_number,
            "data": "SGVsbG8sIHRoaXMgaXMgYSB0ZXN0Lg==",
            "approximateArrivalTimestamp": 1607497475.0,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{FIRST.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": ROLE,
        "awsRegion": "us-east-2",
        "eventSourceARN": STREAM,
    }
    binary = kinesis_record(
        LAST, shard_id=SHARD, stream_arn=STREAM, region="us-east-2", identity_arn=ROLE
    )
    assert binary["kinesis"]["data"] == "AP9iaW5hcnk="  # any bytes, base64
    assert binary["kinesis"]["approximateArrivalTimestamp"] == 1607497476.568  # milliseconds
    json.dumps(binary)  # the event is JSON as it is


def test_a_failure_record_after_a_function_error_carries_its_response_context() -> None:
    text = failure_record(
        batch=[FIRST, LAST],
        shard_id=SHARD,
        stream_arn=STREAM,
        function_arn=FUNCTION,
        condition=RETRIES_EXHAUSTED,
        attempts=3,
        request_id="c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
        function_error="Unhandled",
        executed_version="$LATEST",
        now_s=1573691886.0213,
    )
    assert json.loads(text) == {
        "requestContext": {
            "requestId": "c9b8fa9f-5a7f-xmpl-af9c-0c604cde93a5",
            "functionArn": FUNCTION,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": "2019-11-14T00:38:06.021Z",
        "KinesisBatchInfo": {
            "shardId": SHARD,
            "startSequenceNumber": FIRST.sequence_number,
            "endSequenceNumber": LAST.sequence_number,
            "approximateArrivalOfFirstRecord": "2020-12-09T07:04:35.000Z",
            "approximateArrivalOfLastRecord": "2020-12-09T07:04:36.567Z",
            "batchSize": 2,
            "streamArn": STREAM,
        },
    }


def test_a_failure_record_of_a_batch_the_function_never_ran_has_no_response_context() -> None:
    document = json.loads(
        failure_record(
            batch=[FIRST],
            shard_id=SHARD,
            stream_arn=STREAM,
            function_arn=FUNCTION,
            condition=RECORD_AGE_EXCEEDED,
            attempts=0,
            request_id=None,
            function_error=None,
            executed_version=None,
            now_s=1607497999.0,
        )
    )
    assert document["requestContext"] == {
        "requestId": "",
        "functionArn": FUNCTION,
        "condition": "RecordAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert "responseContext" not in document
    info = document["KinesisBatchInfo"]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == FIRST.sequence_number
    assert info["batchSize"] == 1


def test_a_failure_record_after_reported_item_failures_has_no_function_error() -> None:
    document = json.loads(
        failure_record(
            batch=[LAST],
            shard_id=SHARD,
            stream_arn=STREAM,
            function_arn=FUNCTION,
            condition=RETRIES_EXHAUSTED,
            attempts=1,
            request_id="r",
            function_error=None,
            executed_version="3",
            now_s=1607497999.0,
        )
    )
    assert document["responseContext"] == {"statusCode": 200, "executedVersion": "3"}
