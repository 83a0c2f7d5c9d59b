"""Schedule expressions — ``rate()``, ``cron()``, ``at()`` — and their ticks in UTC. Pure.

A tick is a whole second of epoch time. How each kind ticks, as EventBridge Scheduler documents
it (schedule-types.html):

- ``rate(value unit)``: every `value` minutes, hours or days of elapsed time (a day is 24 h
  whatever daylight saving does), from the schedule's start (its StartDate, else the moment it
  was created: "your schedule starts invoking the target immediately").
- ``cron(…)``: the minutes the expression names, in the schedule's time zone. A wall-clock
  time that daylight saving skips is skipped; one it repeats runs once (its first occurrence).
- ``at(yyyy-mm-ddThh:mm:ss)``: once, at that wall-clock time in the schedule's time zone.

A malformed expression is refused in AWS's words (recorded against AWS in LocalStack's
snapshots): ``Invalid Schedule Expression <expression>.``
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Final

from engine.errors import ValidationException
from engine.scheduler.cron import CronError, CronSpec, parse_cron

_RATE: Final = re.compile(r"rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)")
_AT: Final = re.compile(r"at\(([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\)")
_UNIT_S: Final = {"minute": 60, "hour": 3_600, "day": 86_400}
# How far apart the searches for a cron tick may land before giving up: daylight-saving gaps
# and folds only skip wall-clock minutes, a few hundred at most.
_MAX_SKIPS: Final = 10_000
UTC: Final = dt.UTC


@dataclass(frozen=True, slots=True)
class Rate:
    period_s: int


@dataclass(frozen=True, slots=True)
class Cron:
    spec: CronSpec


@dataclass(frozen=True, slots=True)
class At:
    wall: dt.datetime  # naive, in the schedule's time zone


Expression = Rate | Cron | At


def invalid_expression(text: str) -> ValidationException:
    return ValidationException(f"Invalid Schedule Expression {text}.")


def parse_expression(text: str) -> Expression:
    """`text` read as a schedule expression; AWS's ValidationException if it is not one."""
    try:
        return _parse(text)
    except (CronError, ValueError):
        raise invalid_expression(text) from None


def _parse(text: str) -> Expression:
    if text.startswith("cron(") and text.endswith(")"):
        return Cron(parse_cron(text[5:-1]))
    rate = _RATE.fullmatch(text)
    if rate is not None:
        value, unit = int(rate.group(1)), rate.group(2)
        if value < 1 or (value == 1) != (not unit.endswith("s")):
            raise ValueError("the unit is singular for 1 and plural otherwise")
        return Rate(value * _UNIT_S[unit.removesuffix("s")])
    at = _AT.fullmatch(text)
    if at is not None:
        year, month, day, hour, minute, second = (int(part) for part in at.groups())
        return At(dt.datetime(year, month, day, hour, minute, second))  # ValueError: no date
    raise ValueError("not a schedule expression")


def parse_timezone(name: str) -> zoneinfo.ZoneInfo:
    """An IANA time zone by name. The text of AWS's refusal is not on record; this one follows
    the wording of the expression's."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationException(f"Invalid Schedule Expression Timezone {name}.") from None


def is_one_time(expression: Expression) -> bool:
    return isinstance(expression, At)


def at_tick(expression: At, zone: dt.tzinfo) -> int:
    """The one tick of an ``at()`` schedule (a skipped wall-clock time counts at the offset
    before the change, as Python reads it)."""
    return int(expression.wall.replace(tzinfo=zone).timestamp())


def next_tick(
    expression: Expression, zone: dt.tzinfo, *, after_s: float, anchor_s: int
) -> int | None:
    """The first tick strictly after `after_s` (epoch seconds); None when there is none.
    `anchor_s` is where a rate starts counting (its StartDate or creation)."""
    if isinstance(expression, Rate):
        if after_s < anchor_s:
            return anchor_s
        periods = int((after_s - anchor_s) // expression.period_s) + 1
        return anchor_s + periods * expression.period_s
    if isinstance(expression, At):
        tick = at_tick(expression, zone)
        return tick if tick > after_s else None
    return _next_cron(expression.spec, zone, after_s)


def _next_cron(spec: CronSpec, zone: dt.tzinfo, after_s: float) -> int | None:
    after = dt.datetime.fromtimestamp(after_s, UTC)
    wall = after.astimezone(zone).replace(tzinfo=None)
    for _ in range(_MAX_SKIPS):
        found = spec.next_after(wall)
        if found is None:
            return None
        wall = found
        local = found.replace(tzinfo=zone)  # fold=0: a repeated time's first occurrence
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != found:
            continue  # a time daylight saving skips: skipped
        tick = int(local.timestamp())
        if tick > after_s:
            return tick
        # Still inside the repeated hour after a fall-back, whose first pass already ran.
    return None
