"""The log group operations: translation between CloudWatch Logs' JSON and the store."""

from __future__ import annotations

from typing import Any, Final

from engine.config import LOG_RETENTION_DAYS
from engine.cwlogs.context import Body, Context, Handler
from engine.cwlogs.errors import InvalidParameterException, ResourceAlreadyExistsException
from engine.cwlogs.requests import page_token, read_page_token
from engine.runtime.log_store import GroupExists, LogGroup
from engine.shapes.validate import summary, violation

_PAGE: Final = 50  # DescribeLogGroups' most (and default) groups per page


async def describe_log_groups(ctx: Context, body: Body) -> Body:
    prefix: str | None = body.get("logGroupNamePrefix")
    pattern: str | None = body.get("logGroupNamePattern")
    if prefix is not None and pattern is not None:
        raise InvalidParameterException(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters."
        )
    wanted = {_identifier_name(i) for i in body.get("logGroupIdentifiers") or []}
    groups = sorted(ctx.store.groups.values(), key=lambda g: g.name)
    if body.get("logGroupClass") not in (None, "STANDARD"):
        groups = []  # every group here is of the standard class
    if prefix is not None:
        groups = [g for g in groups if g.name.startswith(prefix)]
    if pattern:
        groups = [g for g in groups if pattern in g.name]  # case-sensitive, as AWS's
    if wanted:
        groups = [g for g in groups if g.name in wanted]
    token = body.get("nextToken")
    if token is not None:
        after = read_page_token(token)
        if not isinstance(after, str):
            raise InvalidParameterException("The specified nextToken is invalid.")
        groups = [g for g in groups if g.name > after]
    limit = body.get("limit") or _PAGE
    page = groups[:limit]
    out: Body = {"logGroups": [_group(ctx, g, brief=pattern is not None) for g in page]}
    if len(groups) > limit:
        out["nextToken"] = page_token(page[-1].name)
    return out


def _identifier_name(identifier: str) -> str:
    return identifier.partition(":log-group:")[2].removesuffix(":*") or identifier


def _group(ctx: Context, group: LogGroup, *, brief: bool) -> Body:
    arn = ctx.group_arn(group.name)
    if brief:  # with a name pattern AWS answers only these three
        return {"logGroupName": group.name, "creationTime": group.created_ms, "arn": arn + ":*"}
    out: dict[str, Any] = {"logGroupName": group.name, "creationTime": group.created_ms}
    retention = ctx.store.retention_of(group)
    if retention is not None:
        out["retentionInDays"] = retention
    out.update(
        metricFilterCount=0,
        arn=arn + ":*",
        storedBytes=group.stored_bytes,
        logGroupClass="STANDARD",
        logGroupArn=arn,
        deletionProtectionEnabled=False,
    )
    return out


async def create_log_group(ctx: Context, body: Body) -> Body:
    try:
        ctx.store.create_group(body["logGroupName"])
    except GroupExists:
        raise ResourceAlreadyExistsException("The specified log group already exists.") from None
    return {}


async def delete_log_group(ctx: Context, body: Body) -> Body:
    ctx.store.delete_group(ctx.group(body).name)
    return {}


async def put_retention_policy(ctx: Context, body: Body) -> Body:
    days = body["retentionInDays"]
    if days not in LOG_RETENTION_DAYS:
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        constraint = f"Member must satisfy enum value set: [{allowed}]"
        raise InvalidParameterException(summary([violation("retentionInDays", days, constraint)]))
    ctx.store.put_retention(ctx.group(body).name, days)
    return {}


async def delete_retention_policy(ctx: Context, body: Body) -> Body:
    ctx.store.put_retention(ctx.group(body).name, None)
    return {}


GROUP_HANDLERS: Final[dict[str, Handler]] = {
    "DescribeLogGroups": describe_log_groups,
    "CreateLogGroup": create_log_group,
    "DeleteLogGroup": delete_log_group,
    "PutRetentionPolicy": put_retention_policy,
    "DeleteRetentionPolicy": delete_retention_policy,
}
