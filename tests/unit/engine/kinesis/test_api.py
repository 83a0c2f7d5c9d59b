"""KinesisApp end to end over ASGI: streams, records, iterators, errors in Kinesis's shapes."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import trio
import trio.testing

from engine.kinesis.api import KinesisApp
from tests.unit.engine.kinesis.helpers import call, fails, ok

ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def iterator(app: KinesisApp, kind: str = "TRIM_HORIZON", **extra: Any) -> str:
    body = {"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": kind}
    token: str = (await ok(app, "GetShardIterator", {**body, **extra}))["ShardIterator"]
    return token


async def test_stream_lifecycle(app: KinesisApp) -> None:
    assert await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 2}) == {}
    description = (await ok(app, "DescribeStream", {"StreamName": "s"}))["StreamDescription"]
    created = description.pop("StreamCreationTimestamp")
    assert isinstance(created, float)
    shards = description.pop("Shards")
    assert description == {
        "StreamName": "s",
        "StreamARN": ARN + "s",
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": "PROVISIONED"},
        "RetentionPeriodHours": 24,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
        "HasMoreShards": False,
    }
    assert [s["ShardId"] for s in shards] == ["shardId-000000000000", "shardId-000000000001"]
    assert shards[1]["HashKeyRange"] == {
        "StartingHashKey": "170141183460469231731687303715884105728",
        "EndingHashKey": "340282366920938463463374607431768211455",
    }
    start = shards[0]["SequenceNumberRange"]["StartingSequenceNumber"]
    assert len(start) == 56 and set(shards[0]["SequenceNumberRange"]) == {"StartingSequenceNumber"}

    summary = (await ok(app, "DescribeStreamSummary", {"StreamARN": ARN + "s"}))[
        "StreamDescriptionSummary"
    ]
    assert summary["OpenShardCount"] == 2 and summary["ConsumerCount"] == 0
    assert summary["StreamCreationTimestamp"] == created

    assert await fails(app, "CreateStream", {"StreamName": "s", "ShardCount": 1}) == {
        "__type": "ResourceInUseException",
        "message": "Stream s under account 000000000000 already exists.",
    }
    assert await ok(app, "DeleteStream", {"StreamName": "s"}) == {}
    assert await fails(app, "DescribeStream", {"StreamName": "s"}) == {
        "__type": "ResourceNotFoundException",
        "message": "Stream s under account 000000000000 not found.",
    }
    assert await fails(app, "DeleteStream", {"StreamARN": ARN + "s"}) == {
        "__type": "ResourceNotFoundException",
        "message": "Stream s under account 000000000000 not found.",
    }


async def test_modes(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "auto"})
    await ok(
        app, "CreateStream", {"StreamName": "od", "StreamModeDetails": {"StreamMode": "ON_DEMAND"}}
    )
    for name in ("auto", "od"):
        summary = (await ok(app, "DescribeStreamSummary", {"StreamName": name}))[
            "StreamDescriptionSummary"
        ]
        assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
        assert summary["OpenShardCount"] == 4
    refused = await fails(
        app,
        "CreateStream",
        {"StreamName": "p", "StreamModeDetails": {"StreamMode": "PROVISIONED"}},
    )
    assert refused["__type"] == "InvalidArgumentException"
    refused = await fails(
        app,
        "CreateStream",
        {"StreamName": "p", "ShardCount": 2, "StreamModeDetails": {"StreamMode": "ON_DEMAND"}},
    )
    assert refused["__type"] == "InvalidArgumentException"


async def test_shard_limit(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "big", "ShardCount": 499})
    refused = await fails(app, "CreateStream", {"StreamName": "more", "ShardCount": 2})
    assert refused["__type"] == "LimitExceededException"
    assert refused["message"].startswith(
        "This request would exceed the shard limit for the account 000000000000 in us-east-1. "
        "Current shard count for the account: 499. Limit: 500. Number of additional shards "
        "that would have resulted from this request: 2."
    )


async def test_put_and_get_records(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    first = await ok(
        app, "PutRecord", {"StreamName": "s", "Data": b64(b"\x00\xff"), "PartitionKey": "a"}
    )
    assert first["ShardId"] == "shardId-000000000000" and len(first["SequenceNumber"]) == 56
    batch = await ok(
        app,
        "PutRecords",
        {
            "StreamARN": ARN + "s",
            "Records": [{"Data": b64(f"r{i}".encode()), "PartitionKey": f"k{i}"} for i in range(5)],
        },
    )
    assert batch["FailedRecordCount"] == 0 and len(batch["Records"]) == 5
    seqs = [first["SequenceNumber"]] + [r["SequenceNumber"] for r in batch["Records"]]
    assert seqs == sorted(seqs)

    got = await ok(app, "GetRecords", {"ShardIterator": await iterator(app), "Limit": 4})
    assert [r["SequenceNumber"] for r in got["Records"]] == seqs[:4]
    assert got["Records"][0]["Data"] == b64(b"\x00\xff")
    assert got["Records"][0]["PartitionKey"] == "a"
    assert isinstance(got["Records"][0]["ApproximateArrivalTimestamp"], float)
    assert got["MillisBehindLatest"] >= 0
    rest = await ok(app, "GetRecords", {"ShardIterator": got["NextShardIterator"]})
    assert [r["SequenceNumber"] for r in rest["Records"]] == seqs[4:]
    assert rest["MillisBehindLatest"] == 0
    empty = await ok(app, "GetRecords", {"ShardIterator": rest["NextShardIterator"]})
    assert empty["Records"] == [] and empty["NextShardIterator"]

    after = await iterator(app, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2])
    got = await ok(app, "GetRecords", {"ShardIterator": after})
    assert [r["SequenceNumber"] for r in got["Records"]] == seqs[3:]
    at = await iterator(app, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2])
    assert len((await ok(app, "GetRecords", {"ShardIterator": at}))["Records"]) == 4
    latest = await iterator(app, "LATEST")
    assert (await ok(app, "GetRecords", {"ShardIterator": latest}))["Records"] == []


async def test_explicit_hash_key_places_the_record(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 3})
    body = {"StreamName": "s", "Data": b64(b"x"), "PartitionKey": "a"}
    edge = "113427455640312821154458202477256070485"  # shard 1's starting hash key
    placed = await ok(app, "PutRecord", {**body, "ExplicitHashKey": edge})
    assert placed["ShardId"] == "shardId-000000000001"
    placed = await ok(app, "PutRecord", body)  # md5("a") = 0x0cc1…: shard 0
    assert placed["ShardId"] == "shardId-000000000000"
    too_big = str(2**128)
    assert await fails(app, "PutRecord", {**body, "ExplicitHashKey": too_big}) == {
        "__type": "InvalidArgumentException",
        "message": "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
        f"Specified value was {too_big}",
    }
    refused = await fails(app, "PutRecord", {**body, "ExplicitHashKey": "-1"})
    assert refused["__type"] == "ValidationException"
    assert "at 'explicitHashKey' failed to satisfy constraint" in refused["message"]


async def test_record_validation_in_kinesis_words(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    big = b64(b"\x00" * (1024 * 1024 + 1))
    assert await fails(app, "PutRecord", {"StreamName": "s", "Data": big, "PartitionKey": "a"}) == {
        "__type": "ValidationException",
        "message": "1 validation error detected: Value "
        "'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy "
        "constraint: Member must have length less than or equal to 1048576",
    }
    refused = await fails(
        app,
        "PutRecords",
        {
            "StreamName": "s",
            "Records": [
                {"Data": b64(b"ok"), "PartitionKey": "fine"},
                {"Data": b64(b"x"), "PartitionKey": ""},
                {"Data": b64(b"y")},
            ],
        },
    )
    assert refused == {
        "__type": "ValidationException",
        "message": "2 validation errors detected: Value '' at 'records.2.member.partitionKey' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1; "
        "Value null at 'records.3.member.partitionKey' failed to satisfy constraint: Member "
        "must not be null",
    }
    # nothing of a refused batch is stored
    assert (await ok(app, "GetRecords", {"ShardIterator": await iterator(app)}))["Records"] == []
    refused = await fails(app, "PutRecords", {"StreamName": "s", "Records": []})
    assert refused["message"] == (
        "1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    refused = await fails(app, "PutRecord", {"StreamName": "s", "Data": "%%%", "PartitionKey": "a"})
    assert refused["__type"] == "SerializationException"


async def test_iterator_errors(app: KinesisApp, autojump_clock: trio.testing.MockClock) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    token = await iterator(app)
    await trio.sleep(301)
    expired = await fails(app, "GetRecords", {"ShardIterator": token})
    assert expired["__type"] == "ExpiredIteratorException"
    assert expired["message"].startswith("Iterator expired. The iterator was created at time ")
    assert expired["message"].endswith(
        "which is further in the future than the tolerated delay of 300000 milliseconds."
    )
    assert await fails(app, "GetRecords", {"ShardIterator": "bm90IGFuIGl0ZXJhdG9y"}) == {
        "__type": "InvalidArgumentException",
        "message": "Invalid ShardIterator.",
    }
    body = {"StreamName": "s", "ShardIteratorType": "LATEST"}
    assert await fails(app, "GetShardIterator", {**body, "ShardId": "shardId-000000000007"}) == {
        "__type": "ResourceNotFoundException",
        "message": "Shard shardId-000000000007 in stream s under account 000000000000 does not "
        "exist",
    }
    assert await fails(app, "GetShardIterator", {**body, "ShardId": "nonsense"}) == {
        "__type": "ResourceNotFoundException",
        "message": "Could not find shard nonsense in stream s under account 000000000000.",
    }
    future = await fails(
        app,
        "GetShardIterator",
        {**body, "ShardId": "0", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 4e9},
    )
    assert future["message"].startswith(
        "The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. "
        "timestampInMillis: 4000000000000, currentTimestampInMillis: "
    )
    no_time = await fails(
        app, "GetShardIterator", {**body, "ShardId": "0", "ShardIteratorType": "AT_TIMESTAMP"}
    )
    assert no_time["message"] == (
        "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current "
        "request has no timestamp parameter."
    )
    fresh = await iterator(app)
    await ok(app, "DeleteStream", {"StreamName": "s"})
    assert await fails(app, "GetRecords", {"ShardIterator": fresh}) == {
        "__type": "ResourceNotFoundException",
        "message": "Shard shardId-000000000000 in stream s under account 000000000000 does not "
        "exist",
    }


async def test_at_timestamp(app: KinesisApp, autojump_clock: trio.testing.MockClock) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    put = {"StreamName": "s", "PartitionKey": "k"}
    await ok(app, "PutRecord", {**put, "Data": b64(b"early")})
    await trio.sleep(10)
    middle = (await ok(app, "DescribeStreamSummary", {"StreamName": "s"}))[
        "StreamDescriptionSummary"
    ]["StreamCreationTimestamp"] + 5
    await ok(app, "PutRecord", {**put, "Data": b64(b"late")})
    token = await iterator(app, "AT_TIMESTAMP", Timestamp=middle)
    records = (await ok(app, "GetRecords", {"ShardIterator": token}))["Records"]
    assert [base64.b64decode(r["Data"]) for r in records] == [b"late"]


async def test_retention(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    up = {"StreamName": "s", "RetentionPeriodHours": 48}
    assert await ok(app, "IncreaseStreamRetentionPeriod", up) == {}
    summary = await ok(app, "DescribeStreamSummary", {"StreamName": "s"})
    assert summary["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    cases = {
        ("IncreaseStreamRetentionPeriod", 24): "Requested retention period (24 hours) for "
        "stream s can not be shorter than existing retention period (48 hours). Use "
        "DecreaseRetentionPeriod API.",
        ("DecreaseStreamRetentionPeriod", 72): "Requested retention period (72 hours) for "
        "stream s can not be longer than existing retention period (48 hours). Use "
        "IncreaseRetentionPeriod API.",
        ("DecreaseStreamRetentionPeriod", 12): "Minimum allowed retention period is 24 hours. "
        "Requested retention period (12 hours) is too short.",
        ("IncreaseStreamRetentionPeriod", 9000): "Maximum allowed retention period is 8760 "
        "hours. Requested retention period (9000 hours) is too long.",
    }
    for (operation, hours), message in cases.items():
        body = {"StreamName": "s", "RetentionPeriodHours": hours}
        assert await fails(app, operation, body) == {
            "__type": "InvalidArgumentException",
            "message": message,
        }
    assert await ok(app, "DecreaseStreamRetentionPeriod", {**up, "RetentionPeriodHours": 24}) == {}


async def test_tags(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1, "Tags": {"a": "1"}})
    await ok(app, "AddTagsToStream", {"StreamName": "s", "Tags": {"b": "2", "c": "3"}})
    page = await ok(app, "ListTagsForStream", {"StreamName": "s", "Limit": 2})
    assert page == {
        "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
        "HasMoreTags": True,
    }
    rest = await ok(app, "ListTagsForStream", {"StreamARN": ARN + "s", "ExclusiveStartTagKey": "b"})
    assert rest == {"Tags": [{"Key": "c", "Value": "3"}], "HasMoreTags": False}
    await ok(app, "RemoveTagsFromStream", {"StreamName": "s", "TagKeys": ["a", "zz"]})
    listed = await ok(app, "ListTagsForStream", {"StreamName": "s"})
    assert [t["Key"] for t in listed["Tags"]] == ["b", "c"]
    many = {f"k{i}": "v" for i in range(49)}
    assert await fails(app, "AddTagsToStream", {"StreamName": "s", "Tags": many}) == {
        "__type": "InvalidArgumentException",
        "message": "Failed to add tags to stream s under account 000000000000 because a given "
        "stream cannot have more than 50 tags associated with it.",
    }
    percent = await fails(app, "AddTagsToStream", {"StreamName": "s", "Tags": {"a%": "1"}})
    assert percent["message"].startswith(
        "Failed to add tags to stream s under account 000000000000 because some tags contained "
        "illegal characters."
    )


async def test_list_streams_pages_with_summaries(app: KinesisApp) -> None:
    for name in ("c", "a", "b"):
        await ok(app, "CreateStream", {"StreamName": name, "ShardCount": 1})
    page = await ok(app, "ListStreams", {"Limit": 2})
    assert page["StreamNames"] == ["a", "b"] and page["HasMoreStreams"] is True
    assert [s["StreamARN"] for s in page["StreamSummaries"]] == [ARN + "a", ARN + "b"]
    assert page["StreamSummaries"][0]["StreamStatus"] == "ACTIVE"
    rest = await ok(app, "ListStreams", {"NextToken": page["NextToken"]})
    assert rest["StreamNames"] == ["c"] and rest["HasMoreStreams"] is False
    assert "NextToken" not in rest
    assert (await ok(app, "ListStreams", {"ExclusiveStartStreamName": "a"}))["StreamNames"] == [
        "b",
        "c",
    ]


async def test_list_shards_and_describe_pages(
    app: KinesisApp, autojump_clock: trio.testing.MockClock
) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 5})
    page = await ok(app, "ListShards", {"StreamName": "s", "MaxResults": 2})
    assert [s["ShardId"] for s in page["Shards"]] == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]
    rest = await ok(app, "ListShards", {"NextToken": page["NextToken"]})
    assert [s["ShardId"][-1] for s in rest["Shards"]] == ["2", "3", "4"]
    after = await ok(
        app,
        "ListShards",
        {
            "StreamARN": ARN + "s",
            "ShardFilter": {"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000003"},
        },
    )
    assert [s["ShardId"][-1] for s in after["Shards"]] == ["4"]
    assert await fails(app, "ListShards", {}) == {
        "__type": "InvalidArgumentException",
        "message": "Either NextToken or StreamName should be provided.",
    }
    both = await fails(app, "ListShards", {"StreamName": "s", "NextToken": page["NextToken"]})
    assert both["message"] == "NextToken and StreamName cannot be provided together."
    await trio.sleep(301)
    expired = await fails(app, "ListShards", {"NextToken": page["NextToken"]})
    assert expired["__type"] == "ExpiredNextTokenException"

    described = await ok(app, "DescribeStream", {"StreamName": "s", "Limit": 3})
    assert described["StreamDescription"]["HasMoreShards"] is True
    more = await ok(
        app, "DescribeStream", {"StreamName": "s", "ExclusiveStartShardId": "shardId-000000000002"}
    )
    assert [s["ShardId"][-1] for s in more["StreamDescription"]["Shards"]] == ["3", "4"]


async def test_stream_arn_and_name(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    await ok(app, "CreateStream", {"StreamName": "t", "ShardCount": 1})
    assert await fails(app, "DescribeStreamSummary", {}) == {
        "__type": "InvalidArgumentException",
        "message": "Either StreamName or StreamARN should be provided.",
    }
    mismatch = await fails(
        app, "DescribeStreamSummary", {"StreamName": "s", "StreamARN": ARN + "t"}
    )
    assert mismatch["__type"] == "InvalidArgumentException"
    elsewhere = "arn:aws:kinesis:eu-west-1:000000000000:stream/s"
    assert await fails(app, "DescribeStreamSummary", {"StreamARN": elsewhere}) == {
        "__type": "ResourceNotFoundException",
        "message": "Stream s under account 000000000000 not found.",
    }


async def test_protocol_errors(app: KinesisApp) -> None:
    answer = await call(app, "", target="Kinesis_20131202.Nope")
    assert answer.status == 400
    assert answer.body == {
        "__type": "UnknownOperationException",
        "message": "Unknown operation Kinesis_20131202.Nope",
    }
    assert (await call(app, "", target="AmazonSQS.ListQueues")).body["__type"] == (
        "UnknownOperationException"
    )
    assert await fails(
        app, "MergeShards", {"StreamName": "s", "ShardToMerge": "a", "AdjacentShardToMerge": "b"}
    ) == {
        "__type": "InvalidArgumentException",
        "message": "lambdalet does not implement the Kinesis operation MergeShards.",
    }
    bad_json = await call(app, "ListStreams", raw=b"{nope")
    assert bad_json.status == 400 and bad_json.body["__type"] == "SerializationException"
    wrong_type = await fails(app, "CreateStream", {"StreamName": "s", "ShardCount": "two"})
    assert wrong_type == {
        "__type": "SerializationException",
        "message": "Value of ShardCount cannot be read as a JSON integer.",
    }
    assert await fails(app, "GetShardIterator", {"StreamName": "bad name!", "ShardId": ""}) == {
        "__type": "ValidationException",
        "message": "4 validation errors detected: Value 'bad name!' at 'streamName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; "
        "Value '' at 'shardId' failed to satisfy constraint: Member must have length greater "
        "than or equal to 1; Value '' at 'shardId' failed to satisfy constraint: Member must "
        "satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value null at 'shardIteratorType' "
        "failed to satisfy constraint: Member must not be null",
    }
    limit = await fails(app, "GetRecords", {"ShardIterator": "x", "Limit": 10001})
    assert limit["message"] == (
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 10000"
    )


async def test_dry_run_changes_nothing(app: KinesisApp) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    put = {"StreamName": "s", "Data": b64(b"x"), "PartitionKey": "k", "DryRun": True}
    assert (await fails(app, "PutRecord", put))["__type"] == "DryRunOperationException"
    assert (await ok(app, "GetRecords", {"ShardIterator": await iterator(app)}))["Records"] == []


@pytest.mark.parametrize("kind", ["TRIM_HORIZON", "LATEST"])
async def test_sequence_number_with_the_wrong_type(app: KinesisApp, kind: str) -> None:
    await ok(app, "CreateStream", {"StreamName": "s", "ShardCount": 1})
    body = {
        "StreamName": "s",
        "ShardId": "shardId-000000000000",
        "ShardIteratorType": kind,
        "StartingSequenceNumber": "1",
    }
    assert await fails(app, "GetShardIterator", body) == {
        "__type": "InvalidArgumentException",
        "message": "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
        "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. "
        f"Request specified {kind} and also a StartingSequenceNumber.",
    }
