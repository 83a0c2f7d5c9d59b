"""The record operations: PutRecord(s), GetShardIterator, GetRecords. Translation only."""

from __future__ import annotations

import base64
from typing import Final

from engine.errors import ValidationException
from engine.kinesis.context import Body, Context, Handler
from engine.kinesis.records import Entry, StreamRecord
from engine.kinesis.requests import entry, entry_checks, timestamp
from engine.shapes.model import load_service
from engine.shapes.validate import raise_if_any, summary

_DEFAULT_LIMIT: Final = 10_000


async def put_record(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    found = entry(stream, body, "")
    if not isinstance(found, Entry):
        raise ValidationException(summary(found))
    (placed,) = await ctx.service.put(stream, [found])
    return {"ShardId": placed.shard_id, "SequenceNumber": placed.sequence_number}


async def put_records(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    model = load_service("kinesis")
    entries: list[Entry] = []
    problems: list[str] = []
    for number, item in enumerate(body["Records"], start=1):
        where = f"records.{number}.member."
        problems.extend(entry_checks(model, item, where))
        found = entry(stream, item, where)
        if isinstance(found, Entry):
            entries.append(found)
        else:
            problems.extend(found)
    raise_if_any(problems)
    placed = await ctx.service.put(stream, entries)
    return {
        "FailedRecordCount": 0,
        "Records": [{"ShardId": p.shard_id, "SequenceNumber": p.sequence_number} for p in placed],
    }


async def get_shard_iterator(ctx: Context, body: Body) -> Body:
    stream = ctx.stream(body)
    given = body.get("Timestamp")
    token = ctx.service.iterator(
        stream,
        body["ShardId"],
        body["ShardIteratorType"],
        sequence_number=body.get("StartingSequenceNumber"),
        timestamp=timestamp(given) if given is not None else None,
    )
    return {"ShardIterator": token}


def _record(record: StreamRecord) -> Body:
    return {
        "SequenceNumber": record.sequence_number,
        "ApproximateArrivalTimestamp": round(record.arrival_s, 3),
        "Data": base64.b64encode(record.data).decode(),
        "PartitionKey": record.partition_key,
    }


async def get_records(ctx: Context, body: Body) -> Body:
    limit = body.get("Limit") or _DEFAULT_LIMIT
    records, following, behind = ctx.service.get_records(body["ShardIterator"], limit)
    return {
        "Records": [_record(r) for r in records],
        "NextShardIterator": following,
        "MillisBehindLatest": behind,
    }


RECORD_HANDLERS: Final[dict[str, Handler]] = {
    "PutRecord": put_record,
    "PutRecords": put_records,
    "GetShardIterator": get_shard_iterator,
    "GetRecords": get_records,
}
