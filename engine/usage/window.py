"""The time window of a cost report, from `?since=` and `?until=` (pure).

Each is a duration before now (`90s`, `30m`, `24h`, `7d`, `2w`) or an ISO 8601 time (`2026-05-01`,
`2026-05-01T12:00`, `2026-05-01T12:00:00Z`, `…+02:00`; without a zone: UTC). By default the
window is the current calendar month (UTC) up to now. The ledger counts by minute: a minute
is in the window when it starts at or after `since` rounded down to its minute, and before
`until`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from engine.errors import InvalidParameterValueException, ValidationException

_DURATION: Final = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_TEXT: Final = 64
LAST_S: Final = 253402300799  # 9999-12-31T23:59:59Z: times are clamped to [0, LAST_S]


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    since_s: int  # unix seconds, a minute's start
    until_s: float  # unix seconds (exclusive)

    @property
    def since(self) -> datetime:
        return datetime.fromtimestamp(self.since_s, UTC)

    @property
    def until(self) -> datetime:
        return datetime.fromtimestamp(self.until_s, UTC)


def _invalid(text: str, member: str) -> ValidationException:
    shown = text[:MAX_TEXT]
    return ValidationException(
        f"1 validation error detected: Value '{shown}' at '{member}' failed to satisfy "
        "constraint: Member must be a duration before now (e.g. 30m, 24h, 7d) or an ISO 8601 "
        "time"
    )


def parse_time(text: str, *, now_s: float, member: str) -> float:
    """`text` as unix seconds."""
    text = text.strip()
    match = _DURATION.fullmatch(text)
    if match is not None:
        return now_s - float(match[1]) * _UNIT_S[match[2]]
    if len(text) > MAX_TEXT:
        raise _invalid(text, member)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise _invalid(text, member) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def month_start(at_s: float) -> int:
    """The start (unix seconds) of the calendar month (UTC) `at_s` is in."""
    at = datetime.fromtimestamp(at_s, UTC)
    return int(datetime(at.year, at.month, 1, tzinfo=UTC).timestamp())


def next_month(start_s: int) -> int:
    at = datetime.fromtimestamp(start_s, UTC)
    year, month = (at.year + 1, 1) if at.month == 12 else (at.year, at.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


def window(since: str | None, until: str | None, *, now_s: float) -> Window:
    """The report's window, or AWS's ValidationException / InvalidParameterValueException."""
    start = month_start(now_s) if since is None else parse_time(since, now_s=now_s, member="since")
    end = now_s if until is None else parse_time(until, now_s=now_s, member="until")
    start, end = min(max(start, 0.0), LAST_S), min(max(end, 0.0), LAST_S)
    if start >= end:
        raise InvalidParameterValueException(
            "The parameter since must be less than the parameter until."
        )
    return Window(since_s=int(start // 60 * 60), until_s=end)
