"""The queue operations: translation between SQS's JSON and the catalog, nothing more."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from engine.model.arns import ACCOUNT_ID
from engine.sqs.context import Body, Context, Handler
from engine.sqs.errors import QueueDoesNotExist, invalid_value
from engine.sqs.requests import optional_int

_MAX_LIST: Final = 1000


async def create_queue(ctx: Context, body: Body) -> Body:
    queue = await ctx.service.catalog.create(
        body["QueueName"], body.get("Attributes") or {}, body.get("tags") or {}
    )
    return {"QueueUrl": ctx.url(queue.name)}


async def get_queue_url(ctx: Context, body: Body) -> Body:
    owner = body.get("QueueOwnerAWSAccountId")
    if owner is not None and owner != ACCOUNT_ID:
        raise QueueDoesNotExist()
    queue = ctx.service.catalog.get(body["QueueName"])
    return {"QueueUrl": ctx.url(queue.name)}


async def list_queues(ctx: Context, body: Body) -> Body:
    names = ctx.service.catalog.names(body.get("QueueNamePrefix") or "")
    return _page(ctx, body, names, "QueueUrls")


async def list_dead_letter_source_queues(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    names = ctx.service.catalog.dead_letter_sources(queue.arn)
    return {"queueUrls": [], **_page(ctx, body, names, "queueUrls")}


def _page(ctx: Context, body: Body, names: list[str], key: str) -> Body:
    limit = optional_int(body, "MaxResults", 1, _MAX_LIST, "Value must be between 1 and 1000.")
    token = body.get("NextToken")
    if token:
        try:
            after = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeError, ValueError):
            raise invalid_value("NextToken", token, "Invalid NextToken value.") from None
        names = [n for n in names if n > after]
    out: Body = {}
    shown = names[: limit or _MAX_LIST]
    if shown:
        out[key] = [ctx.url(n) for n in shown]
    if limit is not None and len(names) > limit:
        out["NextToken"] = base64.urlsafe_b64encode(shown[-1].encode()).decode()
    return out


async def delete_queue(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.delete(ctx.queue(body))
    return {}


async def purge_queue(ctx: Context, body: Body) -> Body:
    await ctx.service.purge(ctx.queue(body))
    return {}


async def get_queue_attributes(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    values = ctx.service.catalog.attributes(queue, body.get("AttributeNames") or [])
    return {"Attributes": values} if values else {}


async def set_queue_attributes(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.set_attributes(ctx.queue(body), body["Attributes"])
    return {}


async def tag_queue(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.tag(ctx.queue(body), body["Tags"])
    return {}


async def untag_queue(ctx: Context, body: Body) -> Body:
    await ctx.service.catalog.untag(ctx.queue(body), body["TagKeys"])
    return {}


async def list_queue_tags(ctx: Context, body: Body) -> Body:
    tags = ctx.queue(body).tags
    return {"Tags": dict(tags)} if tags else {}


QUEUE_HANDLERS: Final[dict[str, Handler]] = {
    "CreateQueue": create_queue,
    "GetQueueUrl": get_queue_url,
    "ListQueues": list_queues,
    "ListDeadLetterSourceQueues": list_dead_letter_source_queues,
    "DeleteQueue": delete_queue,
    "PurgeQueue": purge_queue,
    "GetQueueAttributes": get_queue_attributes,
    "SetQueueAttributes": set_queue_attributes,
    "TagQueue": tag_queue,
    "UntagQueue": untag_queue,
    "ListQueueTags": list_queue_tags,
}
