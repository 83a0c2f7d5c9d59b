"""A schedule and a schedule group: read from a request past the model's checks, shown in
AWS's shapes, stored as documents. Pure.

The model (`engine.shapes`) has already checked types, lengths, patterns and enums; what is
left is what AWS checks itself: the expression and its time zone, the flexible window, the
dates, and — this host's own rule — that the target is a Lambda function of this host (the
only kind of target lambdalet can invoke). Defaults are AWS's recorded ones (LocalStack's
snapshots of GetSchedule): ``ScheduleExpressionTimezone`` "UTC", ``State`` "ENABLED",
``ActionAfterCompletion`` "NONE", ``Target.RetryPolicy`` {86400 s, 185 attempts}.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from zoneinfo import ZoneInfo

from engine.errors import ValidationException
from engine.model.arns import ACCOUNT_ID
from engine.scheduler.expressions import (
    At,
    Expression,
    next_tick,
    parse_expression,
    parse_timezone,
)

DEFAULT_GROUP: Final = "default"
DEFAULT_RETRY: Final = {"MaximumEventAgeInSeconds": 86_400, "MaximumRetryAttempts": 185}
_FUNCTION_ARN: Final = re.compile(
    r"arn:aws:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?"
)


def schedule_arn(region: str, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/{group}/{name}"


def group_arn(region: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule-group/{name}"


@dataclass(slots=True, kw_only=True)
class Group:
    name: str
    created_s: float
    modified_s: float
    tags: dict[str, str] = field(default_factory=dict)

    def summary(self, region: str) -> dict[str, Any]:
        return {
            "Arn": group_arn(region, self.name),
            "Name": self.name,
            "State": "ACTIVE",
            "CreationDate": self.created_s,
            "LastModificationDate": self.modified_s,
        }

    def document(self) -> dict[str, Any]:
        return {"created": self.created_s, "modified": self.modified_s, "tags": self.tags}

    @classmethod
    def from_document(cls, name: str, doc: Mapping[str, Any]) -> Group:
        return cls(
            name=name, created_s=doc["created"], modified_s=doc["modified"], tags=doc["tags"]
        )


@dataclass(slots=True, kw_only=True)
class Schedule:
    """One schedule: what the API set (`request`, AWS's members with defaults filled) and what
    the engine reads from it. `last_fired` is the last tick fired (durable)."""

    group: str
    name: str
    request: dict[str, Any]
    expression: Expression
    zone: ZoneInfo
    function: str
    qualifier: str | None
    created_s: float
    modified_s: float
    last_fired: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.request["State"] == "ENABLED")

    @property
    def one_time(self) -> bool:
        return isinstance(self.expression, At)

    @property
    def target(self) -> dict[str, Any]:
        target: dict[str, Any] = self.request["Target"]
        return target

    @property
    def window_s(self) -> int:
        """The flexible time window's length (0 when Mode is OFF)."""
        window = self.request["FlexibleTimeWindow"]
        return (
            int(window.get("MaximumWindowInMinutes", 0)) * 60 if window["Mode"] == "FLEXIBLE" else 0
        )

    def arn(self, region: str) -> str:
        return schedule_arn(region, self.group, self.name)

    def next_tick(self, *, after_s: float) -> int | None:
        """The first tick to fire strictly after `after_s`; None when there is none left.
        A one-time schedule's tick is due until it has fired, however long ago it passed
        (StartDate and EndDate do not apply to it, as AWS documents); a recurring one's
        lies within [StartDate, EndDate]."""
        if self.one_time:
            tick = next_tick(self.expression, self.zone, after_s=-math.inf, anchor_s=0)
            return tick if tick is not None and tick != self.last_fired else None
        start = self.request.get("StartDate")
        anchor = math.ceil(start) if start is not None else int(self.created_s)
        after = after_s if start is None else max(after_s, math.ceil(start) - 1)
        tick = next_tick(self.expression, self.zone, after_s=after, anchor_s=anchor)
        end = self.request.get("EndDate")
        if tick is None or (end is not None and tick > end):
            return None
        return tick

    def describe(self, region: str) -> dict[str, Any]:
        """GetSchedule's answer."""
        return {
            "Arn": self.arn(region),
            "GroupName": self.group,
            "Name": self.name,
            **self.request,
            "CreationDate": self.created_s,
            "LastModificationDate": self.modified_s,
        }

    def summary(self, region: str) -> dict[str, Any]:
        return {
            "Arn": self.arn(region),
            "Name": self.name,
            "GroupName": self.group,
            "State": self.request["State"],
            "CreationDate": self.created_s,
            "LastModificationDate": self.modified_s,
            "Target": {"Arn": self.target["Arn"]},
        }

    def document(self) -> dict[str, Any]:
        return {"request": self.request, "created": self.created_s, "modified": self.modified_s}


# Members of Create/UpdateSchedule's input kept on the schedule (Name, GroupName and
# ClientToken are not: the first two are its key, the last is idempotency).
_KEPT: Final = (
    "ScheduleExpression",
    "StartDate",
    "EndDate",
    "Description",
    "ScheduleExpressionTimezone",
    "State",
    "KmsKeyArn",
    "Target",
    "FlexibleTimeWindow",
    "ActionAfterCompletion",
)


def build_schedule(
    params: Mapping[str, Any],
    *,
    group: str,
    region: str,
    created_s: float,
    modified_s: float,
    last_fired: int | None = None,
) -> Schedule:
    """A schedule from Create/UpdateSchedule's members (or a stored request): AWS's checks
    past the model, defaults filled. Raises ValidationException."""
    request = {k: params[k] for k in _KEPT if params.get(k) is not None}
    request.setdefault("ScheduleExpressionTimezone", "UTC")
    request.setdefault("State", "ENABLED")
    request.setdefault("ActionAfterCompletion", "NONE")
    target = dict(request["Target"])
    target["RetryPolicy"] = {**DEFAULT_RETRY, **(target.get("RetryPolicy") or {})}
    request["Target"] = target
    expression = parse_expression(request["ScheduleExpression"])
    zone = parse_timezone(request["ScheduleExpressionTimezone"])
    _check_window(request["FlexibleTimeWindow"])
    start, end = request.get("StartDate"), request.get("EndDate")
    if start is not None and end is not None and end <= start:
        raise ValidationException("The StartDate must be before the EndDate.")  # text unverified
    function, qualifier = function_of(target["Arn"], region)
    return Schedule(
        group=group,
        name=str(params["Name"]),
        request=request,
        expression=expression,
        zone=zone,
        function=function,
        qualifier=qualifier,
        created_s=created_s,
        modified_s=modified_s,
        last_fired=last_fired,
    )


def _check_window(window: Mapping[str, Any]) -> None:
    """A FLEXIBLE window needs its length; an OFF one has none (texts not on record)."""
    has_length = window.get("MaximumWindowInMinutes") is not None
    if window["Mode"] == "FLEXIBLE" and not has_length:
        raise ValidationException(
            "MaximumWindowInMinutes must be provided when FlexibleTimeWindow Mode is FLEXIBLE."
        )
    if window["Mode"] == "OFF" and has_length:
        raise ValidationException(
            "MaximumWindowInMinutes must not be provided when FlexibleTimeWindow Mode is OFF."
        )


def function_of(arn: str, region: str) -> tuple[str, str | None]:
    """The function and qualifier a target ARN names; it must be a function of this host."""
    found = _FUNCTION_ARN.fullmatch(arn)
    if found is None or found["region"] != region or found["account"] != ACCOUNT_ID:
        raise ValidationException(
            f"Target Arn {arn} is not a Lambda function of this host: lambdalet's Scheduler "
            f"invokes functions only (arn:aws:lambda:{region}:{ACCOUNT_ID}:function:NAME"
            "[:QUALIFIER])."
        )
    return found["name"], found["qualifier"]
