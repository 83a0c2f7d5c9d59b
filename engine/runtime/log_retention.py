"""Which log streams a group lets go, by age and by size. Pure.

A stream expires once its latest event (or, empty, its creation) is older than the group's
retention; then, while the group holds more than its size bound, the streams whose latest
event is oldest go first. A stream an environment still writes to is never removed (its
events older than the retention are hidden from readers instead, `horizon_ms`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

DAY_MS: Final = 86_400_000


@dataclass(frozen=True, slots=True)
class StreamAge:
    name: str
    last_ms: int  # the latest event's timestamp, or the creation time of an empty stream
    stored_bytes: int
    live: bool  # an environment writes to it


def horizon_ms(now_ms: int, retention_days: int | None) -> int | None:
    """Events before this have expired (None: they never do)."""
    return None if retention_days is None else now_ms - retention_days * DAY_MS


def streams_to_remove(
    streams: Iterable[StreamAge],
    *,
    now_ms: int,
    retention_days: int | None,
    max_bytes: int | None,
) -> list[str]:
    """The names of the streams to remove, expired ones first, then the oldest over size."""
    horizon = horizon_ms(now_ms, retention_days)
    doomed: list[str] = []
    kept: list[StreamAge] = []
    for stream in streams:
        if not stream.live and horizon is not None and stream.last_ms < horizon:
            doomed.append(stream.name)
        else:
            kept.append(stream)
    if max_bytes is None:
        return doomed
    total = sum(s.stored_bytes for s in kept)
    for stream in sorted(kept, key=lambda s: (s.last_ms, s.name)):
        if total <= max_bytes:
            break
        if not stream.live:
            doomed.append(stream.name)
            total -= stream.stored_bytes
    return doomed
