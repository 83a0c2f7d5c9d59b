"""The log stream operations: translation between CloudWatch Logs' JSON and the store."""

from __future__ import annotations

from typing import Any, Final

from engine.cwlogs.context import Body, Context, Handler
from engine.cwlogs.errors import InvalidParameterException, ResourceAlreadyExistsException
from engine.cwlogs.requests import page_token, read_page_token
from engine.runtime.log_file import StreamFile
from engine.runtime.log_store import StreamExists

_PAGE: Final = 50  # DescribeLogStreams' most (and default) streams per page


async def describe_log_streams(ctx: Context, body: Body) -> Body:
    group = ctx.group(body)
    prefix: str | None = body.get("logStreamNamePrefix")
    by_time = body.get("orderBy") == "LastEventTime"
    if by_time and prefix is not None:
        raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
    streams = [s for s in group.streams.values() if prefix is None or s.name.startswith(prefix)]
    descending = bool(body.get("descending"))

    def key(stream: StreamFile) -> tuple[Any, ...]:
        return (stream.last_or_created_ms, stream.name) if by_time else (stream.name,)

    streams.sort(key=key, reverse=descending)
    token = body.get("nextToken")
    if token is not None:
        after = read_page_token(token)
        if not isinstance(after, list) or len(after) != (2 if by_time else 1):
            raise InvalidParameterException("The specified nextToken is invalid.")
        mark = tuple(after)
        streams = [s for s in streams if (key(s) < mark if descending else key(s) > mark)]
    limit = body.get("limit") or _PAGE
    page = streams[:limit]
    arn = ctx.group_arn(group.name)
    out: Body = {"logStreams": [_stream(s, arn) for s in page]}
    if len(streams) > limit:
        out["nextToken"] = page_token(list(key(page[-1])))
    return out


def _stream(stream: StreamFile, group_arn: str) -> Body:
    out: Body = {"logStreamName": stream.name, "creationTime": stream.created_ms}
    if stream.first_ms is not None:
        out["firstEventTimestamp"] = stream.first_ms
        out["lastEventTimestamp"] = stream.last_ms
        out["lastIngestionTime"] = stream.last_ingestion_ms
    out["arn"] = f"{group_arn}:log-stream:{stream.name}"
    out["storedBytes"] = 0  # deprecated: AWS answers 0
    return out


async def create_log_stream(ctx: Context, body: Body) -> Body:
    group = ctx.group(body)
    try:
        ctx.store.create_stream(group, body["logStreamName"])
    except StreamExists:
        raise ResourceAlreadyExistsException("The specified log stream already exists.") from None
    return {}


async def delete_log_stream(ctx: Context, body: Body) -> Body:
    group = ctx.group(body)
    ctx.stream(group, body["logStreamName"])
    ctx.store.delete_stream(group, body["logStreamName"])
    return {}


STREAM_HANDLERS: Final[dict[str, Handler]] = {
    "DescribeLogStreams": describe_log_streams,
    "CreateLogStream": create_log_stream,
    "DeleteLogStream": delete_log_stream,
}
