"""AWS's documented schedule expressions and their next ticks, as a table; the malformed
ones refused in AWS's words (recorded: LocalStack's AWS snapshots of CreateSchedule)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from engine.errors import ValidationException
from engine.scheduler.expressions import next_tick, parse_expression, parse_timezone


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def iso(tick: int | None) -> str | None:
    return None if tick is None else dt.datetime.fromtimestamp(tick, dt.UTC).isoformat()


def following(expression: str, after: str, zone: str = "UTC", anchor: str = "") -> str | None:
    tick = next_tick(
        parse_expression(expression),
        zoneinfo.ZoneInfo(zone),
        after_s=ts(after),
        anchor_s=int(ts(anchor)) if anchor else 0,
    )
    return iso(tick)


# (expression, zone, after, the next tick in UTC). Weekdays: 2024-01-01 is a Monday.
TABLE = [
    # EventBridge's documented examples (eb-cron-expressions.html)
    ("cron(15 10 * * ? *)", "UTC", "2024-01-01T09:00:00+00:00", "2024-01-01T10:15:00+00:00"),
    ("cron(15 10 * * ? *)", "UTC", "2024-01-01T10:15:00+00:00", "2024-01-02T10:15:00+00:00"),
    ("cron(0 18 ? * MON-FRI *)", "UTC", "2024-01-05T18:00:00+00:00", "2024-01-08T18:00:00+00:00"),
    ("cron(0 8 1 * ? *)", "UTC", "2024-01-01T08:00:00+00:00", "2024-02-01T08:00:00+00:00"),
    ("cron(0/10 * ? * MON-FRI *)", "UTC", "2024-01-05T23:55:00+00:00", "2024-01-08T00:00:00+00:00"),
    (
        "cron(0/5 8-17 ? * MON-FRI *)",
        "UTC",
        "2024-01-05T17:55:00+00:00",
        "2024-01-08T08:00:00+00:00",
    ),
    (
        "cron(0/5 8-17 ? * MON-FRI *)",
        "UTC",
        "2024-01-08T08:00:00+00:00",
        "2024-01-08T08:05:00+00:00",
    ),
    ("cron(0 9 ? * 2#1 *)", "UTC", "2024-01-01T09:00:00+00:00", "2024-02-05T09:00:00+00:00"),
    # L, W, LW, nL, #
    ("cron(0 0 L * ? *)", "UTC", "2024-02-01T00:00:00+00:00", "2024-02-29T00:00:00+00:00"),
    ("cron(0 0 L * ? *)", "UTC", "2023-02-01T00:00:00+00:00", "2023-02-28T00:00:00+00:00"),
    ("cron(0 0 LW * ? *)", "UTC", "2024-03-01T00:00:00+00:00", "2024-03-29T00:00:00+00:00"),
    ("cron(0 0 LW * ? *)", "UTC", "2024-08-01T00:00:00+00:00", "2024-08-30T00:00:00+00:00"),
    ("cron(0 0 15W * ? *)", "UTC", "2024-06-01T00:00:00+00:00", "2024-06-14T00:00:00+00:00"),
    ("cron(0 0 1W * ? *)", "UTC", "2024-05-31T00:00:00+00:00", "2024-06-03T00:00:00+00:00"),
    ("cron(0 0 1W * ? *)", "UTC", "2024-08-31T00:00:00+00:00", "2024-09-02T00:00:00+00:00"),
    ("cron(0 0 30W * ? *)", "UTC", "2024-06-01T00:00:00+00:00", "2024-06-28T00:00:00+00:00"),
    ("cron(0 0 ? * 6L *)", "UTC", "2024-01-01T00:00:00+00:00", "2024-01-26T00:00:00+00:00"),
    ("cron(0 12 ? * L *)", "UTC", "2024-01-01T00:00:00+00:00", "2024-01-06T12:00:00+00:00"),
    ("cron(0 0 ? * 3#2 *)", "UTC", "2024-01-01T00:00:00+00:00", "2024-01-09T00:00:00+00:00"),
    ("cron(0 0 ? * 2#5 *)", "UTC", "2024-01-29T00:00:00+00:00", "2024-04-29T00:00:00+00:00"),
    # names, ranges that wrap, years, short months
    ("cron(0 0 1 JAN,JUL ? *)", "UTC", "2024-01-01T00:00:00+00:00", "2024-07-01T00:00:00+00:00"),
    ("cron(0 0 ? * FRI-MON *)", "UTC", "2024-01-08T00:00:00+00:00", "2024-01-12T00:00:00+00:00"),
    ("cron(0 0 1 1 ? 2030)", "UTC", "2024-05-05T00:00:00+00:00", "2030-01-01T00:00:00+00:00"),
    ("cron(0 0 1 1 ? 2030)", "UTC", "2030-01-01T00:00:00+00:00", None),
    ("cron(0 0 30 * ? *)", "UTC", "2024-01-30T00:00:00+00:00", "2024-03-30T00:00:00+00:00"),
    (
        "cron(1-31/30 1-1 ? * 1,7 *)",
        "UTC",
        "2024-01-06T01:01:00+00:00",
        "2024-01-06T01:31:00+00:00",
    ),
    # time zones: 09:00 in Paris is 08:00Z in winter, 07:00Z in summer
    ("cron(0 9 * * ? *)", "Europe/Paris", "2024-01-10T00:00:00+00:00", "2024-01-10T08:00:00+00:00"),
    ("cron(0 9 * * ? *)", "Europe/Paris", "2024-07-10T00:00:00+00:00", "2024-07-10T07:00:00+00:00"),
    # DST forward (New York, 2024-03-10 02:00 → 03:00): a skipped wall time is skipped
    (
        "cron(30 2 * * ? *)",
        "America/New_York",
        "2024-03-09T07:30:00+00:00",
        "2024-03-11T06:30:00+00:00",
    ),
    (
        "cron(0 * * * ? *)",
        "America/New_York",
        "2024-03-10T06:00:00+00:00",
        "2024-03-10T07:00:00+00:00",
    ),
    # DST back (2024-11-03 02:00 → 01:00): a repeated wall time runs once, the first time
    (
        "cron(30 1 * * ? *)",
        "America/New_York",
        "2024-11-02T05:30:00+00:00",
        "2024-11-03T05:30:00+00:00",
    ),
    (
        "cron(30 1 * * ? *)",
        "America/New_York",
        "2024-11-03T05:30:00+00:00",
        "2024-11-04T06:30:00+00:00",
    ),
    (
        "cron(0 * * * ? *)",
        "America/New_York",
        "2024-11-03T05:00:00+00:00",
        "2024-11-03T07:00:00+00:00",
    ),
    # one-time, in its zone
    (
        "at(2024-06-01T12:00:00)",
        "Asia/Tokyo",
        "2024-05-01T00:00:00+00:00",
        "2024-06-01T03:00:00+00:00",
    ),
    ("at(2024-06-01T12:00:00)", "Asia/Tokyo", "2024-06-01T03:00:00+00:00", None),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), TABLE)
def test_next_tick(expression: str, zone: str, after: str, expected: str | None) -> None:
    assert following(expression, after, zone) == expected


ANCHOR = "2024-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("rate(5 minutes)", "2023-12-31T23:59:59+00:00", "2024-01-01T00:00:00+00:00"),
        ("rate(5 minutes)", "2024-01-01T00:00:00+00:00", "2024-01-01T00:05:00+00:00"),
        ("rate(5 minutes)", "2024-01-01T00:07:00+00:00", "2024-01-01T00:10:00+00:00"),
        ("rate(1 minute)", "2024-01-01T00:00:30+00:00", "2024-01-01T00:01:00+00:00"),
        ("rate(1 hour)", "2024-01-01T00:00:00+00:00", "2024-01-01T01:00:00+00:00"),
        ("rate(12 hours)", "2024-01-01T13:00:00+00:00", "2024-01-02T00:00:00+00:00"),
        ("rate(1 day)", "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00"),
        ("rate(7 days)", "2024-01-02T00:00:00+00:00", "2024-01-08T00:00:00+00:00"),
    ],
)
def test_rate_counts_from_its_anchor(expression: str, after: str, expected: str) -> None:
    assert following(expression, after, anchor=ANCHOR) == expected


def test_a_rate_day_is_24_hours_across_daylight_saving() -> None:
    # 12:00Z on 2024-03-09 is 07:00 EST; a day later it is 08:00 EDT: elapsed time, not wall
    anchor = "2024-03-09T12:00:00+00:00"
    after = "2024-03-09T12:00:00+00:00"
    assert following("rate(1 day)", after, "America/New_York", anchor) == (
        "2024-03-10T12:00:00+00:00"
    )


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0-15/1 8-8 ? * 2,3,4,5,6,7 *)",  # accepted by AWS (localstack/localstack#13572)
        "cron(30-30 13-13 ? * 2,4,6 *)",
        "cron(1-31/30 1-1 ? * 1,7 *)",
        "cron(0 10 ? * mon-fri *)",
        "cron(0 0 ? * SUN#1 *)",
        "rate(1 minute)",
        "rate(2 hours)",
        "rate(1 day)",
        "at(2030-02-28T23:59:59)",
    ],
)
def test_accepted(expression: str) -> None:
    parse_expression(expression)


@pytest.mark.parametrize(
    "expression",
    [
        # refused by AWS, recorded (LocalStack's test_scheduler.snapshot.json)
        "cron(0 1 * * * *)",
        "cron(7 20 * * NOT *)",
        "cron(INVALID)",
        "cron(0 dummy ? * MON-FRI *)",
        "cron(71 8 1 * ? *)",
        "cron()",
        "rate(10 seconds)",
        "rate(10 years)",
        "rate()",
        "rate(10)",
        "rate(10 minutess)",
        "rate(foo minutes)",
        "rate(-10 minutes)",
        "rate( 10 minutes )",
        " rate(10 minutes)",
        "at(2021-12-31T23:59:59Z)",
        "at(2021-12-31)",
        # AWS's documented rules
        "rate(1 minutes)",  # singular iff 1
        "rate(5 minute)",
        "rate(0 minutes)",  # a positive value
        "cron(0 0 ? * 3#1,6#3 *)",  # one # only
        "cron(0 0 1 * MON *)",  # one of the day fields is ?
        "cron(0 0 ? * ? *)",
        "cron(*/60 * * * ? *)",  # refused by EventBridge (aws/aws-sdk-js#4212)
        "cron(0 0 32 * ? *)",
        "cron(0 0 ? * 8 *)",
        "cron(0 0 1 13 ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 0 1 * ? 2200)",
        "cron(0 0 1 * ? * *)",
        "cron(0 0 L,15 * ? *)",
        "cron(0 0 ? * 2#6 *)",
        "at(2024-02-30T00:00:00)",
        "every 5 minutes",
    ],
)
def test_refused_in_aws_words(expression: str) -> None:
    with pytest.raises(ValidationException) as refused:
        parse_expression(expression)
    assert refused.value.message == f"Invalid Schedule Expression {expression}."


def test_time_zones() -> None:
    assert str(parse_timezone("America/Sao_Paulo")) == "America/Sao_Paulo"
    with pytest.raises(ValidationException):
        parse_timezone("Mars/Olympus_Mons")
    with pytest.raises(ValidationException):
        parse_timezone("../../etc/passwd")
