"""AWS's six-field cron grammar, parsed and evaluated in wall-clock time. Pure.

``cron(Minutes Hours Day-of-month Month Day-of-week Year)``, as EventBridge documents it
(eb-cron-expressions.html): ``, - * /`` everywhere; ``? L W`` in day-of-month; ``? L #`` in
day-of-week, where 1 is Sunday and names are SUN-SAT; months 1-12 or JAN-DEC; years 1970-2199.
One of the two day fields must be ``?``; day-of-week takes at most one ``#``. As in Quartz
(whose grammar AWS's is), ``L`` alone in day-of-week is Saturday, ``6L`` the month's last
Friday, ``3#2`` its second Tuesday, ``15W`` the weekday nearest the 15th within the month and
``LW`` the month's last weekday; a range may wrap (``FRI-MON``).

`CronSpec.next_after(wall)` is the first minute strictly after a naive wall-clock time that
the expression names; time zones and daylight saving are `engine.scheduler.expressions`'.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Final

MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2199
_MONTHS: Final = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAYS: Final = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)
}


class CronError(ValueError):
    """The expression breaks AWS's cron grammar (the caller words the answer)."""


@dataclass(frozen=True, slots=True)
class DayOfMonth:
    """Day-of-month: a set of days, ``L`` (last), ``LW`` (last weekday), ``nW``, or any."""

    days: frozenset[int] = frozenset()
    last: bool = False
    last_weekday: bool = False
    nearest_weekday: int = 0  # n of nW
    any: bool = False  # "?"


@dataclass(frozen=True, slots=True)
class DayOfWeek:
    """Day-of-week (1 = Sunday): a set of days, ``dL`` (last d of the month), ``d#n``, or any."""

    days: frozenset[int] = frozenset()
    last_of_month: int = 0  # d of dL
    nth: tuple[int, int] = (0, 0)  # (d, n) of d#n
    any: bool = False  # "?"


@dataclass(frozen=True, slots=True)
class CronSpec:
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    day_of_month: DayOfMonth
    months: tuple[int, ...]
    day_of_week: DayOfWeek
    years: tuple[int, ...]

    def days_in(self, year: int, month: int) -> list[int]:
        """The days of `month` the two day fields name, in order."""
        length = calendar.monthrange(year, month)[1]
        if self.day_of_week.any:
            return _month_days(self.day_of_month, year, month, length)
        return _week_days(self.day_of_week, year, month, length)

    def next_after(self, wall: dt.datetime) -> dt.datetime | None:
        """The first wall-clock minute after `wall` (naive) this expression names; None when
        there is none before the end of 2199."""
        start = wall.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        for year in self.years:
            if year < start.year:
                continue
            same_year = year == start.year
            for month in self.months:
                if same_year and month < start.month:
                    continue
                same_month = same_year and month == start.month
                for day in self.days_in(year, month):
                    if same_month and day < start.day:
                        continue
                    same_day = same_month and day == start.day
                    for hour in self.hours:
                        if same_day and hour < start.hour:
                            continue
                        same_hour = same_day and hour == start.hour
                        for minute in self.minutes:
                            if same_hour and minute < start.minute:
                                continue
                            return dt.datetime(year, month, day, hour, minute)
        return None


def parse_cron(inner: str) -> CronSpec:
    """The six fields between ``cron(`` and ``)``; `CronError` if they break the grammar."""
    fields = inner.split(" ")
    if len(fields) != 6 or any(not f for f in fields):
        raise CronError("a cron expression has six fields separated by single spaces")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise CronError("exactly one of day-of-month and day-of-week must be ?")
    return CronSpec(
        minutes=_field(minute, 0, 59, {}),
        hours=_field(hour, 0, 23, {}),
        day_of_month=_day_of_month(dom),
        months=_field(month, 1, 12, _MONTHS),
        day_of_week=_day_of_week(dow),
        years=_field(year, MIN_YEAR, MAX_YEAR, {}),
    )


def _number(text: str, low: int, high: int, names: dict[str, int]) -> int:
    value = names.get(text.upper()) if names else None
    if value is None:
        if not text.isdigit():
            raise CronError(f"not a number: {text!r}")
        value = int(text)
    if not low <= value <= high:
        raise CronError(f"{value} is outside {low}-{high}")
    return value


def _field(text: str, low: int, high: int, names: dict[str, int]) -> tuple[int, ...]:
    """A list of ``*``, ``n``, ``a-b``, each optionally ``/step``: the values, sorted."""
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or not 0 < int(step_text) <= high - low:
                raise CronError(f"bad increment in {item!r}")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = _number(a, low, high, names), _number(b, low, high, names)
        else:
            first = _number(base, low, high, names)
            last = high if slash else first
        span = (last - first) % (high - low + 1)  # a range may wrap: FRI-MON
        values.update(low + (first - low + i) % (high - low + 1) for i in range(0, span + 1, step))
    return tuple(sorted(values))


def _day_of_month(text: str) -> DayOfMonth:
    if text == "?":
        return DayOfMonth(any=True)
    if text == "L":
        return DayOfMonth(last=True)
    if text == "LW":
        return DayOfMonth(last_weekday=True)
    if text.endswith("W"):
        return DayOfMonth(nearest_weekday=_number(text[:-1], 1, 31, {}))
    return DayOfMonth(days=frozenset(_field(text, 1, 31, {})))


def _day_of_week(text: str) -> DayOfWeek:
    if text == "?":
        return DayOfWeek(any=True)
    if text == "L":
        return DayOfWeek(days=frozenset({7}))  # the last day of the week: Saturday
    if "#" in text:
        day, _, nth = text.partition("#")  # a list with a "#" fails in _number: one "#" only
        return DayOfWeek(nth=(_number(day, 1, 7, _DAYS), _number(nth, 1, 5, {})))
    if text.endswith("L"):
        return DayOfWeek(last_of_month=_number(text[:-1], 1, 7, _DAYS))
    return DayOfWeek(days=frozenset(_field(text, 1, 7, _DAYS)))


def aws_weekday(date: dt.date) -> int:
    """AWS's day-of-week number: 1 = Sunday … 7 = Saturday."""
    return (date.weekday() + 1) % 7 + 1


def _month_days(spec: DayOfMonth, year: int, month: int, length: int) -> list[int]:
    if spec.any:
        return list(range(1, length + 1))
    if spec.last:
        return [length]
    if spec.last_weekday:
        return [_nearest_weekday(year, month, length, length)]
    if spec.nearest_weekday:
        if spec.nearest_weekday > length:
            return []
        return [_nearest_weekday(year, month, spec.nearest_weekday, length)]
    return sorted(d for d in spec.days if d <= length)


def _nearest_weekday(year: int, month: int, day: int, length: int) -> int:
    """The weekday nearest `day` without leaving the month (Quartz's ``W``)."""
    weekday = aws_weekday(dt.date(year, month, day))
    if weekday == 7:  # Saturday: the Friday before, or Monday when the 1st is a Saturday
        return day - 1 if day > 1 else day + 2
    if weekday == 1:  # Sunday: the Monday after, or Friday when it is the month's last day
        return day + 1 if day < length else day - 2
    return day


def _week_days(spec: DayOfWeek, year: int, month: int, length: int) -> list[int]:
    first = aws_weekday(dt.date(year, month, 1))

    def weekday_of(day: int) -> int:
        return (first - 1 + day - 1) % 7 + 1

    if spec.last_of_month:
        last = max(d for d in range(length - 6, length + 1) if weekday_of(d) == spec.last_of_month)
        return [last]
    if spec.nth != (0, 0):
        weekday, nth = spec.nth
        day = 1 + (weekday - first) % 7 + 7 * (nth - 1)
        return [day] if day <= length else []
    return [d for d in range(1, length + 1) if weekday_of(d) in spec.days]
