"""AWS's timestamp texts (LastModified, CreatedDate, function URL times)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_last_modified(now: datetime) -> str:
    """AWS's LastModified: `2024-01-31T12:34:56.789+0000`, always in UTC."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    utc = now.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}+0000"


def parse_last_modified(text: str) -> datetime:
    """`format_last_modified`'s text read back (a timezone-aware datetime)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
