"""The stream operations: translation between Kinesis's JSON and the catalog, nothing more."""

from __future__ import annotations

from typing import Final

from engine.kinesis.context import Body, Context, Handler
from engine.kinesis.errors import (
    ExpiredNextTokenException,
    InvalidArgumentException,
    ResourceNotFoundException,
)
from engine.kinesis.requests import page_token, read_page_token
from engine.kinesis.shard import Shard
from engine.kinesis.stream import Stream, shard_number
from engine.model.arns import ACCOUNT_ID

# Kinesis's page sizes: at most 100 streams or shards per DescribeStream or ListStreams,
# 1,000 shards per ListShards (by default), 50 tags per ListTagsForStream.
_PAGE: Final = 100
_SHARD_PAGE: Final = 1000
_TAG_PAGE: Final = 50
_TOKEN_LIFETIME_MS: Final = 300_000


async def create_stream(ctx: Context, body: Body) -> Body:
    mode_details = body.get("StreamModeDetails") or {}
    await ctx.service.catalog.create(
        body["StreamName"],
        shard_count=body.get("ShardCount"),
        mode=mode_details.get("StreamMode"),
        tags=body.get("Tags") or {},
        max_record_kib=body.get("MaxRecordSizeInKiB"),
    )
    return {}


async def delete_stream(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.delete(ctx.stream(body))
    return {}


def _shard(shard: Shard) -> Body:
    return {
        "ShardId": shard.shard_id,
        "HashKeyRange": {
            "StartingHashKey": str(shard.starting_hash),
            "EndingHashKey": str(shard.ending_hash),
        },
        "SequenceNumberRange": {"StartingSequenceNumber": shard.starting_sequence_number},
    }


def _summary(stream: Stream) -> Body:
    return {
        "StreamName": stream.name,
        "StreamARN": stream.arn,
        "StreamStatus": "ACTIVE",
        "StreamModeDetails": {"StreamMode": stream.mode},
        "RetentionPeriodHours": stream.retention_hours,
        "StreamCreationTimestamp": stream.created_s,
        "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
        "EncryptionType": "NONE",
    }


def _after(stream: Stream, shard_id: str | None) -> list[Shard]:
    if shard_id is None:
        return stream.shards
    index = shard_number(shard_id)
    return [s for s in stream.shards if index is None or s.index > index]


async def describe_stream(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    shards = _after(stream, body.get("ExclusiveStartShardId"))
    limit = min(body.get("Limit") or _PAGE, _PAGE)
    description = _summary(stream)
    description["Shards"] = [_shard(s) for s in shards[:limit]]
    description["HasMoreShards"] = len(shards) > limit
    return {"StreamDescription": description}


async def describe_stream_summary(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    summary = _summary(stream)
    summary["OpenShardCount"] = len(stream.shards)
    summary["ConsumerCount"] = 0
    summary["MaxRecordSizeInKiB"] = stream.max_record_kib
    return {"StreamDescriptionSummary": summary}


async def list_streams(ctx: Context, body: Body) -> Body:
    names = ctx.service.catalog.names()
    after = body.get("ExclusiveStartStreamName")
    token = body.get("NextToken")
    if token is not None:
        after = read_page_token(token).get("after")
    if after is not None:
        names = [n for n in names if n > after]
    limit = min(body.get("Limit") or _PAGE, _PAGE)
    shown = names[:limit]
    streams = [ctx.service.catalog.by_name[n] for n in shown]
    out: Body = {
        "StreamNames": shown,
        "HasMoreStreams": len(names) > limit,
        "StreamSummaries": [
            {
                "StreamName": s.name,
                "StreamARN": s.arn,
                "StreamStatus": "ACTIVE",
                "StreamModeDetails": {"StreamMode": s.mode},
                "StreamCreationTimestamp": s.created_s,
            }
            for s in streams
        ],
    }
    if len(names) > limit:
        out["NextToken"] = page_token({"after": shown[-1]})
    return out


async def list_shards(ctx: Context, body: Body) -> Body:
    token = body.get("NextToken")
    named = body.get("StreamName") is not None or body.get("StreamARN") is not None
    if token is not None and named:
        raise InvalidArgumentException("NextToken and StreamName cannot be provided together.")
    if token is None and not named:
        raise InvalidArgumentException("Either NextToken or StreamName should be provided.")
    after: str | None = body.get("ExclusiveStartShardId")
    shard_filter = body.get("ShardFilter") or {}
    if shard_filter.get("Type") == "AFTER_SHARD_ID":
        after = shard_filter.get("ShardId") or after
    if token is not None:
        stream, after = _from_token(ctx, token)
    else:
        stream = ctx.stream(body)
    shards = _after(stream, after)
    limit = body.get("MaxResults") or _SHARD_PAGE
    out: Body = {"Shards": [_shard(s) for s in shards[:limit]]}
    if len(shards) > limit:
        now_ms = int(ctx.service.clock() * 1000)
        last = shards[limit - 1].shard_id
        out["NextToken"] = page_token(
            {"stream": stream.name, "epoch": stream.epoch_ms, "after": last, "at": now_ms}
        )
    return out


def _from_token(ctx: Context, token: str) -> tuple[Stream, str]:
    values = read_page_token(token)
    name, epoch, after, issued = (values.get(k) for k in ("stream", "epoch", "after", "at"))
    if not (isinstance(name, str) and isinstance(after, str) and isinstance(issued, int)):
        raise InvalidArgumentException(f"Invalid NextToken: {token}")
    if int(ctx.service.clock() * 1000) - issued > _TOKEN_LIFETIME_MS:
        raise ExpiredNextTokenException(f"The NextToken {token} has expired.")
    stream = ctx.service.catalog.by_name.get(name)
    if stream is None or stream.epoch_ms != epoch:
        raise ResourceNotFoundException(f"Stream {name} under account {ACCOUNT_ID} not found.")
    return stream, after


async def increase_retention(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    await ctx.service.catalog.set_retention(stream, body["RetentionPeriodHours"], increase=True)
    return {}


async def decrease_retention(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    await ctx.service.catalog.set_retention(stream, body["RetentionPeriodHours"], increase=False)
    return {}


async def add_tags(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.tag(ctx.stream(body), body["Tags"])
    return {}


async def remove_tags(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.untag(ctx.stream(body), body["TagKeys"])
    return {}


async def list_tags(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    keys = sorted(stream.tags)
    start = body.get("ExclusiveStartTagKey")
    if start is not None:
        keys = [k for k in keys if k > start]
    limit = body.get("Limit") or _TAG_PAGE
    return {
        "Tags": [{"Key": k, "Value": stream.tags[k]} for k in keys[:limit]],
        "HasMoreTags": len(keys) > limit,
    }


STREAM_HANDLERS: Final[dict[str, Handler]] = {
    "CreateStream": create_stream,
    "DeleteStream": delete_stream,
    "DescribeStream": describe_stream,
    "DescribeStreamSummary": describe_stream_summary,
    "ListStreams": list_streams,
    "ListShards": list_shards,
    "IncreaseStreamRetentionPeriod": increase_retention,
    "DecreaseStreamRetentionPeriod": decrease_retention,
    "AddTagsToStream": add_tags,
    "RemoveTagsFromStream": remove_tags,
    "ListTagsForStream": list_tags,
}
