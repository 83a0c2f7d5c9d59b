"""The log event operations: GetLogEvents, FilterLogEvents (reads, in a worker thread over
snapshots of the streams) and PutLogEvents."""

from __future__ import annotations

import functools
import itertools
from typing import Any, Final

import trio

from engine.cwlogs.context import Body, Context, Handler
from engine.cwlogs.errors import InvalidParameterException
from engine.cwlogs.filter_pattern import FilterPatternError, compile_filter_pattern
from engine.cwlogs.reading import Key, Window, filter_events, get_events, overlaps
from engine.cwlogs.requests import page_token, read_page_token
from engine.runtime.log_format import decode_token, encode_token, event_id

_EVENTS_LIMIT: Final = 10_000  # GetLogEvents' and FilterLogEvents' default (and most)
_DAY_MS: Final = 86_400_000
_TOO_OLD_MS: Final = 14 * _DAY_MS  # PutLogEvents refuses events older than 14 days
_TOO_NEW_MS: Final = 2 * 3_600_000  # or more than 2 hours ahead
_INVALID_TOKEN: Final = "The specified nextToken is invalid."


def _low(start: int | None, horizon: int | None) -> int | None:
    if horizon is None:
        return start
    return horizon if start is None else max(start, horizon)


async def get_log_events(ctx: Context, body: Body) -> Body:
    group = ctx.group(body)
    stream = ctx.stream(group, body["logStreamName"])
    horizon = ctx.store.horizon_of(group)
    window = Window(low=_low(body.get("startTime"), horizon), high=body.get("endTime"))
    snap = ctx.store.snapshots([stream])[0]
    token = body.get("nextToken")
    position: int | None = None
    if token is not None:
        decoded = decode_token(token)
        if decoded is None or decoded[1] != snap.uid or decoded[2] > snap.count:
            raise InvalidParameterException(_INVALID_TOKEN)
        direction, position = decoded[0], decoded[2]
    else:
        direction = "f" if body.get("startFromHead") else "b"
    read = functools.partial(
        get_events,
        snap,
        window,
        limit=body.get("limit") or _EVENTS_LIMIT,
        direction=direction,
        position=position,
    )
    page = await trio.to_thread.run_sync(read, limiter=ctx.readers)
    return {
        "events": [
            {"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion}
            for e in page.events
        ],
        "nextForwardToken": encode_token("f", snap.uid, page.forward),
        "nextBackwardToken": encode_token("b", snap.uid, page.backward),
    }


async def filter_log_events(ctx: Context, body: Body) -> Body:
    group = ctx.group(body)
    names: list[str] | None = body.get("logStreamNames")
    prefix: str | None = body.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise InvalidParameterException(
            "Cannot specify both logStreamNames and logStreamNamePrefix."
        )
    try:
        matches = compile_filter_pattern(body.get("filterPattern"))
    except FilterPatternError as exc:
        raise InvalidParameterException(str(exc)) from None
    after = _after(body.get("nextToken"))
    if names is not None:
        wanted = set(names)
        streams = [s for s in group.streams.values() if s.name in wanted]
    else:
        streams = [s for s in group.streams.values() if prefix is None or s.name.startswith(prefix)]
    window = Window(
        low=_low(body.get("startTime"), ctx.store.horizon_of(group)),
        high=body.get("endTime"),
        high_inclusive=True,
    )
    if after is not None and (window.low is None or after[0] > window.low):
        window = Window(low=after[0], high=window.high, high_inclusive=True)
    streams = [s for s in streams if overlaps(s, window)]  # the rest are neither flushed nor read
    read = functools.partial(
        filter_events,
        ctx.store.snapshots(streams),
        window,
        matches=matches,
        limit=body.get("limit") or _EVENTS_LIMIT,
        after=after,
    )
    found, more = await trio.to_thread.run_sync(read, limiter=ctx.readers)
    out: Body = {
        "events": [
            {
                "logStreamName": f.stream.name,
                "timestamp": f.event.timestamp,
                "message": f.event.message,
                "ingestionTime": f.event.ingestion,
                "eventId": event_id(f.stream.uid, f.event.index),
            }
            for f in found
        ],
        "searchedLogStreams": [],  # no longer filled by AWS either
    }
    if more is not None:
        out["nextToken"] = page_token(list(more))
    return out


def _after(token: str | None) -> Key | None:
    if token is None:
        return None
    value: Any = read_page_token(token)
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], int)
        or not isinstance(value[1], str)
        or not isinstance(value[2], int)
    ):
        raise InvalidParameterException(_INVALID_TOKEN)
    return (value[0], value[1], value[2])


async def put_log_events(ctx: Context, body: Body) -> Body:
    group = ctx.group(body)
    stream = ctx.stream(group, body["logStreamName"])
    events: list[dict[str, Any]] = body["logEvents"]
    stamps = [e["timestamp"] for e in events]
    if any(b < a for a, b in itertools.pairwise(stamps)):
        raise InvalidParameterException(
            "Log events in a single PutLogEvents request must be in chronological order."
        )
    if stamps[-1] - stamps[0] > _DAY_MS:
        raise InvalidParameterException(
            "The batch of log events in a single PutLogEvents request cannot span more than "
            "24 hours."
        )
    now = ctx.store.clock()
    horizon = ctx.store.horizon_of(group)
    old = now - _TOO_OLD_MS
    rejected: Body = {}
    too_old = [i for i, t in enumerate(stamps) if t < old]
    expired = [i for i, t in enumerate(stamps) if horizon is not None and t < horizon]
    too_new = [i for i, t in enumerate(stamps) if t > now + _TOO_NEW_MS]
    if too_old:
        rejected["tooOldLogEventEndIndex"] = too_old[-1]
    if expired:
        rejected["expiredLogEventEndIndex"] = expired[-1]
    if too_new:
        rejected["tooNewLogEventStartIndex"] = too_new[0]
    first = max((too_old[-1] + 1) if too_old else 0, (expired[-1] + 1) if expired else 0)
    last = too_new[0] if too_new else len(events)
    ctx.store.put_events(
        stream, ((e["timestamp"], e["message"].encode()) for e in events[first:last])
    )
    out: Body = {"nextSequenceToken": f"{stream.count:056d}"}
    if rejected:
        out["rejectedLogEventsInfo"] = rejected
    return out


EVENT_HANDLERS: Final[dict[str, Handler]] = {
    "GetLogEvents": get_log_events,
    "FilterLogEvents": filter_log_events,
    "PutLogEvents": put_log_events,
}
