"""Stream records as the Kinesis event Lambda hands a function, and the record an OnFailure
destination receives for a batch that was given up (Developer Guide, "Using Lambda with
Kinesis Data Streams" and "Retain discarded batch records"). Pure.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from engine.kinesis.service import StreamRecord

RETRIES_EXHAUSTED: Final = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED: Final = "RecordAgeExceeded"


def kinesis_record(
    record: StreamRecord, *, shard_id: str, stream_arn: str, region: str, identity_arn: str
) -> dict[str, Any]:
    """`identity_arn`: the function's execution role, as Lambda fills invokeIdentityArn."""
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record.partition_key,
            "sequenceNumber": record.sequence_number,
            "data": base64.b64encode(record.data).decode("ascii"),
            "approximateArrivalTimestamp": round(record.arrival_s, 3),
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{record.sequence_number}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": identity_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }


def _stamp(seconds: float) -> str:
    text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def failure_record(
    *,
    batch: Sequence[StreamRecord],
    shard_id: str,
    stream_arn: str,
    function_arn: str,
    condition: str,
    attempts: int,
    request_id: str | None,
    function_error: str | None,
    executed_version: str | None,
    now_s: float,
) -> str:
    """What the mapping's OnFailure destination receives: metadata, not the records."""
    document: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id or "",
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "version": "1.0",
        "timestamp": _stamp(now_s),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": batch[0].sequence_number,
            "endSequenceNumber": batch[-1].sequence_number,
            "approximateArrivalOfFirstRecord": _stamp(batch[0].arrival_s),
            "approximateArrivalOfLastRecord": _stamp(batch[-1].arrival_s),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }
    if executed_version is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            context["functionError"] = function_error
        document["responseContext"] = context
    return json.dumps(document, separators=(",", ":"))
