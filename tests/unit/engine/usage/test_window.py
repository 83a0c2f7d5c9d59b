"""`since` / `until`: durations before now or ISO 8601 times, refused in AWS's words."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.errors import InvalidParameterValueException, ValidationException
from engine.usage.window import month_start, next_month, parse_time, window

NOW = datetime(2026, 3, 15, 12, 30, 45, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "ago_s"),
    [("90s", 90), ("30m", 1800), ("24h", 86400), ("7d", 7 * 86400), ("2w", 14 * 86400),
     ("1.5h", 5400), (" 10m ", 600)],
)  # fmt: skip
def test_durations_count_back_from_now(text: str, ago_s: float) -> None:
    assert parse_time(text, now_s=NOW, member="since") == NOW - ago_s


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T10:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),  # no zone: UTC
        ("2026-03-01T10:00:00Z", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T12:00:00+02:00", datetime(2026, 3, 1, 10, tzinfo=UTC)),
        ("2026-03-01T10:00:00.250Z", datetime(2026, 3, 1, 10, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_iso_times(text: str, expected: datetime) -> None:
    assert parse_time(text, now_s=NOW, member="since") == expected.timestamp()


@pytest.mark.parametrize("text", ["yesterday", "24", "5y", "-3h", "2026-13-01", "", "x" * 500])
def test_anything_else_is_a_validation_error(text: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_time(text, now_s=NOW, member="until")
    message = caught.value.message
    assert message.startswith(f"1 validation error detected: Value '{text.strip()[:64]}' at ")
    assert "'until' failed to satisfy constraint: Member must be a duration" in message


def test_the_default_window_is_this_month_until_now() -> None:
    span = window(None, None, now_s=NOW)
    assert span.since == datetime(2026, 3, 1, tzinfo=UTC)
    assert span.until_s == NOW


def test_since_is_rounded_down_to_its_minute() -> None:
    span = window("2026-03-15T12:00:30Z", None, now_s=NOW)
    assert span.since == datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
    assert window("30m", None, now_s=NOW).since == datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def test_since_must_come_before_until() -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        window("1h", "2h", now_s=NOW)
    assert caught.value.message == "The parameter since must be less than the parameter until."


def test_absurd_durations_are_clamped_not_crashed() -> None:
    span = window("99999999999d", None, now_s=NOW)
    assert span.since_s == 0


def test_months() -> None:
    assert month_start(NOW) == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    dec = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp())
    assert next_month(dec) == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
